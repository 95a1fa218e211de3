"""Exercise 1: watch the official pretrained pix2pix generator turn facade label maps into photos.

    python download_pretrained.py       # once: the official facades weights (about 218 MB)
    python exercise1_observe.py         # 4 of the shipped labels in sample_facades/base/
    python exercise1_observe.py --labels my_label.png sample_facades/cmp/ --num-labels 6
    python exercise1_observe.py --checkpoint checkpoints/facades_generator.pth \
        facades_run/generator_weights.pth --labels facades/val   # the authors' model and yours

Writes exercise1_output.png (or --output; .jpg, .pdf and .svg work too): one column per label,
the label on top and below it the facade each --checkpoint generates. A label taken from a
pix2pix facades *pair* (a 512x256 image with the real photo on the LEFT and its label on the
RIGHT, as in the facades dataset) also gets its real photo in the last row, so you can compare
the generators with the truth. --checkpoint takes the official weights and generator_weights.pth
files that exercise3_train.py wrote. The network is the official one in fp32, exactly; --fast
runs a faster copy (reduced precision where the hardware has it).
"""

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from facades_generator import add_generator_arguments, faster_if_asked, open_generator, read_label
from helpers.lesson import ArgumentParser, LessonError, at_least, choose_device, fail, shown
from helpers.facade_labels import SAMPLE_LABELS_DIR
from helpers.figures import FIGURE_FORMATS, figure_format, save_grid
from helpers.lesson import check_writable_folder
from helpers.lesson import image_files
from pix2pix_models import IMAGE_SIZE, translate

DEFAULT_NUM_LABELS = 4  # enough to compare facades, few enough to read the figure


def parse_args(argv):
    parser = ArgumentParser(
        description="Translate facade labels into photos with the pretrained pix2pix generator "
        "and save them as one labelled grid."
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        type=Path,
        default=[SAMPLE_LABELS_DIR],
        help="label files and/or folders of PNG/JPEG labels (default: sample_facades/base/)",
    )
    parser.add_argument(
        "--num-labels",
        type=at_least(1),
        default=DEFAULT_NUM_LABELS,
        help="labels taken from each folder, spread over its sorted files; files named on their "
        f"own are always used (default: {DEFAULT_NUM_LABELS})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("exercise1_output.png"),
        help="the grid to write: .png, .jpg, .pdf or .svg (default: exercise1_output.png)",
    )
    add_generator_arguments(parser, several=True)  # --checkpoint (one or more), --device, --fast
    parser.add_argument(
        "--dropout",
        action="store_true",
        help="keep dropout on at test time, as the paper (§3.1, §3.3) and the official test.py "
        "do: each run draws a different facade (default: off, so runs repeat)",
    )
    return parser.parse_args(argv)


def check_output(output):
    """Refuse, before any work, an --output that could not be written as the figure it names."""
    if figure_format(output) is None:
        suffixes = ", ".join(sorted(FIGURE_FORMATS))
        raise LessonError(
            f"--output {shown(output)} does not end in a figure format ({suffixes}); "
            "choose a name such as exercise1_output.png."
        )
    problem = check_writable_folder(output.parent)
    if problem:
        raise LessonError(f"cannot write {shown(output)} ({problem}); choose another --output.")


def observe(args):
    """Read the labels, translate them and draw the grid; LessonError for expected problems."""
    check_output(args.output)  # before any work, not after it
    device = choose_device(args.device)
    print(f"checkpoint: {', '.join(map(shown, args.checkpoint))}")
    print(f"labels:     {', '.join(map(shown, args.labels))} ({args.num_labels} per folder)")
    print(f"output:     {shown(args.output)}")
    network = "--fast" if args.fast else "exact fp32 (the official network)"
    print(f"device:     {device}, {network}{', dropout on (--dropout)' if args.dropout else ''}")

    # 1. Read the labels: each becomes a (3, 256, 256) tensor of exact palette colours in [-1, 1].
    real_A, real_B, names, notes = [], [], [], []
    for path in image_files(args.labels, args.num_labels):
        try:
            label, photo, note = read_label(path)
        except LessonError as exc:  # one unreadable file among many: say so and go on
            print(f"skipping: {exc}")
            continue
        real_A.append(label)
        real_B.append(photo)
        names.append(shown(path.stem)[:22])  # a column's width
        notes.append(note)
    if not real_A:
        raise LessonError(
            f"no usable label images in {', '.join(map(shown, args.labels))}; pass PNG or JPEG "
            "labels with --labels, e.g. --labels sample_facades/base"
        )
    real_A = torch.stack(real_A)  # (N, 3, 256, 256)

    # 2. One generated row per --checkpoint. Each generator runs with per-image BatchNorm
    #    statistics and no dropout, so the same label always gives the same facade
    #    (create_facades_generator explains the protocol).
    rows, row_titles = [list(real_A)], ["label (input)"]
    for checkpoint in args.checkpoint:
        start = time.perf_counter()
        net_G, name, image_size = open_generator(checkpoint, device, dropout=args.dropout)
        net_G = faster_if_asked(args, net_G, device)
        load_seconds = time.perf_counter() - start
        # 3. Translate: translate() runs under torch.inference_mode (no autograd bookkeeping).
        start = time.perf_counter()
        inputs = real_A  # a model trained at another --image-size gets its own size
        if image_size != IMAGE_SIZE:
            inputs = F.interpolate(real_A, size=(image_size, image_size), mode="nearest")
        fake_B = translate(net_G, inputs)  # (N, 3, S, S) in [-1, 1], on the CPU
        del net_G  # one network in memory at a time
        print(
            f"{name}: loaded in {load_seconds:.1f} s; translated {len(real_A)} label(s) in "
            f"{time.perf_counter() - start:.2f} s on {device}"
        )
        rows.append(list(fake_B))
        several = len(args.checkpoint) > 1  # then the folder tells two of your models apart
        row_titles.append(f"{name}\n{shown(checkpoint.parent.name)[:20]}/" if several else name)

    # 4. One column per label: input on top, generated below, then the target if a pair gave one.
    captions = [notes] + [[""] * len(real_A)] * len(args.checkpoint)
    if any(photo is not None for photo in real_B):
        rows.append(real_B)  # None: an empty cell where a label has no photo
        row_titles.append("real photo (target)")
        captions.append(["no photo" if photo is None else "" for photo in real_B])
    title = "Exercise 1: facade labels -> pix2pix"
    if len(args.checkpoint) == 1:
        title += f" ({shown(args.checkpoint[0].name)})"
    try:
        save_grid(args.output, rows, row_titles, title=title, col_titles=names, captions=captions)
    except OSError as exc:  # a read-only folder, a full disk, a file where a folder should be
        reason = f"{shown(args.output)} ({exc.strerror or exc})"
        raise LessonError(f"could not write {reason}; choose another --output.") from None
    print(f"wrote {shown(args.output.resolve())}")


def main(argv=None):
    args = parse_args(argv)
    try:
        observe(args)
    except LessonError as exc:
        fail(str(exc))  # one sentence on stderr, exit status 2, no traceback


if __name__ == "__main__":
    main()
