"""Exercise 3's data: the preprocessed pairs (preprocessing/__init__.py) -> (real_A, real_B)
batches; training pairs get §6.2's jitter (resize to 286, random 256 crop, flip), ONE for both."""

import os
import zlib

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from helpers.lesson import LessonError, open_image, shown, to_rgb
from preprocessing import MIN_SIDE, pair_files

LOAD_SCALE = 286 / 256  # §6.2: jitter = resize 256 -> 286, then random-crop back to 256
MEMORY_FOR_PAIRS = 512 << 20  # bytes: a set whose resized pairs fit is decoded once, not per epoch
HOLDOUT_PERCENT = 5  # with no val/ split, hold out this share of train, chosen by file name
NO_DATA = "run `python preprocess_anime_sketches.py --demo 200` (synthetic) or on the Kaggle pairs"
VERIFY = "check the set with `python preprocess_anime_sketches.py --verify`"


def split_pairs(data_dir):
    """(train, val) path pairs: val/, or the pairs of train whose name's CRC32 % 100 is below
    HOLDOUT_PERCENT. What is not a pair is named and skipped."""
    found = {}
    for split in ("train", "val"):  # a missing folder: no pairs
        found[split], lone, skipped = pair_files(data_dir / split)
        for path, partner in lone:
            print(f"warning: skipping {shown(path)}: no {shown(partner)} to pair it with")
        for path, what in skipped:
            print(f"warning: skipping {shown(path)}: it is {what}, not an image file")
    train, val = found["train"], found["val"]
    if (data_dir / "val").is_dir():
        return train, val
    crc = {pair: zlib.crc32(pair[0].stem.encode()) % 100 for pair in train}  # fixed by name
    val = [pair for pair in train if crc[pair] < HOLDOUT_PERCENT]
    if not val and len(train) > 1:  # a tiny set with no such name: its lowest
        val = [min(train, key=crc.get)]
    return [pair for pair in train if pair not in val], val


class PairedSketchDataset(Dataset):
    """Pairs as two (3, S, S) tensors in [-1, 1]; an item is an index (resized only) or (index,
    jitter seed) as EpochSampler yields them. A small set (the demo's: 90 MB) is resized once."""

    def __init__(self, pairs, image_size):
        self.pairs, self.size, self.load = pairs, image_size, round(image_size * LOAD_SCALE)
        self.kept = {} if len(pairs) * 2 * 3 * self.load**2 <= MEMORY_FOR_PAIRS else None

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, item):
        """(real_A, real_B); with a seed, §6.2's jitter: one random crop and flip for both."""
        index, seed = item if isinstance(item, tuple) else (item, None)
        pair = self.resized(index, self.size if seed is None else self.load)  # (2, 3, S, S)
        if seed is not None:
            g = torch.Generator().manual_seed(seed)
            top, left = torch.randint(0, self.load - self.size + 1, (2,), generator=g).tolist()
            pair = TF.crop(pair, top, left, self.size, self.size)
            pair = TF.horizontal_flip(pair) if torch.rand(1, generator=g).item() < 0.5 else pair
        return tuple(pair.float() / 127.5 - 1.0)

    def resized(self, index, size):
        if self.kept is not None and (index, size) in self.kept:
            return self.kept[index, size]
        paths = self.pairs[index]
        sketch, color = (to_rgb(open_image(path, "training image", VERIFY)) for path in paths)
        name, pixels = shown(paths[0]), "{}x{} pixels".format(*sketch.size)
        if color.size != sketch.size:
            raise LessonError(f"{name} is {pixels} and {shown(paths[1])} is not; {VERIFY}")
        if min(sketch.size) < MIN_SIDE:  # blown up to 286x286, it would hold no picture
            raise LessonError(f"{name} is {pixels}, under {MIN_SIDE}x{MIN_SIDE}; {VERIFY}")
        pair = torch.stack([TF.pil_to_tensor(sketch), TF.pil_to_tensor(color)])  # (2, 3, H, W)
        pair = TF.resize(pair, [size, size], InterpolationMode.BICUBIC, antialias=True)
        if self.kept is not None:
            self.kept[index, size] = pair
        return pair


class EpochSampler(DistributedSampler):
    """DistributedSampler's order from seed + epoch (a share per process), each index with a jitter
    seed drawn next: an epoch's order and crops are the same after --resume, with any workers."""

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.dataset), generator=g).tolist()  # DistributedSampler's
        seeds = torch.randint(2**62, (len(order),), generator=g).tolist()
        jitter = dict(zip(order, seeds, strict=True))
        return ((index, jitter[index]) for index in super().__iter__())


def make_loaders(args, rank, ranks, device):
    """The training loader (EpochSampler's order, a shard per process) and the validation loader."""
    train, val = split_pairs(args.data)
    train, val = train[: args.max_images], val[: args.val_images]
    if not train or not val:
        raise LessonError(f"{shown(args.data)} needs a training and a validation pair; {NO_DATA}")
    train_data, val_data = (PairedSketchDataset(pairs, args.image_size) for pairs in (train, val))
    # seed * 1,000,003 (a prime) + epoch: no two (--seed, epoch) share an order
    sampler = EpochSampler(train_data, ranks, rank, seed=args.seed * 1_000_003)
    # by default no loading processes on a CPU, where they would compete with training for cores
    workers = (0 if device.type == "cpu" else 4) if args.workers is None else args.workers
    cores = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    if workers > cores:  # more would only wait for each other
        print(f"note: --workers {workers} is more than the {cores} cores; using {cores}")
        workers = cores
    options = dict(batch_size=args.batch_size, num_workers=workers, persistent_workers=workers > 0)
    # pin_memory: faster copies to a GPU. A generator of their own: a DataLoader otherwise draws
    # its workers' seeds from the global RNG, which dropout draws from (and --resume restores)
    options.update(pin_memory=device.type == "cuda", generator=torch.Generator())
    return DataLoader(train_data, sampler=sampler, **options), DataLoader(val_data, **options)
