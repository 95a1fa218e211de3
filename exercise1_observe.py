"""Exercise 1: watch the official pretrained pix2pix generator turn facade label maps into photos.

    python download_pretrained.py       # once: the official facades weights (about 218 MB)
    python exercise1_observe.py         # 4 of the shipped labels in sample_facades/base/
    python exercise1_observe.py --labels my_label.png sample_facades/cmp/ --num-labels 6

Writes exercise1_output.png (or --output): the label maps on the top row and the generated
facades below them. A label taken from a pix2pix facades *pair* (a 512x256 image with the real
photo on the LEFT and its label on the RIGHT, as in the facades dataset) also gets its real
photo in a third row, so you can compare the generator with the truth.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facades_generator import (DEFAULT_CHECKPOINT, IMAGE_SIZE, PALETTE, create_facades_generator, label_files, load_label,
                               snap_to_palette, translate)
from fast_paths import add_fast_path_arguments, fast_path_from_args
from lesson_utils import DEVICE_CHOICES, LessonError, choose_device, fail, image_to_tensor, save_labelled_grid

SAMPLE_LABELS = Path(__file__).resolve().parent / "sample_facades" / "base"
DEFAULT_NUM_LABELS = 4  # enough to compare facades, few enough to read the figure
# Most pixels of a label lie within JPEG noise of a palette colour (even a heavily compressed
# one: median under 17 at JPEG quality 30); a photo's are far from all (median 100-150 on photos tried).
LABEL_MAX_PALETTE_DISTANCE = 25.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Translate facade labels into photos with the pretrained "
                                                 "pix2pix generator and save them as one labelled grid.")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="generator weights (default: checkpoints/facades_generator.pth)")
    parser.add_argument("--labels", nargs="+", type=Path, default=[SAMPLE_LABELS],
                        help="label files and/or folders of PNG/JPEG labels (default: sample_facades/base/)")
    parser.add_argument("--num-labels", type=int, default=DEFAULT_NUM_LABELS,
                        help=f"labels taken from each folder, spread over its sorted files; files named "
                             f"on their own are always used (default: {DEFAULT_NUM_LABELS})")
    parser.add_argument("--output", type=Path, default=Path("exercise1_output.png"),
                        help="the grid to write (default: exercise1_output.png)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="auto = cuda, then mps, then cpu (default: auto)")
    add_fast_path_arguments(parser)
    args = parser.parse_args(argv)
    if args.num_labels < 1:
        parser.error("--num-labels must be at least 1")
    return args


def palette_distance(rgb):
    """Median distance (RGB units) from the pixels of an (H, W, 3) uint8 array to their nearest palette
    colour. The median ignores the smeared class boundaries of a JPEG label."""
    nearest = PALETTE[snap_to_palette(rgb)].astype(np.float32)
    return float(np.median(np.linalg.norm(rgb.astype(np.float32) - nearest, axis=2)))


def split_facades_pair(image):
    """(photo, label) PIL images if `image` is a facades pair (photo LEFT | label RIGHT), else None."""
    width, height = image.size
    if width != 2 * height:
        return None
    rgb = image.convert("RGB")
    photo, label = rgb.crop((0, 0, height, height)), rgb.crop((height, 0, width, height))

    def distance(half):  # 64x64 nearest-neighbour pixels are plenty to judge, and fast at any size
        return palette_distance(np.asarray(half.resize((64, 64), Image.NEAREST)))

    if distance(label) <= LABEL_MAX_PALETTE_DISTANCE < distance(photo):
        return photo, label
    return None


def read_label(path):
    """One file -> (label tensor, real photo tensor or None, short note). LessonError if unreadable."""
    try:
        with Image.open(path) as opened:
            image = opened.copy()  # copy() reads all pixels, so a truncated file fails here
    except FileNotFoundError:
        raise LessonError(f"{path} does not exist") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LessonError(f"{path} is not a readable PNG or JPEG image ({exc})") from None
    pair = split_facades_pair(image)
    if pair is not None:
        photo, label = pair
        # The model maps label -> photo, i.e. right half -> left half ("BtoA" in the official code).
        photo = image_to_tensor(photo.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC))
        return load_label(label), photo, "right half of a pair"
    note = "" if image.size == (IMAGE_SIZE, IMAGE_SIZE) else f"resized from {image.width}x{image.height}"
    return load_label(image), None, note


def main(argv=None):
    args = parse_args(argv)
    try:
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    fast = fast_path_from_args(args, device)
    print(f"checkpoint: {args.checkpoint}")
    print(f"labels:     {', '.join(str(p) for p in args.labels)} ({args.num_labels} per folder)")
    print(f"output:     {args.output}")
    print(f"device:     {device}")
    print(fast.describe())

    # 1. Read the labels: each becomes a (3, 256, 256) tensor of exact palette colours in [-1, 1].
    real_A, real_B, names, notes = [], [], [], []
    for path in label_files(args.labels, args.num_labels):
        try:
            label, photo, note = read_label(path)
        except LessonError as exc:
            print(f"skipping: {exc}")
            continue
        if photo is not None:
            print(f"{path}: a facades pair (photo | label); using its right half as the label")
        real_A.append(label)
        real_B.append(photo)
        names.append(path.stem)
        notes.append(note)
    if not real_A:
        fail(f"no usable label images in {', '.join(str(p) for p in args.labels)}; pass PNG or JPEG "
             "labels with --labels, e.g. --labels sample_facades/base")

    # 2. Load the official generator: per-image BatchNorm statistics and no dropout, so the same
    #    label always gives the same facade (facades_generator.py explains the protocol).
    start = time.perf_counter()
    try:
        net_G = create_facades_generator(args.checkpoint, device=device, fast=fast)
    except LessonError as exc:
        fail(str(exc))
    load_seconds = time.perf_counter() - start

    # 3. Translate: translate() runs under torch.inference_mode (no autograd bookkeeping).
    start = time.perf_counter()
    fake_B = translate(net_G, torch.stack(real_A))  # (N, 3, 256, 256) in [-1, 1], back on the CPU
    run_seconds = time.perf_counter() - start
    print(f"loaded the generator in {load_seconds:.1f} s; translated {len(real_A)} label(s) in "
          f"{run_seconds:.2f} s on {device}")

    # 4. One figure: input | generated (| target when a pair gave us the real photo).
    rows, row_titles = [real_A, list(fake_B)], ["label (input)", "generated"]
    captions = [notes, [""] * len(real_A)]
    if any(photo is not None for photo in real_B):
        blank = torch.ones(3, IMAGE_SIZE, IMAGE_SIZE)  # a white cell where a label has no photo
        rows.append([blank if photo is None else photo for photo in real_B])
        row_titles.append("real photo (target)")
        captions.append(["no photo" if photo is None else "" for photo in real_B])
    try:
        save_labelled_grid(args.output, rows, row_titles, col_titles=[name[:22] for name in names], captions=captions,
                           title=f"Exercise 1: facade labels -> pix2pix ({args.checkpoint.name})")
    except OSError as exc:  # a read-only folder, a full disk, a file where a folder should be
        fail(f"could not write {args.output} ({exc.strerror or exc}); choose another --output.")
    print(f"wrote {args.output.resolve()}")


if __name__ == "__main__":
    main()
