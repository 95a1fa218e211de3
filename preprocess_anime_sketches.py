"""Split the Kaggle anime sketch/colour pairs into the folders Exercise 3 trains on.

    python preprocess_anime_sketches.py              # anime_sketch_dataset/ -> anime_processed/
    python preprocess_anime_sketches.py --demo 200   # no Kaggle account: 200 synthetic pairs, then the same
    python preprocess_anime_sketches.py --verify     # check anime_processed/ before training

Reads `--input` laid out as the Kaggle zip (`data/train/*.png`, `data/val/*.png`) or as `train/*.png`
(+ optional `val/*.png`). Each pair is 1024x512 RGB: the COLOUR image on the LEFT half, the line
SKETCH on the RIGHT half. Writes `--output/{train,val}/colors/NAME.png` (left halves) and
`--output/{train,val}/sketches/NAME.png` (right halves), `--size` x `--size` RGB PNGs. Splits are
copied as they are: with no val/ in the input none is made here (exercise3_train.py holds out 5%).
A re-run skips finished pairs, so an interrupted run completes; the input is only ever read.
"""

import argparse
import os
import signal
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from helpers.anime_demo import PAIR_SIZE, draw_demo_pair
from helpers.cli import ArgumentParser, LessonError, at_least, fail, shown
from helpers.files import check_writable_folder, write_bytes_atomic
from helpers.images import READ_ERRORS, open_image, png_bytes, to_rgb

SPLITS = ("train", "val")
KINDS = ("sketches", "colors")
DEMO_MARKER = "DEMO_SET.txt"  # marks a folder written by --demo, so --demo never writes over real data
DEMO_VAL_FRACTION = 0.1  # Kaggle holds out 20%; 10% leaves a small demo set more to train on
ASPECT_TOLERANCE = 0.01  # a pair must be 2:1 (1024x512) within 1%
# --verify tells sketches from colour images by comparing the two folders of a split, not by fixed bars:
# measured on Kaggle pairs, sketches have a colour spread (mean of max - min channel, / 255) of 0.000 and
# are 91-97% white paper; even pale colour images (spread 0.026-0.029) are only 10-22% white.
MIN_SPREAD_GAP = 0.01  # sketches/ this much greyer than colors/ ...
MIN_WHITE_GAP = 0.2  # ... or this much whiter (a share of the pixels) tells the folders apart
HINT = ("download the Kaggle 'Anime Sketch Colorization Pair' dataset and unzip it into {root}/ (so that "
        "{root}/data/train/ holds the PNGs), or run `python preprocess_anime_sketches.py --demo 200` "
        "for a synthetic set")


def list_files(folder):
    """Every visible file in `folder`, sorted (hidden ones such as .DS_Store are not data)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def find_splits(root):
    """{'train': folder, 'val': folder} from the Kaggle layout (data/train) or the flat one (train/)."""
    if not root.is_dir():
        fail(f"{root}/ does not exist: {HINT.format(root=root)}.")
    base = root / "data" if (root / "data" / "train").is_dir() else root
    if not (base / "train").is_dir():
        nested = sorted(p for p in root.glob("*/*/train") if p.is_dir())  # e.g. unzipped one level too deep
        where = f"; found {nested[0]}/, so pass --input {nested[0].parent.parent}" if nested else ""
        fail(f"{root}/ holds no train/ or data/train/ folder{where}: {HINT.format(root=root)}.")
    splits = {split: base / split for split in SPLITS if (base / split).is_dir()}
    if not any(list_files(folder) for folder in splits.values()):
        fail(f"{base / 'train'}/ holds no images: {HINT.format(root=root)}.")
    return splits


def is_done(path, size, not_before):
    """A finished output: present, not older than its input, and a size x size RGB PNG."""
    try:
        if path.stat().st_mtime < not_before:
            return False  # the input changed since it was written (say, a new demo set): redo it
        with Image.open(path) as image:
            return image.size == (size, size) and image.mode == "RGB"
    except READ_ERRORS:
        return False


def output_names(files):
    """{file: output name (no suffix)}: the file's stem, or stem_suffix where two files share a stem
    (a.png and a.jpg both become a.png otherwise, and one pair would be lost). Fails on a clash left over."""
    stems = [p.stem for p in files]
    names = {p: p.stem if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix[1:].lower()}" for p in files}
    clashes = sorted(name for name in set(names.values()) if list(names.values()).count(name) > 1)
    if clashes:
        both = [shown(p) for p in files if names[p] == clashes[0]]
        fail(f"{' and '.join(both)} would both be written as {clashes[0]}.png; rename one of them and run again.")
    return names


def process_pair(job):
    """Split one pair into colour (left half) and sketch (right half). Returns (status, file, note)."""
    src, out_split, name, size = job
    color_out, sketch_out = (out_split / kind / f"{name}.png" for kind in ("colors", "sketches"))
    if all(is_done(path, size, src.stat().st_mtime) for path in (color_out, sketch_out)):
        return "done", src, None
    try:
        image = open_image(src, "pair", "it is left out")
    except LessonError as error:
        return "skipped", src, str(error)
    width, height = image.size
    if abs(width - 2 * height) > ASPECT_TOLERANCE * width:
        return "skipped", src, f"{width}x{height} is not a 2:1 pair like %dx%d" % PAIR_SIZE
    rgb = to_rgb(image)  # 16-bit grey scaled to 8 bits, transparency on white paper
    note = None if image.mode == "RGB" else f"{image.mode} converted to RGB"
    half = width // 2
    # Lanczos: the sharpest of PIL's downscaling filters; thin sketch lines stay continuous and dark.
    color = rgb.crop((0, 0, half, height)).resize((size, size), Image.Resampling.LANCZOS)
    sketch = rgb.crop((width - half, 0, width, height)).resize((size, size), Image.Resampling.LANCZOS)
    write_bytes_atomic(png_bytes(color), color_out)
    write_bytes_atomic(png_bytes(sketch), sketch_out)
    return ("converted" if note else "written"), src, note


def look_of(job):
    """(problem or None, colour spread, white fraction) of one processed image."""
    path, size = job
    try:
        image = open_image(path, "image", "run `python preprocess_anime_sketches.py` again")
    except LessonError as error:
        return str(error), 0.0, 0.0
    if image.size != (size, size) or image.mode != "RGB":
        return f"is {image.mode} {image.size[0]}x{image.size[1]}, expected RGB {size}x{size}", 0.0, 0.0
    pixels = np.asarray(image.reduce(max(1, size // 64)), dtype=np.int16)  # 64 px are enough
    spread = (pixels.max(axis=2) - pixels.min(axis=2)).mean() / 255.0
    return None, float(spread), float((pixels.min(axis=2) > 200).mean())


def run_jobs(function, jobs, workers, desc, leave=True):
    """function(job) for every job, in `workers` processes (in this one for 1), with a progress bar."""
    bar = dict(total=len(jobs), desc=desc, unit="file", file=sys.stdout, mininterval=1.0, leave=leave)
    if workers == 1:
        yield from tqdm(map(function, jobs), **bar)
        return
    # Workers ignore Ctrl+C: the main process alone stops them, so there is one message, not one per worker.
    with Pool(workers, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)) as pool:
        yield from tqdm(pool.imap(function, jobs, chunksize=4), **bar)


def verify(output, size, workers):
    """Check `output` as training will read it; print a line per split. Returns the problems found."""
    problems, totals = [], dict.fromkeys(KINDS, 0)
    for split in SPLITS:
        if not (output / split).is_dir():
            if split == "train":
                problems.append(f"{output / split}/ is missing: run `python preprocess_anime_sketches.py`")
            continue
        folders = {kind: output / split / kind for kind in KINDS}
        names = {kind: {p.name for p in list_files(f) if p.suffix == ".png"} if f.is_dir() else set()
                 for kind, f in folders.items()}
        for kind, other in (KINDS, KINDS[::-1]):
            totals[kind] += len(names[kind])
            problems += [f"{folders[kind] / name} has no partner in {folders[other]}/"
                         for name in sorted(names[kind] - names[other])[:5]]
        pairs = sorted(names["sketches"] & names["colors"])
        if not pairs:
            problems.append(f"{output / split}/ holds no complete pairs")
            continue
        jobs = [(folders[kind] / name, size) for name in pairs for kind in KINDS]
        looks = list(run_jobs(look_of, jobs, workers, f"Verifying {split}", leave=False))
        problems += [f"{path}: {look[0]}" for (path, _), look in zip(jobs, looks) if look[0]][:10]
        sketch_spread, sketch_white = np.median([look[1:] for look in looks[0::2]], axis=0)
        color_spread, color_white = np.median([look[1:] for look in looks[1::2]], axis=0)
        print(f"  {split}: {len(pairs)} pairs; colour spread sketches {sketch_spread:.3f}, colors "
              f"{color_spread:.3f}; white sketches {sketch_white:.0%}, colors {color_white:.0%}")
        # Each sign that sketches/ holds the greyer, whiter images (or, backward, colors/ does) counts once.
        forward = (color_spread - sketch_spread >= MIN_SPREAD_GAP) + (sketch_white - color_white >= MIN_WHITE_GAP)
        backward = (sketch_spread - color_spread >= MIN_SPREAD_GAP) + (color_white - sketch_white >= MIN_WHITE_GAP)
        if backward and not forward:
            problems.append(f"{output / split}: sketches/ and colors/ look swapped (colors/ holds the greyer, "
                            f"whiter images); delete {output}/ and run this script again (it takes the "
                            "colour from the LEFT half, as in the Kaggle pairs), or, if your own pairs have "
                            "the sketch on the left, swap the names of the two folders")
        elif not forward or backward:
            problems.append(f"{output / split}: sketches/ and colors/ look alike (neither is clearly greyer and "
                            "whiter); check that --input holds sketch/colour pairs")
    print(f"Sketch images: {totals['sketches']}\nColor images: {totals['colors']}")
    return problems


def report(problems):
    """The last line: READY, or the problems and the NOT READY verdict (exit code 2)."""
    for problem in problems:
        print(f"  problem: {problem}")
    if problems:
        print("Status: NOT READY for training")
        fail(f"{len(problems)} problem(s) listed above; fix them, then run this script again.")
    print("Status: READY for training")


def demo_job(job):
    seed, index, path = job
    data = png_bytes(draw_demo_pair(seed, index))
    if not (path.exists() and path.read_bytes() == data):  # an unchanged file keeps its mtime: no redo
        write_bytes_atomic(data, path)


def write_demo_set(root, output, count, seed, workers):
    """--demo: `count` pairs in the Kaggle format under root/{train,val}/, refusing to mix with other data."""
    marker, stamp = root / DEMO_MARKER, f"python preprocess_anime_sketches.py --demo {count} --seed {seed}"
    if root.is_dir() and any(root.iterdir()) and not marker.exists():
        fail(f"{root}/ already holds files that are not a demo set; refusing to write demo pairs into it: pass "
             "an empty folder, e.g. --input anime_demo_dataset --output anime_demo_processed.")
    if marker.exists() and stamp not in marker.read_text():
        fail(f"{root}/ holds another demo set ({marker.read_text().strip()}); delete {root}/ and {output}/ "
             "first, or pass other --input and --output folders.")
    theirs = [p for p in output.glob("*/*/*.png") if not p.name.startswith("demo_")]
    if theirs:
        fail(f"{output}/ already holds pairs that are not demo pairs (e.g. {theirs[0]}); pass another "
             "folder, e.g. --output anime_demo_processed.")
    n_val = max(1, round(count * DEMO_VAL_FRACTION)) if count >= 2 else 0
    jobs = [(seed, i, root / ("val" if i >= count - n_val else "train") / f"demo_{i:05d}.png")
            for i in range(count)]
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(f"Synthetic pairs written by `{stamp}`.\n".encode(), marker)
    start = time.time()
    for _ in run_jobs(demo_job, jobs, workers, "Drawing demo pairs"):
        pass
    print(f"Wrote {count} demo pairs ({count - n_val} train, {n_val} val) to {root}/ "
          f"in {time.time() - start:.1f} s")


def parse_args(argv):
    from pix2pix_models import IMAGE_SIZE  # here, not at the top: the worker processes need no torch

    parser = ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--input", type=Path, default=Path("anime_sketch_dataset"),
                        help="holds data/train (+ data/val) as unzipped from Kaggle, or train/ (+ val/)")
    parser.add_argument("--output", type=Path, default=Path("anime_processed"),
                        help="receives {train,val}/{sketches,colors}/NAME.png")
    parser.add_argument("--size", type=at_least(8), default=IMAGE_SIZE, help="side of the square outputs (pix2pix: 256)")
    parser.add_argument("--workers", type=at_least(1), default=os.cpu_count(), help="parallel processes (all cores)")
    parser.add_argument("--verify", action="store_true",
                        help="only check --output: complete pairs, sizes, which folder holds the sketches")
    parser.add_argument("--demo", type=at_least(1), metavar="N", help="first write N synthetic pairs in the Kaggle "
                        "format into --input (an empty or demo folder), then preprocess them")
    parser.add_argument("--seed", type=int, default=0, help="--demo: the same seed writes the same bytes")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    print(f"Input: {args.input}/  Output: {args.output}/  Size: {args.size}x{args.size}  "
          f"Workers: {args.workers}")
    if args.verify:
        print(f"Verifying {args.output}/")
        report(verify(args.output, args.size, args.workers))
        return
    for folder, flag in ((args.output, "--output"), (args.input if args.demo else None, "--input")):
        problem = folder and check_writable_folder(folder)  # before any work, not after it
        if problem:
            fail(f"cannot write into {flag} {shown(folder)} ({problem}); choose another {flag}.")
    if args.demo is not None:
        write_demo_set(args.input, args.output, args.demo, args.seed, args.workers)
    splits = find_splits(args.input)
    jobs = [(src, args.output / split, name, args.size)
            for split, folder in splits.items() for src, name in output_names(list_files(folder)).items()]
    counts = ", ".join(f"{split}: {sum(out.name == split for _, out, _, _ in jobs)}" for split in splits)
    print(f"Found {len(jobs)} images to process in {splits['train'].parent}/ ({counts})")
    if "val" not in splits:
        print("No val/ split in the input: none is made here; exercise3_train.py holds out 5% of train.")
    for split in splits:
        for kind in KINDS:
            (args.output / split / kind).mkdir(parents=True, exist_ok=True)
            for stale in (args.output / split / kind).glob(".*.part"):  # temp files of a killed run
                stale.unlink()
    tally = dict.fromkeys(("written", "converted", "done", "skipped"), 0)
    start = time.time()
    try:
        for status, src, note in run_jobs(process_pair, jobs, args.workers, "Processing"):
            tally[status] += 1
            if note:
                tqdm.write(f"{status} {src}: {note}", file=sys.stdout)
    except KeyboardInterrupt:
        fail("interrupted; the pairs finished so far are kept: run the same command again to finish.", 130)
    seconds, new = time.time() - start, tally["written"] + tally["converted"]
    print(f"Processing complete in {seconds:.1f} s ({new / max(seconds, 1e-9):.1f} new pairs/s): {new} written "
          f"({tally['converted']} converted), {tally['done']} already done, {tally['skipped']} skipped")
    for split in splits:
        extra = ({p.stem for p in (args.output / split / "colors").glob("*.png")}
                 - {name for _, out, name, _ in jobs if out.name == split})
        if extra:
            print(f"note: {args.output / split}/ also holds {len(extra)} pairs that are not in {args.input}/ "
                  f"(from an earlier run?); delete {args.output}/ to start clean.")
    print(f"Saved to {args.output}/")
    report(verify(args.output, args.size, args.workers))


if __name__ == "__main__":
    main()
