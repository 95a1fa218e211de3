"""Split the Kaggle anime sketch/colour pairs into the folders Exercise 3 trains on.

    python preprocess_anime_sketches.py              # anime_sketch_dataset/ -> anime_processed/
    python preprocess_anime_sketches.py --demo 200   # no Kaggle account: 200 synthetic pairs first
    python preprocess_anime_sketches.py --verify     # check anime_processed/ before training

Reads `--input` laid out as the Kaggle zip (`data/train/*.png`, `data/val/*.png`) or as
`train/*.png` (+ optional `val/*.png`). Each pair is 1024x512 RGB: the COLOUR image on the LEFT
half, the line SKETCH on the RIGHT half. Writes `--output/{train,val}/colors/NAME.png` (left
halves) and `--output/{train,val}/sketches/NAME.png` (right halves), `--size` x `--size` RGB PNGs.
Splits are copied as they are: with no val/ in the input none is made here (exercise3_train.py
holds out 5%). A re-run skips finished pairs, so an interrupted run completes; the input is only
ever read. Each pair is split by preprocessing/pairs.py; the run ends with the checks of --verify.
A pair that cannot be made (not an image, not 2:1, too small, deleted meanwhile, an output name too
long) is skipped and named; a full disk stops the run with one sentence, the finished pairs kept.
"""

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from helpers.lesson import ArgumentParser, LessonError, at_least, fail, seed_number, shown
from helpers.lesson import check_writable_folder
from preprocessing.demo_set import write_demo_set
from preprocessing.jobs import cpu_cores, run_jobs
from preprocessing import KINDS, MIN_SIDE, SPLITS, list_files, not_files
from preprocessing.pairs import process_pair
from preprocessing.verify import report, verify

HINT = (
    "download the Kaggle 'Anime Sketch Colorization Pair' dataset and unzip it into {root}/ (so "
    "that {root}/data/train/ holds the PNGs), or run `python preprocess_anime_sketches.py --demo "
    "200` for a synthetic set"
)


def find_splits(root):
    """{'train': folder, 'val': folder} from the Kaggle layout (data/train) or the flat one."""
    hint = HINT.format(root=root)
    if not root.is_dir():
        fail(f"{root}/ does not exist: {hint}.")
    base = root / "data" if (root / "data" / "train").is_dir() else root
    if not (base / "train").is_dir():
        nested = sorted(p for p in root.glob("*/*/train") if p.is_dir())  # unzipped too deep?
        where = f"; found {nested[0]}/, so pass --input {nested[0].parent.parent}" if nested else ""
        fail(f"{root}/ holds no train/ or data/train/ folder{where}: {hint}.")
    splits = {split: base / split for split in SPLITS if (base / split).is_dir()}
    if not any(list_files(folder) for folder in splits.values()):
        fail(f"{base / 'train'}/ holds no images: {hint}.")
    return splits


def output_names(files):
    """{file: output name (no suffix)}: the file's stem, or stem_suffix where two files share a
    stem (a.png and a.jpg would both become a.png, and one pair would be lost). Fails on a clash
    left over."""
    stems = [p.stem for p in files]
    names = {}
    for p in files:
        names[p] = p.stem if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix[1:].lower()}"
    taken = list(names.values())
    clashes = sorted(name for name in set(taken) if taken.count(name) > 1)
    if clashes:
        both = " and ".join(shown(p) for p in files if names[p] == clashes[0])
        fail(f"{both} would both be written as {clashes[0]}.png; rename one of them and run again.")
    return names


def check_writable(args):
    """Stop in the first second, not after an hour, if an output folder cannot be written."""
    folders = {"--output": args.output}
    if args.demo is not None:
        folders["--input"] = args.input  # --demo writes its pairs there
    for flag, folder in folders.items():
        problem = check_writable_folder(folder)
        if problem:
            fail(f"cannot write into {flag} {shown(folder)} ({problem}); choose another {flag}.")


def prepare_output(output, splits):
    """Make the output folders and delete the temporary files a killed run left there."""
    for split in splits:
        for kind in KINDS:
            folder = output / split / kind
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file of that name, say
                raise LessonError(
                    f"cannot make {shown(folder)}/ ({exc.strerror}); choose another --output."
                ) from None
            for stale in folder.glob(".*.part"):
                stale.unlink()


def process_all(jobs, workers):
    """Run process_pair on every job; one line per file skipped or converted. -> counts."""
    tally = dict.fromkeys(("written", "converted", "done", "skipped"), 0)
    start = time.time()
    for status, src, note in run_jobs(process_pair, jobs, workers, "Processing"):
        tally[status] += 1
        if note:
            tqdm.write(f"{status} {shown(src)}: {note}", file=sys.stdout)
    seconds = time.time() - start
    new = tally["written"] + tally["converted"]
    print(
        f"Processing complete in {seconds:.1f} s ({new / max(seconds, 1e-9):.1f} new pairs/s): "
        f"{new} written ({tally['converted']} converted), {tally['done']} already done, "
        f"{tally['skipped']} skipped"
    )


def note_extra_pairs(args, splits, jobs):
    """Say so if --output holds pairs that this --input did not make (an earlier run's)."""
    for split in splits:
        made = {name for _, out, name, _ in jobs if out.name == split}
        extra = {p.stem for p in (args.output / split / "colors").glob("*.png")} - made
        if extra:
            print(
                f"note: {args.output / split}/ also holds {len(extra)} pairs that are not in "
                f"{args.input}/ (from an earlier run?); delete {args.output}/ to start clean."
            )


def parse_args(argv):
    from pix2pix_models import IMAGE_SIZE  # not at the top: the worker processes need no torch

    parser = ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=Path("anime_sketch_dataset"),
        help="holds data/train (+ data/val) as unzipped from Kaggle, or train/ (+ val/)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("anime_processed"),
        help="receives {train,val}/{sketches,colors}/NAME.png",
    )
    parser.add_argument(
        "--size",
        type=at_least(MIN_SIDE),
        default=IMAGE_SIZE,
        help="side of the square outputs (pix2pix)",
    )
    parser.add_argument(
        "--workers",
        type=at_least(1),
        default=cpu_cores(),
        help="parallel processes, at most one per core (all cores)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="only check --output: complete pairs, sizes, which folder holds the sketches",
    )
    parser.add_argument(
        "--demo",
        type=at_least(1),
        metavar="N",
        help="first write N synthetic pairs in the Kaggle format into --input (an empty or demo "
        "folder), then preprocess them",
    )
    parser.add_argument(
        "--seed",
        type=seed_number,
        default=0,
        help="--demo: the same seed (0 to 2**32 - 1) writes the same bytes",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cores = cpu_cores()
    if args.workers > cores:  # more processes than cores only wait for each other
        print(f"note: --workers {args.workers} is more than the {cores} cores; using {cores}")
        args.workers = cores
    size = f"{args.size}x{args.size}"
    print(f"Input: {args.input}/  Output: {args.output}/  Size: {size}  Workers: {args.workers}")
    try:
        if args.verify:
            print(f"Verifying {args.output}/")
            report(verify(args.output, args.size, args.workers))
            return
        preprocess(args)
    except LessonError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        again = "run the same command again to finish"
        fail(f"interrupted; the pairs finished so far are kept: {again}.", 130)


def preprocess(args):
    check_writable(args)
    if args.demo is not None:
        write_demo_set(args.input, args.output, args.demo, args.seed, args.workers)
    splits = find_splits(args.input)
    jobs = []
    counts = []
    for split, folder in splits.items():
        # Folders and FIFOs too: each is reported as skipped, never opened.
        entries = sorted(list_files(folder) + [entry for entry, _ in not_files(folder)])
        names = output_names(entries)
        jobs += [(src, args.output / split, name, args.size) for src, name in names.items()]
        counts.append(f"{split}: {len(names)}")
    print(f"Found {len(jobs)} images to process in {splits['train'].parent}/ ({', '.join(counts)})")
    if "val" not in splits:
        print("No val/ split in the input: none is made here; exercise3_train.py holds out 5%.")
    prepare_output(args.output, splits)
    process_all(jobs, args.workers)
    note_extra_pairs(args, splits, jobs)
    print(f"Saved to {args.output}/")
    report(verify(args.output, args.size, args.workers))


if __name__ == "__main__":
    main()
