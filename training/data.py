"""Exercise 3's data: the preprocessed anime pairs on disk -> (real_A, real_B) tensors for training.

    anime_processed/{train,val}/sketches/NAME.png   real_A, the condition (a line sketch)
    anime_processed/{train,val}/colors/NAME.png     real_B, the target (the coloured image)

written by preprocess_anime_sketches.py (exercise3_train.py reads them through this module). With no val/ split, a fixed 5% of train is held out (by
file name) and never trained on. Training pairs get the official jitter (§6.2): resize to 286,
random 256 crop, random horizontal flip, with ONE set of random values for both images of a pair.
"""

import zlib

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from helpers.cli import LessonError, shown
from helpers.images import open_image, to_rgb

LOAD_SCALE = 286 / 256  # §6.2: jitter = resize 256 -> 286, then random-crop back to 256
HOLDOUT_PERCENT = 5  # with no val/ split, hold out this share of train, chosen by file name
NO_DATA_HINT = ("run `python preprocess_anime_sketches.py` on the Kaggle pairs, or "
                "`python preprocess_anime_sketches.py --demo 200` for a synthetic set with no download")


def find_pairs(split_dir):
    """Sorted (sketch, colour) path pairs of one split; files without a partner are named and skipped."""
    sketches = {p.stem: p for p in (split_dir / "sketches").glob("*.png")}
    colors = {p.stem: p for p in (split_dir / "colors").glob("*.png")}
    for name in sorted(sketches.keys() ^ colors.keys()):
        lone, missing = (sketches[name], "colors") if name in sketches else (colors[name], "sketches")
        print(f"warning: skipping {shown(lone)}: no {shown(split_dir / missing / (name + '.png'))} to pair it with")
    return [(sketches[n], colors[n]) for n in sorted(sketches.keys() & colors.keys())]


def split_pairs(data_dir):
    """(train, val, where val came from). Without val/, a pair is held out when the CRC32 of its name
    falls in the first HOLDOUT_PERCENT of 100: fixed by name, so it never moves into train."""
    if not (data_dir / "train").is_dir():
        raise LessonError(f"no training data in {shown(data_dir / 'train')}; {NO_DATA_HINT}")
    train = find_pairs(data_dir / "train")
    if (data_dir / "val").is_dir():
        return train, find_pairs(data_dir / "val"), f"{data_dir / 'val'}"
    held = {i for i, (s, _) in enumerate(train) if zlib.crc32(s.stem.encode()) % 100 < HOLDOUT_PERCENT}
    if not held and len(train) > 1:  # a tiny set may have no such name: hold out the lowest (until it grows)
        held = {min(range(len(train)), key=lambda i: zlib.crc32(train[i][0].stem.encode()) % 100)}
    val = [p for i, p in enumerate(train) if i in held]
    return [p for i, p in enumerate(train) if i not in held], val, f"{HOLDOUT_PERCENT}% held out of train/"


class PairedSketchDataset(Dataset):
    """Pairs as two (3, S, S) tensors in [-1, 1]. An item is an index, or (index, jitter seed) from
    EpochSampler: then the pair gets the official jitter, with ONE set of random values for both."""

    def __init__(self, pairs, image_size):
        self.pairs, self.size = pairs, image_size

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, item):
        index, jitter_seed = item if isinstance(item, tuple) else (item, None)
        fix = "check the set with `python preprocess_anime_sketches.py --verify`"
        images = [TF.pil_to_tensor(to_rgb(open_image(path, "training image", fix))) for path in self.pairs[index]]
        if images[0].shape != images[1].shape:
            raise LessonError(f"{self.pairs[index][0]} and {self.pairs[index][1]} differ in size; re-run "
                              "`python preprocess_anime_sketches.py`")
        pair = torch.stack(images)  # (2, 3, H, W): one resize/crop/flip call moves both images alike
        return tuple(self.jitter(pair, jitter_seed).float() / 127.5 - 1.0)

    def jitter(self, pair, seed):
        if seed is None:  # validation: no randomness
            return TF.resize(pair, [self.size, self.size], InterpolationMode.BICUBIC, antialias=True)
        g = torch.Generator().manual_seed(seed)
        load = round(self.size * LOAD_SCALE)
        top, left = torch.randint(0, load - self.size + 1, (2,), generator=g).tolist()
        pair = TF.resize(pair, [load, load], InterpolationMode.BICUBIC, antialias=True)
        pair = TF.crop(pair, top, left, self.size, self.size)
        return TF.horizontal_flip(pair) if torch.rand(1, generator=g).item() < 0.5 else pair


def derived_seed(seed, stream):
    """A seed for one stream of random numbers (an epoch, a process) derived from the run's --seed: streams
    never share a seed, and the same (seed, stream) always gives the same numbers."""
    return seed * 1_000_003 + stream  # 1,000,003 is prime: no two (seed, stream < 1,000,003) pairs collide


class EpochSampler(Sampler):
    """Shuffled (index, jitter seed) items drawn from a generator seeded by (seed, epoch) alone: the
    order and every crop of an epoch are the same after --resume and with any number of workers."""

    def __init__(self, n, seed):
        self.n, self.seed, self.epoch = n, seed, 1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        order = torch.randperm(self.n, generator=g).tolist()
        return iter(zip(order, torch.randint(2**62, (self.n,), generator=g).tolist()))

    def __len__(self):
        return self.n


def make_loaders(train_data, val_data, sampler, batch_size, workers, seed, device):
    """DataLoaders for training (in the sampler's order) and validation (in file order). Worker processes
    are kept between epochs; each loader has its own generator, since a DataLoader otherwise draws its
    worker seed from the global RNG, which dropout uses (and --resume would no longer repeat a run)."""
    options = dict(batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0,
                   pin_memory=device.type == "cuda")  # pinned memory: faster copies to a GPU
    return (DataLoader(train_data, sampler=sampler, generator=torch.Generator().manual_seed(seed), **options),
            DataLoader(val_data, generator=torch.Generator().manual_seed(seed), **options))
