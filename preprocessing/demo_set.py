"""--demo: synthetic pairs in the Kaggle format, for running Exercise 3 with no download.

    python preprocess_anime_sketches.py --demo 200   # anime_sketch_dataset/{train,val}/demo_N.png

Each pair is drawn by helpers/anime_demo.py; the same --seed writes the same bytes. A marker file
says which command wrote the folder, so --demo never writes over real data or mixes two demo sets;
a marker with no pair drawn yet (a run stopped at once) blocks nothing.
"""

import time

from helpers.anime_demo import draw_demo_pair
from helpers.lesson import LessonError, fail
from helpers.lesson import write_bytes_atomic, write_failure
from helpers.lesson import png_bytes
from preprocessing.jobs import run_jobs
from preprocessing import SPLITS

MARKER = "DEMO_SET.txt"  # in --input: the folder holds a demo set, written by the command inside
VAL_FRACTION = 0.1  # Kaggle holds out 20%; 10% leaves a small demo set more to train on


def write_demo_pair(job):
    """Draw pair `index` of demo set `seed` into `path`, unless the file already holds it."""
    seed, index, path = job
    data = png_bytes(draw_demo_pair(seed, index))
    if path.is_file() and path.read_bytes() == data:
        return  # an unchanged file keeps its time stamp, so its processed pair is not redone
    write_file(data, path)


def write_file(data, path):
    """write_bytes_atomic, with a full disk in one sentence (LessonError)."""
    try:
        write_bytes_atomic(data, path)
    except OSError as exc:
        again = "run the same command again: the pairs drawn so far are kept"
        raise LessonError(f"{write_failure(exc, path)}, then {again}.") from None


def refuse_other_data(root, output, stamp):
    """Stop (one sentence) if `root` or `output` holds anything but this very demo set."""
    marker = root / MARKER
    if root.is_dir() and any(root.iterdir()) and not marker.exists():
        fail(
            f"{root}/ already holds files that are not a demo set; refusing to write demo pairs "
            "into it: pass an empty folder, e.g. --input anime_demo_dataset "
            "--output anime_demo_processed."
        )
    drawn = any(root.glob("*/demo_*.png"))  # a marker alone is what a run stopped at once left
    if drawn and marker.exists() and stamp not in marker.read_text():
        fail(
            f"{root}/ holds another demo set ({marker.read_text().strip()}); delete {root}/ and "
            f"{output}/ first, or pass other --input and --output folders."
        )
    theirs = [p for p in output.glob("*/*/*.png") if not p.name.startswith("demo_")]
    if theirs:
        fail(
            f"{output}/ already holds pairs that are not demo pairs (e.g. {theirs[0]}); pass "
            "another folder, e.g. --output anime_demo_processed."
        )


def write_demo_set(root, output, count, seed, workers):
    """`count` pairs in the Kaggle format under root/{train,val}/; the last tenth is val."""
    stamp = f"python preprocess_anime_sketches.py --demo {count} --seed {seed}"
    refuse_other_data(root, output, stamp)
    n_val = max(1, round(count * VAL_FRACTION)) if count >= 2 else 0
    jobs = []
    for index in range(count):
        split = "val" if index >= count - n_val else "train"
        jobs.append((seed, index, root / split / f"demo_{index:05d}.png"))
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
    write_file(f"Synthetic pairs written by `{stamp}`.\n".encode(), root / MARKER)
    start = time.time()
    for _ in run_jobs(write_demo_pair, jobs, workers, "Drawing demo pairs"):
        pass
    seconds = time.time() - start
    print(
        f"Wrote {count} demo pairs ({count - n_val} train, {n_val} val) to {root}/ "
        f"in {seconds:.1f} s"
    )
