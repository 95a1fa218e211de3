"""Exercise 3's data: the preprocessed anime pairs on disk -> (real_A, real_B) batches.

    anime_processed/{train,val}/sketches/NAME.png   real_A, the condition (a line sketch)
    anime_processed/{train,val}/colors/NAME.png     real_B, the target (the coloured image)

as preprocess_anime_sketches.py writes them. With no val/ split, a fixed 5% of train is held out
(chosen by file name) and never trained on. Training pairs get the official jitter (§6.2): resize
to 286, random 256 crop, random horizontal flip, with ONE set of random values for both images.
"""

import zlib

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from helpers.lesson import LessonError, shown
from helpers.lesson import open_image, to_rgb
from preprocessing.jobs import cpu_cores
from preprocessing import MIN_SIDE, pair_files

LOAD_SCALE = 286 / 256  # §6.2: jitter = resize 256 -> 286, then random-crop back to 256
HOLDOUT_PERCENT = 5  # with no val/ split, hold out this share of train, chosen by file name
MEMORY_FOR_PAIRS = 512 << 20  # bytes: a set whose resized pairs fit is decoded once, not per epoch
NO_DATA_HINT = (
    "run `python preprocess_anime_sketches.py` on the Kaggle pairs, or "
    "`python preprocess_anime_sketches.py --demo 200` for a synthetic set with no download"
)
VERIFY_HINT = "check the set with `python preprocess_anime_sketches.py --verify`"


def find_pairs(split_dir):
    """Sorted (sketch, colour) path pairs of one split, by the rule --verify checks
    (preprocessing/__init__.py): regular, visible files; what is not a pair is named and skipped."""
    pairs, lone, skipped = pair_files(split_dir)
    for path, partner in lone:
        print(f"warning: skipping {shown(path)}: no {shown(partner)} to pair it with")
    for path, what in skipped:
        print(f"warning: skipping {shown(path)}: it is {what}, not an image file")
    return pairs


def held_out(name):
    """True for the names a set without val/ holds out: CRC32 in the first HOLDOUT_PERCENT of 100,
    fixed by name, so a pair never moves into train as the set grows."""
    return zlib.crc32(name.encode()) % 100 < HOLDOUT_PERCENT


def split_pairs(data_dir):
    """(train, val, where val came from); val is data_dir/val, or the held-out names of train."""
    if not (data_dir / "train").is_dir():
        raise LessonError(f"no training data in {shown(data_dir / 'train')}; {NO_DATA_HINT}")
    train = find_pairs(data_dir / "train")
    if (data_dir / "val").is_dir():
        return train, find_pairs(data_dir / "val"), shown(data_dir / "val")
    val = [pair for pair in train if held_out(pair[0].stem)]
    if not val and len(train) > 1:  # a tiny set may hold no such name: hold out the lowest CRC
        val = [min(train, key=lambda pair: zlib.crc32(pair[0].stem.encode()) % 100)]
    train = [pair for pair in train if pair not in val]
    return train, val, f"{HOLDOUT_PERCENT}% held out of train/"


def load_pairs(data_dir, max_images, val_images):
    """The training and validation pairs a run uses; LessonError if either is empty."""
    train, val, where = split_pairs(data_dir)
    train, val = train[:max_images], val[:val_images]
    if not train or not val:
        raise LessonError(
            f"{shown(data_dir)} needs at least one training and one validation pair; {NO_DATA_HINT}"
        )
    return train, val, where


class PairedSketchDataset(Dataset):
    """Pairs as two (3, S, S) tensors in [-1, 1]. An item is an index, or (index, jitter seed) from
    EpochSampler: then the pair gets the official jitter, with ONE set of random values for both.

    A small set (the demo's 200 pairs: 90 MB) is kept in memory once decoded and resized, so later
    epochs only crop and flip; the result is the same, bit for bit."""

    def __init__(self, pairs, image_size):
        self.pairs, self.size, self.load = pairs, image_size, round(image_size * LOAD_SCALE)
        self.kept = {} if len(pairs) * 2 * 3 * self.load**2 <= MEMORY_FOR_PAIRS else None

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, item):
        index, jitter_seed = item if isinstance(item, tuple) else (item, None)
        if jitter_seed is None:  # validation: resized, never jittered
            pair = self.resized(index, self.size)
        else:
            pair = self.jitter(self.resized(index, self.load), jitter_seed)
        real_A, real_B = pair.float() / 127.5 - 1.0  # (2, 3, S, S) uint8: sketch, colour
        return real_A, real_B

    def jitter(self, pair, seed):
        """§6.2: a random crop back to the training size and a random horizontal flip, drawn from
        `seed`, on both images of a (2, 3, 286, 286) pair at once."""
        g = torch.Generator().manual_seed(seed)
        top, left = torch.randint(0, pair.shape[-1] - self.size + 1, (2,), generator=g).tolist()
        pair = TF.crop(pair, top, left, self.size, self.size)
        return TF.horizontal_flip(pair) if torch.rand(1, generator=g).item() < 0.5 else pair

    def resized(self, index, size):
        if self.kept is not None and (index, size) in self.kept:
            return self.kept[index, size]
        sketch, color = (
            to_rgb(open_image(path, "training image", VERIFY_HINT)) for path in self.pairs[index]
        )
        if sketch.size != color.size:
            raise LessonError(
                f"{shown(self.pairs[index][0])} and {shown(self.pairs[index][1])} "
                f"differ in size; {VERIFY_HINT}"
            )
        if min(sketch.size) < MIN_SIDE:  # blown up to 286x286, it would hold no picture
            width, height = sketch.size
            raise LessonError(
                f"{shown(self.pairs[index][0])} is {width}x{height} pixels, under "
                f"{MIN_SIDE}x{MIN_SIDE}; {VERIFY_HINT}"
            )
        pair = torch.stack([TF.pil_to_tensor(sketch), TF.pil_to_tensor(color)])  # (2, 3, H, W)
        pair = TF.resize(pair, [size, size], InterpolationMode.BICUBIC, antialias=True)
        if self.kept is not None:
            self.kept[index, size] = pair
        return pair

    def first(self, n):
        """The first n pairs, unjittered, as two (n, 3, S, S) batches: the fixed preview images."""
        items = [self[i] for i in range(min(n, len(self)))]
        real_A = torch.stack([a for a, _ in items])
        real_B = torch.stack([b for _, b in items])
        return real_A, real_B


def derived_seed(seed, stream):
    """A seed for one stream of random numbers (an epoch, a process) derived from the run's --seed:
    streams never share a seed, and the same (seed, stream) always gives the same numbers."""
    return seed * 1_000_003 + stream  # 1,000,003 is prime: no (seed, stream < 1,000,003) collide


class EpochSampler(Sampler):
    """Shuffled (index, jitter seed) items drawn from a generator seeded by (seed, epoch) alone: the
    order and every crop of an epoch are the same after --resume and with any number of workers.

    Under torchrun each of `ranks` processes takes every ranks-th item of that one order, as
    DistributedSampler does, padded by wrapping so that every process takes as many steps."""

    def __init__(self, n, seed, rank=0, ranks=1):
        self.n, self.seed, self.rank, self.ranks, self.epoch = n, seed, rank, ranks, 1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        order = torch.randperm(self.n, generator=g).tolist()
        jitter_seeds = torch.randint(2**62, (self.n,), generator=g).tolist()
        items = list(zip(order, jitter_seeds, strict=True))
        items = (items * self.ranks)[: len(self) * self.ranks]  # pad by wrapping around
        return iter(items[self.rank :: self.ranks])

    def __len__(self):
        return -(-self.n // self.ranks)  # ceil: every process takes the same number of steps


def make_loaders(train_data, val_data, sampler, batch_size, workers, device):
    """DataLoaders for training (in the sampler's order) and validation (in file order), with
    `workers` loading processes (None: 0 on a CPU, where they would compete with training for the
    cores, 4 on a GPU), kept between epochs. Each loader gets its own generator: a DataLoader
    otherwise draws its workers' seeds from the global RNG, which dropout uses."""
    if workers is None:
        workers = 0 if device.type == "cpu" else 4
    cores = cpu_cores()
    if workers > cores:  # more would only wait for each other
        if sampler.rank == 0:
            print(f"note: --workers {workers} is more than the {cores} cores; using {cores}")
        workers = cores
    cuda = device.type == "cuda"  # pinned memory: faster copies to a GPU
    options = dict(num_workers=workers, persistent_workers=workers > 0, pin_memory=cuda)
    seeded = own_generator(sampler)
    train_loader = DataLoader(train_data, batch_size, sampler=sampler, generator=seeded, **options)
    val_loader = DataLoader(val_data, batch_size, generator=own_generator(sampler), **options)
    return train_loader, val_loader


def own_generator(sampler):
    return torch.Generator().manual_seed(sampler.seed)
