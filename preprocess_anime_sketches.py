"""Split the Kaggle anime sketch/colour pairs into the folders Exercise 3 trains on.

    python preprocess_anime_sketches.py              # anime_sketch_dataset/ -> anime_processed/
    python preprocess_anime_sketches.py --demo 200   # no Kaggle account: 200 synthetic pairs first
    python preprocess_anime_sketches.py --verify     # check anime_processed/ before training

--input holds data/train/*.png (+ data/val/) as unzipped from Kaggle, or train/*.png (+ val/):
1024x512 pairs, the COLOUR image LEFT, the line SKETCH RIGHT. Writes preprocessing/__init__.py's
layout atomically, skipping finished pairs and naming the ones it cannot make; a full disk stops it
in one sentence, the finished pairs kept. The input is only read. It ends with --verify's checks.
"""

import argparse
import errno
import math
import os
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image
from tqdm import tqdm

from helpers.lesson import MAX_PIXELS, ArgumentParser, LessonError, at_least, fail, seed_number
from helpers.lesson import check_writable_folder, not_a_file, open_image, path_arg, png_bytes
from helpers.lesson import atomic_path, refuse_overwrite, to_rgb, write_failure
from preprocessing import KINDS, MIN_SIDE, SPLITS, entries, pair_files
from preprocessing.demo import draw_demo_pair

SIDES = at_least(MIN_SIDE, below=math.isqrt(MAX_PIXELS) + 1)  # to 4096: open_image reads no more
ASPECT_TOLERANCE = 0.01  # a pair must be 2:1 (1024x512) within 1%
# --verify compares a split's folders. On Kaggle pairs, sketches have a colour spread (mean of max -
# min channel, / 255) of 0.000, 91-97% white; pale colour images 0.026-0.029, 10-22% white.
GAPS = np.array([0.01, 0.2])  # sketches/ this much greyer, or this much whiter, than colors/
LINE_ART = (0.01, 0.5)  # line art: a colour spread below 0.01 and at least 50% white paper
LABEL_SPREAD = 0.5  # label maps are saturated: the 12 CMP facade colours spread 0.56 to 1.0
AGAIN = "run the same command again: the pairs finished so far are kept"


def run_jobs(function, jobs, workers, desc):
    """function(job) for each job, results in order, in `workers` processes (this one for 1)."""
    bar = dict(total=len(jobs), desc=desc, unit="file", file=sys.stdout, leave=False)
    if workers == 1:
        yield from tqdm(map(function, jobs), **bar)
        return
    # Workers ignore Ctrl+C so that one message comes, from the main process (process_map can't).
    ignore = (signal.SIGINT, signal.SIG_IGN)
    with ProcessPoolExecutor(workers, initializer=signal.signal, initargs=ignore) as pool:
        yield from tqdm(pool.map(function, jobs, chunksize=4), **bar)


def write_file(data, path):
    """Write atomically; a full disk in one sentence (a name too long: OSError)."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise
        raise LessonError(f"{write_failure(exc, path)}, then {AGAIN}.") from None


def write_demo_pair(job):
    """Draw pair `index` of demo set `seed` into `path` unless it holds it (time stamp kept)."""
    seed, index, path = job
    data = png_bytes(draw_demo_pair(seed, index))
    if not (path.is_file() and path.read_bytes() == data):
        write_file(data, path)


def write_demo_set(root, output, count, seed, workers):
    """`count` pairs in root/train/ and val/ (a tenth), where nothing but this demo set is."""
    stamp = f"python preprocess_anime_sketches.py --demo {count} --seed {seed}"
    marker = root / "DEMO_SET.txt"
    drawn = any(root.glob("*/demo_*.png"))  # a marker alone is what a run stopped at once left
    if any(root.iterdir()) and not (marker.exists() and (stamp in marker.read_text() or not drawn)):
        fail(f"{root}/ holds files that are not this demo set; pass an empty --input folder.")
    if any(not p.name.startswith("demo_") for p in output.glob("*/*/*.png")):
        fail(f"{output}/ holds pairs that are not demo pairs; pass an empty --output folder.")
    n_val = max(1, round(count / 10)) if count >= 2 else 0  # Kaggle's 20% would leave less to learn
    splits = ["train"] * (count - n_val) + ["val"] * n_val
    jobs = [(seed, i, root / split / f"demo_{i:05d}.png") for i, split in enumerate(splits)]
    write_file(f"Synthetic pairs written by `{stamp}`.\n".encode(), marker)
    list(run_jobs(write_demo_pair, jobs, workers, "Drawing demo pairs"))
    print(f"Wrote {count} demo pairs ({count - n_val} train, {n_val} val) to {root}/")


def find_splits(root):
    """{'train': folder, 'val': folder} from the Kaggle layout (data/train) or the flat one."""
    hint = f"unzip Kaggle's 'Anime Sketch Colorization Pair' into {root}/ (giving {root}/data/"
    hint += "train/), or run `python preprocess_anime_sketches.py --demo 200`"
    if not root.is_dir():
        fail(f"{root}/ does not exist: {hint}.")
    base = root / "data" if (root / "data" / "train").is_dir() else root
    if not (base / "train").is_dir():
        nested = sorted(p for p in root.glob("*/*/train") if p.is_dir())  # unzipped too deep?
        where = f"; found {nested[0]}/, so pass --input {nested[0].parent.parent}" if nested else ""
        fail(f"{root}/ holds no train/ or data/train/ folder{where}: {hint}.")
    splits = {split: base / split for split in SPLITS if (base / split).is_dir()}
    if not any(None in entries(folder).values() for folder in splits.values()):
        fail(f"{base / 'train'}/ holds no images: {hint}.")
    return splits


def output_names(folder):
    """{entry: output name}: a.png and a.jpg become a_png and a_jpg; a clash left stops the run."""
    files = list(entries(folder))
    stems = Counter(p.stem for p in files)
    names = {p: p.stem if stems[p.stem] == 1 else f"{p.stem}_{p.suffix[1:].lower()}" for p in files}
    for name, count in Counter(names.values()).items():
        if count > 1:
            both = " and ".join(str(p) for p in files if names[p] == name)
            fail(f"{both} would both be written as {name}.png; rename one of them and run again.")
    return names


def is_done(path, size, not_before):
    """A finished output: not older than its input (which may have changed), good for --verify."""
    try:
        return path.stat().st_mtime >= not_before and look_of((path, size))[0] is None
    except OSError:  # missing, or a name too long (then writing it fails, and says so)
        return False


def process_pair(job):
    """colors/NAME.png = the LEFT half, sketches/NAME.png = the RIGHT half -> (status, src, note),
    status "written", "converted", "done" or "skipped" (with why). A full disk: LessonError."""
    src, out_split, name, size = job
    outputs = [out_split / "colors" / f"{name}.png", out_split / "sketches" / f"{name}.png"]
    try:
        if all(is_done(path, size, src.stat().st_mtime) for path in outputs):
            return "done", src, None
        image = open_image(src, "pair", "it is left out")  # as viewers show it (EXIF rotation)
    except LessonError as error:  # not an image, damaged, a folder, a FIFO, ...
        return "skipped", src, str(error)
    except OSError:  # a broken link or a link loop, or gone since the listing
        what = not_a_file(src)
        return "skipped", src, f"is {what}" if what else "was deleted while preprocessing ran"
    width, height = image.size
    if abs(width - 2 * height) > ASPECT_TOLERANCE * width or height < MIN_SIDE:
        return "skipped", src, f"{width}x{height}: not a 2:1 pair, or under {MIN_SIDE} pixels high"
    rgb, half = to_rgb(image), width // 2  # 16-bit grey scaled to 8 bits, transparency on white
    boxes = [(0, 0, half, height), (width - half, 0, width, height)]
    for box, path in zip(boxes, outputs, strict=True):
        # Lanczos, the sharpest of PIL's downscaling filters: thin sketch lines stay continuous.
        try:
            write_file(png_bytes(rgb.crop(box).resize((size, size), Image.LANCZOS)), path)
        except OSError:  # only ENAMETOOLONG comes through
            return "skipped", src, f"the output name {name}.png is too long for the file system"
    if image.mode == "RGB":
        return "written", src, None
    return "converted", src, f"{image.mode} converted to RGB"


def look_of(job):
    """(problem or None, colour spread, white share) of one processed image."""
    path, size = job
    try:
        image = open_image(path, "image", "run `python preprocess_anime_sketches.py` again")
    except LessonError as error:
        return str(error), 0.0, 0.0
    if image.size != (size, size) or image.mode != "RGB":
        return f"{path} is {image.mode} {image.width}x{image.height}, not RGB {size}x{size}", 0, 0
    pixels = np.asarray(image.reduce(max(1, size // 64)), dtype=np.int16)  # 64 px are enough
    spread = (pixels.max(axis=2) - pixels.min(axis=2)).mean() / 255.0
    return None, float(spread), float((pixels.min(axis=2) > 200).mean())


def orientation(split_dir, sketches, colors):
    """A problem or None, from each folder's median (colour spread, white share)."""
    forward = ((colors - sketches) * [1, -1] >= GAPS).any()  # sketches/ greyer or whiter
    backward = ((sketches - colors) * [1, -1] >= GAPS).any()  # colors/ greyer or whiter
    if forward and not backward:
        return None
    if forward or not backward:
        return f"{split_dir}: sketches/ and colors/ look alike: are these sketch/colour pairs?"
    if sketches[0] >= LABEL_SPREAD and not (colors[0] < LINE_ART[0] and colors[1] >= LINE_ART[1]):
        print(f"  {split_dir.name}: sketches/ holds label maps, colors/ photos: label -> photo")
        return None
    return (
        f"{split_dir}: sketches/ and colors/ look swapped; delete {split_dir.parent}/ and run again"
        " (the colour is the LEFT half), or swap the folders' names if your sketch is on the left"
    )


def verify(output, size, workers):
    """Check `output` as training reads it: a line per split, READY or the problems (status 2)."""
    problems = [] if (output / "train").is_dir() else [f"{output / 'train'}/ is missing"]
    totals = Counter()
    for split_dir in [output / split for split in SPLITS if (output / split).is_dir()]:
        pairs, lone, skipped = pair_files(split_dir)
        for kind in KINDS:
            totals[kind] += len(pairs) + sum(p.parent.name == kind for p, _ in lone)
        problems += [f"{p} has no partner in {q.parent}/" for p, q in lone[:10]]
        problems += [f"{p} is {what}, not an image file (training skips it)" for p, what in skipped]
        if not pairs:
            problems.append(f"{split_dir}/ holds no complete pairs")
            continue
        jobs = [(path, size) for pair in pairs for path in pair]  # KINDS order: sketch first
        looks = list(run_jobs(look_of, jobs, workers, f"Verifying {split_dir.name}"))
        problems += [look[0] for look in looks if look[0]][:10]
        sketches = np.median([look[1:] for look in looks[0::2]], axis=0)
        colors = np.median([look[1:] for look in looks[1::2]], axis=0)
        white = f"white sketches {sketches[1]:.0%}, colors {colors[1]:.0%}"
        spread = f"colour spread sketches {sketches[0]:.3f}, colors {colors[0]:.3f}"
        print(f"  {split_dir.name}: {len(pairs)} pairs; {spread}; {white}")
        problems += [problem for problem in [orientation(split_dir, sketches, colors)] if problem]
    print(f"Sketch images: {totals['sketches']}\nColor images: {totals['colors']}")
    for problem in problems:
        print(f"  problem: {problem}")
    if problems:
        print("Status: NOT READY for training")
        fail(f"{len(problems)} problem(s) listed above; fix them, then run this script again.")
    print("Status: READY for training")


def preprocess(args):
    """Split every pair of --input into --output: a line per file skipped or converted, counts."""
    refuse_overwrite(args.output, [args.input])
    for flag, folder in [("--output", args.output)] + [("--input", args.input)] * bool(args.demo):
        if problem := check_writable_folder(folder):  # in the first second, not after an hour
            fail(f"cannot write into {flag} {folder} ({problem}); choose another {flag}.")
    if args.demo:
        write_demo_set(args.input, args.output, args.demo, args.seed, args.workers)
    splits = find_splits(args.input)
    jobs, counts = [], []
    for split, folder in splits.items():
        names = output_names(folder)
        jobs += [(src, args.output / split, name, args.size) for src, name in names.items()]
        counts.append(f"{split}: {len(names)}")
        for kind in KINDS:
            (args.output / split / kind).mkdir(parents=True, exist_ok=True)
            for stale in (args.output / split / kind).glob(".*.part"):  # from a killed run
                stale.unlink()
        earlier = {p.stem for p in (args.output / split / "colors").glob("*.png")}
        if extra := len(earlier - set(names.values())):
            print(
                f"note: {args.output / split}/ also holds {extra} pairs not in {folder}/ (an "
                f"earlier run's?); delete {args.output}/ to start clean."
            )
    print(f"Found {len(jobs)} images to process in {splits['train'].parent}/ ({', '.join(counts)})")
    if "val" not in splits:
        print("No val/ split in the input: none is made here; exercise3_train.py holds out 5%.")
    tally, start = Counter(), time.time()
    for status, src, note in run_jobs(process_pair, jobs, args.workers, "Processing"):
        tally[status] += 1
        if note:
            tqdm.write(f"{status} {src}: {note}", file=sys.stdout)
    seconds, new = time.time() - start, tally["written"] + tally["converted"]
    print(
        f"Processing complete in {seconds:.1f} s ({new / max(seconds, 1e-9):.1f} new pairs/s): "
        f"{new} written ({tally['converted']} converted), {tally['done']} already done, "
        f"{tally['skipped']} skipped\nSaved to {args.output}/"
    )


def main(argv=None):
    from pix2pix_models import IMAGE_SIZE  # here, not at the top: the workers need no torch

    defaults = argparse.ArgumentDefaultsHelpFormatter
    parser = ArgumentParser(description=__doc__.split("\n")[0], formatter_class=defaults)
    # The cores this process may use (a container or `taskset` may allow fewer than exist).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    add = parser.add_argument
    add("--input", type=path_arg, default="anime_sketch_dataset", help="holds data/train or train/")
    add("--output", type=path_arg, default="anime_processed", help="{train,val}/{sketches,colors}")
    add("--size", type=SIDES, default=IMAGE_SIZE, help="side of the square outputs, in pixels")
    add("--workers", type=at_least(1), default=cores, help="processes, at most one per core")
    add("--verify", action="store_true", help="only check --output: pairs, sizes, which is which")
    add("--demo", type=at_least(1, below=100_001), metavar="N", help="first draw N into --input")
    add("--seed", type=seed_number, default=0, help="--demo: the same seed writes the same bytes")
    args = parser.parse_args(argv)
    if args.workers > cores:  # more processes than cores only wait for each other
        print(f"note: --workers {args.workers} is more than the {cores} cores; using {cores}")
        args.workers = cores
    size = f"{args.size}x{args.size}"
    print(f"Input: {args.input}/  Output: {args.output}/  Size: {size}  Workers: {args.workers}")
    try:
        if not args.verify:
            preprocess(args)
        verify(args.output, args.size, args.workers)
    except LessonError as exc:
        fail(str(exc))
    except OSError as exc:  # a file where an output folder should be, say
        fail(f"{write_failure(exc, exc.filename)}, then {AGAIN}.")
    except KeyboardInterrupt:
        fail(f"interrupted; {AGAIN}.", 130)


if __name__ == "__main__":
    main()
