"""--verify: anime_processed/ checked as training will read it; a line per split and a verdict.

    python preprocess_anime_sketches.py --verify   # also the last step of every preprocessing run

1. train/ exists and every split holds complete pairs (the first five strays of a kind named);
2. every image opens and is a --size x --size RGB image (the first ten problems named);
3. sketches/ holds the sketches: greyer and whiter than colors/, not the other way round.
"""

import numpy as np

from helpers.cli import LessonError, fail
from helpers.images import open_image
from preprocessing.jobs import KINDS, SPLITS, list_files, run_jobs

# The folders of a split are compared with each other, not held to fixed bars. Measured on Kaggle
# pairs, sketches have a colour spread (mean of max - min channel, / 255) of 0.000 and are 91-97%
# white paper; even pale colour images (spread 0.026-0.029) are only 10-22% white.
MIN_SPREAD_GAP = 0.01  # sketches/ this much greyer than colors/ ...
MIN_WHITE_GAP = 0.2  # ... or this much whiter (a share of the pixels) tells the folders apart
AGAIN = "run `python preprocess_anime_sketches.py` again"


def look_of(job):
    """(problem or None, colour spread, white share) of one processed image."""
    path, size = job
    try:
        image = open_image(path, "image", AGAIN)
    except LessonError as error:
        return str(error), 0.0, 0.0
    if image.size != (size, size) or image.mode != "RGB":
        width, height = image.size
        return f"is {image.mode} {width}x{height}, expected RGB {size}x{size}", 0.0, 0.0
    pixels = np.asarray(image.reduce(max(1, size // 64)), dtype=np.int16)  # 64 px are enough
    spread = (pixels.max(axis=2) - pixels.min(axis=2)).mean() / 255.0
    white = (pixels.min(axis=2) > 200).mean()
    return None, float(spread), float(white)


def png_names(folder):
    return {p.name for p in list_files(folder) if p.suffix == ".png"} if folder.is_dir() else set()


def orientation_problem(split_dir, sketches, colors):
    """None if sketches/ holds the greyer, whiter images; else why the two folders look wrong.
    `sketches` and `colors` are each folder's median (colour spread, white share)."""
    greyer = colors[0] - sketches[0]  # > 0 where sketches/ is the greyer folder
    whiter = sketches[1] - colors[1]  # > 0 where sketches/ is the whiter folder
    # Each sign that sketches/ holds the greyer, whiter images (or, backward, colors/ does) counts.
    forward = (greyer >= MIN_SPREAD_GAP) + (whiter >= MIN_WHITE_GAP)
    backward = (-greyer >= MIN_SPREAD_GAP) + (-whiter >= MIN_WHITE_GAP)
    if backward and not forward:
        output = split_dir.parent
        return (
            f"{split_dir}: sketches/ and colors/ look swapped (colors/ holds the greyer, whiter "
            f"images); delete {output}/ and run this script again (it takes the colour from the "
            "LEFT half, as in the Kaggle pairs), or, if your own pairs have the sketch on the "
            "left, swap the names of the two folders"
        )
    if not forward or backward:
        return (
            f"{split_dir}: sketches/ and colors/ look alike (neither is clearly greyer and "
            "whiter); check that --input holds sketch/colour pairs"
        )
    return None


def verify_split(split_dir, size, workers, totals):
    """The problems of one split; prints its medians and adds its image counts to `totals`."""
    folders = {kind: split_dir / kind for kind in KINDS}
    names = {kind: png_names(folder) for kind, folder in folders.items()}
    problems = []
    for kind, other in (KINDS, KINDS[::-1]):
        totals[kind] += len(names[kind])
        for name in sorted(names[kind] - names[other])[:5]:
            problems.append(f"{folders[kind] / name} has no partner in {folders[other]}/")
    pairs = sorted(names["sketches"] & names["colors"])
    if not pairs:
        return problems + [f"{split_dir}/ holds no complete pairs"]
    jobs = [(folders[kind] / name, size) for name in pairs for kind in KINDS]
    looks = list(run_jobs(look_of, jobs, workers, f"Verifying {split_dir.name}", leave=False))
    broken = [f"{path}: {look[0]}" for (path, _), look in zip(jobs, looks, strict=True) if look[0]]
    problems += broken[:10]
    sketches = np.median([look[1:] for look in looks[0::2]], axis=0)  # KINDS order: sketch first
    colors = np.median([look[1:] for look in looks[1::2]], axis=0)
    print(
        f"  {split_dir.name}: {len(pairs)} pairs; colour spread sketches {sketches[0]:.3f}, "
        f"colors {colors[0]:.3f}; white sketches {sketches[1]:.0%}, colors {colors[1]:.0%}"
    )
    problem = orientation_problem(split_dir, sketches, colors)
    return problems + ([problem] if problem else [])


def verify(output, size, workers):
    """Check `output` as training will read it; print a line per split. Returns the problems."""
    problems = []
    if not (output / "train").is_dir():
        problems.append(
            f"{output / 'train'}/ is missing: run `python preprocess_anime_sketches.py`"
        )
    totals = dict.fromkeys(KINDS, 0)
    for split in SPLITS:
        if (output / split).is_dir():
            problems += verify_split(output / split, size, workers, totals)
    print(f"Sketch images: {totals['sketches']}\nColor images: {totals['colors']}")
    return problems


def report(problems):
    """The last line: READY, or the problems and the NOT READY verdict (exit status 2)."""
    for problem in problems:
        print(f"  problem: {problem}")
    if problems:
        print("Status: NOT READY for training")
        fail(f"{len(problems)} problem(s) listed above; fix them, then run this script again.")
    print("Status: READY for training")
