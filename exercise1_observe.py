"""Exercise 1: watch the official pretrained pix2pix generator turn facade label maps into photos.

    python download_pretrained.py       # once: the official facades weights (about 218 MB)
    python exercise1_observe.py         # 4 of the shipped labels in sample_facades/base/
    python exercise1_observe.py --labels my_label.png sample_facades/cmp/ --num-labels 6
    python exercise1_observe.py --checkpoint checkpoints/facades_generator.pth \
        facades_run/generator_weights.pth --labels facades/val   # the authors' model and yours

Writes exercise1_output.png (or --output: .png, .jpg, .pdf, .svg): one column per label, the label
on top, below it the facade each --checkpoint generates, and the real photo where a label comes
from a pix2pix facades *pair* (512x256: the photo LEFT, its label RIGHT). The network is the
official one in fp32, exactly; --fast runs a faster copy (reduced precision where native).
"""

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from facades_generator import CLASS_COLORS, PALETTE, SAMPLE_LABELS_DIR, add_generator_arguments
from facades_generator import load_label, open_generator
from helpers.figures import FIGURE_FORMATS, save_grid
from helpers.lesson import ArgumentParser, LessonError, at_least, check_writable_folder
from helpers.lesson import choose_device, fail, image_files, image_to_tensor, open_image, path_arg
from helpers.lesson import refuse_overwrite, shown, to_rgb, write_failure
from pix2pix_models import IMAGE_SIZE, translate

# A label lies within JPEG noise of the palette (median distance under 17 even at JPEG quality 30:
# the median ignores smeared borders); a photo lies far from it (100-150 on the photos tried).
LABEL_MAX_PALETTE_DISTANCE = 25.0


def palette_distance(rgb):
    """Median distance of an RGB image's pixels to the palette, on a 64x64 sample."""
    samples = np.asarray(rgb.resize((64, 64), Image.NEAREST), dtype=np.float32).reshape(-1, 1, 3)
    return float(np.median(np.linalg.norm(samples - PALETTE, axis=2).min(axis=1)))


def read_label(path):
    """A label file -> (label, real photo or None, a note), tensors (3, 256, 256) in [-1, 1]. A
    facades pair gives its right half as the label, its left half as the photo (BtoA in test.py)."""
    image = open_image(path, "label", "pass a PNG or JPEG label map")
    rgb = to_rgb(image, CLASS_COLORS["background"])
    width, height = rgb.size
    if width == 2 * height:  # two labels side by side are 2:1 too: only a photo | label splits
        photo, label = rgb.crop((0, 0, height, height)), rgb.crop((height, 0, width, height))
        if palette_distance(label) <= LABEL_MAX_PALETTE_DISTANCE < palette_distance(photo):
            print(f"{shown(path)}: a facades pair (photo | label); its right half is the label")
            real_B = image_to_tensor(photo.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC))
            return load_label(label), real_B, "right half of a pair"
    distance = palette_distance(rgb)
    if distance > LABEL_MAX_PALETTE_DISTANCE:
        print(
            f"warning: {shown(path)} does not look like a label map (palette distance "
            f"{distance:.0f}, labels under {LABEL_MAX_PALETTE_DISTANCE:.0f}); snapped anyway."
        )
    note = f"resized from {width}x{height}" if rgb.size != (IMAGE_SIZE, IMAGE_SIZE) else ""
    return load_label(rgb), None, note


def parse_args(argv):
    parser = ArgumentParser(description="Facade labels -> photos with pix2pix, in one grid.")
    add = parser.add_argument
    labels = "label files and/or folders of PNG/JPEG labels (default: sample_facades/base/)"
    add("--labels", nargs="+", type=path_arg, default=[SAMPLE_LABELS_DIR], help=labels)
    # 4: enough to compare facades, few enough to read the figure
    add("--num-labels", type=at_least(1, below=1000), default=4, help="per folder (default: 4)")
    output = "the grid: .png, .jpg, .pdf or .svg (default: exercise1_output.png)"
    add("--output", type=path_arg, default=Path("exercise1_output.png"), help=output)
    add_generator_arguments(parser, several=True)  # --checkpoint (one or more), --device, --fast
    dropout = "dropout on at test time, as in the paper (§3.3): each run draws another facade"
    add("--dropout", action="store_true", help=dropout + " (default: off, so runs repeat)")
    return parser.parse_args(argv)


def observe(args):
    """Read the labels, translate them and draw the grid; LessonError for expected problems."""
    output, checkpoints = args.output, args.checkpoint
    if output.suffix.lower() not in FIGURE_FORMATS:  # refused before any work, not after it
        formats = ", ".join(sorted(FIGURE_FORMATS))
        raise LessonError(f"--output {shown(output)} does not end in a figure format ({formats}).")
    if problem := check_writable_folder(output.parent):
        raise LessonError(f"cannot write {shown(output)} ({problem}); choose another --output.")
    paths = image_files(args.labels, args.num_labels)
    refuse_overwrite(output, [*args.labels, *paths, *checkpoints], "--output")
    device = choose_device(args.device)
    print(f"checkpoint: {', '.join(map(shown, checkpoints))}")
    print(f"labels:     {', '.join(map(shown, args.labels))} ({args.num_labels} per folder)")
    network = "--fast" if args.fast else "exact fp32 (the official network)"
    print(f"device:     {device}, {network}{', dropout on (--dropout)' if args.dropout else ''}")

    # 1. Each label becomes a (3, 256, 256) tensor of exact palette colours in [-1, 1].
    read = []  # (label, photo or None, note, column title) per readable file
    for path in paths:
        try:
            read.append((*read_label(path), shown(path.stem)[:22]))
        except LessonError as exc:  # one unreadable file among many: say so and go on
            print(f"skipping: {exc}")
    if not read:
        given = ", ".join(map(shown, args.labels))
        raise LessonError(f"no usable label images in {given}; pass PNG or JPEG labels.")
    labels, real_B, notes, names = zip(*read, strict=True)
    real_A = torch.stack(labels)  # (N, 3, 256, 256)

    # 2. One generated row per --checkpoint, each G run as open_generator explains (§3.3).
    rows, row_titles = [list(real_A)], ["label (input)"]
    for checkpoint in checkpoints:
        start = time.perf_counter()
        net_G, name, size = open_generator(checkpoint, device, args.dropout, args.fast)
        # A model trained at another --image-size gets its own size (at 256 an exact copy).
        fake_B = translate(net_G, F.interpolate(real_A, size=size, mode="nearest"))  # (N, 3, S, S)
        del net_G  # one network in memory at a time
        seconds = time.perf_counter() - start
        print(f"{name}: loaded and translated {len(real_A)} labels in {seconds:.1f} s")
        rows.append(list(fake_B))
        several = len(checkpoints) > 1  # then the folder tells two of your models apart
        row_titles.append(f"{name}\n{shown(checkpoint.parent.name)[:20]}/" if several else name)

    # 3. One column per label: input on top, generated below, then the target if a pair gave one.
    captions = [list(notes)] + [None] * len(checkpoints)
    if any(photo is not None for photo in real_B):
        rows.append(list(real_B))  # None: an empty cell where a label has no photo
        row_titles.append("real photo (target)")
        captions.append(["no photo" if photo is None else "" for photo in real_B])
    about = [shown(checkpoints[0].name)] if len(checkpoints) == 1 else []
    about += ["dropout on"] if args.dropout else []  # a --dropout figure says so in its title
    title = "Exercise 1: facade labels -> pix2pix" + (f" ({', '.join(about)})" if about else "")
    try:
        save_grid(output, rows, row_titles, title=title, col_titles=list(names), captions=captions)
    except OSError as exc:  # a read-only folder, a full disk
        raise LessonError(f"{write_failure(exc, output)}.") from None
    print(f"wrote {shown(output.resolve())}")


def main(argv=None):
    args = parse_args(argv)
    try:
        observe(args)
    except LessonError as exc:
        fail(str(exc))  # one sentence on stderr, exit status 2, no traceback


if __name__ == "__main__":
    main()
