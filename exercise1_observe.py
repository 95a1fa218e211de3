"""Exercise 1: watch the official pretrained pix2pix generator turn facade label maps into photos.

    python download_pretrained.py       # once: the official facades weights (about 218 MB)
    python exercise1_observe.py         # 4 of the shipped labels in sample_facades/base/
    python exercise1_observe.py --labels my_label.png sample_facades/cmp/ --num-labels 6

Writes exercise1_output.png (or --output): one column per label, the label on top and the generated
facade below it. A label taken from a pix2pix facades *pair* (a 512x256 image with the real photo
on the LEFT and its label on the RIGHT, as in the facades dataset) also gets its real photo in a
third row, so you can compare the generator with the truth. The network is the official one in
fp32, exactly; --fast runs a faster copy (reduced precision where the hardware has it).
"""

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facades_generator import (DEFAULT_CHECKPOINT, SAMPLE_LABELS_DIR, create_facades_generator,
                               label_rgb, load_label, palette_distance, translate)
from helpers.cli import ArgumentParser, LessonError, add_device_argument, at_least, choose_device, fail, shown
from helpers.figures import save_grid
from helpers.files import check_writable_folder
from helpers.images import image_files, image_to_tensor
from pix2pix_models import IMAGE_SIZE

DEFAULT_NUM_LABELS = 4  # enough to compare facades, few enough to read the figure
# A label map lies within JPEG noise of the palette (median distance under 17 even at JPEG quality 30);
# a photo is far from it (median 100-150 on the photos tried): facades_generator.palette_distance.
LABEL_MAX_PALETTE_DISTANCE = 25.0


def parse_args(argv):
    parser = ArgumentParser(description="Translate facade labels into photos with the pretrained "
                                                 "pix2pix generator and save them as one labelled grid.")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="generator weights (default: checkpoints/facades_generator.pth)")
    parser.add_argument("--labels", nargs="+", type=Path, default=[SAMPLE_LABELS_DIR],
                        help="label files and/or folders of PNG/JPEG labels (default: sample_facades/base/)")
    parser.add_argument("--num-labels", type=at_least(1), default=DEFAULT_NUM_LABELS,
                        help=f"labels taken from each folder, spread over its sorted files; files named "
                             f"on their own are always used (default: {DEFAULT_NUM_LABELS})")
    parser.add_argument("--output", type=Path, default=Path("exercise1_output.png"),
                        help="the grid to write (default: exercise1_output.png)")
    add_device_argument(parser)
    parser.add_argument("--fast", action="store_true",
                        help="a faster copy of the network (bf16/fp16 where native, CPU kernels); default: exact fp32")
    parser.add_argument("--dropout", action="store_true",
                        help="keep dropout on at test time, as the paper (§3.1, §3.3) and the official test.py do: "
                             "each run draws a different facade (default: off, so runs repeat)")
    return parser.parse_args(argv)


def split_facades_pair(image):
    """(photo, label) PIL images if `image` is a facades pair (photo LEFT | label RIGHT), else None."""
    width, height = image.size
    if width != 2 * height:
        return None
    photo, label = image.crop((0, 0, height, height)), image.crop((height, 0, width, height))

    def distance(half):  # 64x64 nearest-neighbour pixels are plenty to judge, and fast at any size
        return palette_distance(np.asarray(half.resize((64, 64), Image.NEAREST)))

    if distance(label) <= LABEL_MAX_PALETTE_DISTANCE < distance(photo):
        return photo, label
    return None


def read_label(path):
    """One file -> (label tensor, real photo tensor or None, short note). LessonError if unreadable."""
    image = label_rgb(path)
    pair = split_facades_pair(image)
    if pair is not None:
        photo, label = pair
        # The model maps label -> photo, i.e. right half -> left half ("BtoA" in the official code).
        print(f"{shown(path)}: a facades pair (photo | label); using its right half as the label")
        photo = image_to_tensor(photo.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC))
        return load_label(label), photo, "right half of a pair"
    distance = palette_distance(np.asarray(image.resize((64, 64), Image.NEAREST)))
    if distance > LABEL_MAX_PALETTE_DISTANCE:
        print(f"warning: {shown(path)} does not look like a label map (its colours lie {distance:.0f} from the "
              f"palette; labels lie under {LABEL_MAX_PALETTE_DISTANCE:.0f}): it is snapped to the 12 label colours "
              "anyway. Pass a label drawn in the CMP palette (docs/palette.png).")
    note = "" if image.size == (IMAGE_SIZE, IMAGE_SIZE) else f"resized from {image.width}x{image.height}"
    return load_label(image), None, note


def main(argv=None):
    args = parse_args(argv)
    problem = check_writable_folder(args.output.parent)  # before any work, not after it
    if problem:
        fail(f"cannot write {shown(args.output)} ({problem}); choose another --output.")
    try:
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    print(f"checkpoint: {shown(args.checkpoint)}")
    print(f"labels:     {', '.join(shown(p) for p in args.labels)} ({args.num_labels} per folder)")
    print(f"output:     {shown(args.output)}")
    print(f"device:     {device}, {'--fast' if args.fast else 'exact fp32 (the official network)'}"
          f"{', dropout on (--dropout)' if args.dropout else ''}")

    # 1. Read the labels: each becomes a (3, 256, 256) tensor of exact palette colours in [-1, 1].
    real_A, real_B, names, notes = [], [], [], []
    for path in image_files(args.labels, args.num_labels):
        try:
            label, photo, note = read_label(path)
        except LessonError as exc:
            print(f"skipping: {exc}")
            continue
        real_A.append(label)
        real_B.append(photo)
        names.append(shown(path.stem))
        notes.append(note)
    if not real_A:
        fail(f"no usable label images in {', '.join(shown(p) for p in args.labels)}; pass PNG or JPEG "
             "labels with --labels, e.g. --labels sample_facades/base")

    # 2. Load the official generator: per-image BatchNorm statistics and no dropout, so the same
    #    label always gives the same facade (create_facades_generator explains the protocol).
    start = time.perf_counter()
    try:
        net_G = create_facades_generator(args.checkpoint, device=device, dropout=args.dropout)
    except LessonError as exc:
        fail(str(exc))
    if args.fast:
        from speed import fast_generator  # opt-in speed (speed/, docs/speed.rst); prints what it switches on
        net_G = fast_generator(net_G, device)
    load_seconds = time.perf_counter() - start

    # 3. Translate: translate() runs under torch.inference_mode (no autograd bookkeeping).
    start = time.perf_counter()
    fake_B = translate(net_G, torch.stack(real_A))  # (N, 3, 256, 256) in [-1, 1], back on the CPU
    print(f"loaded the generator in {load_seconds:.1f} s; translated {len(real_A)} label(s) in "
          f"{time.perf_counter() - start:.2f} s on {device}")

    # 4. One figure, one column per label: input on top, generated below (then the target, if a pair gave one).
    rows, row_titles = [real_A, list(fake_B)], ["label (input)", "generated"]
    captions = [notes, [""] * len(real_A)]
    if any(photo is not None for photo in real_B):
        rows.append(real_B)  # None: an empty cell where a label has no photo
        row_titles.append("real photo (target)")
        captions.append(["no photo" if photo is None else "" for photo in real_B])
    try:
        save_grid(args.output, rows, row_titles, col_titles=[name[:22] for name in names], captions=captions,
                  title=f"Exercise 1: facade labels -> pix2pix ({shown(args.checkpoint.name)})")
    except OSError as exc:  # a read-only folder, a full disk, a file where a folder should be
        fail(f"could not write {shown(args.output)} ({exc.strerror or exc}); choose another --output.")
    print(f"wrote {shown(args.output.resolve())}")


if __name__ == "__main__":
    main()
