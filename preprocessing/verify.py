"""--verify: anime_processed/ checked as training will read it; a line per split and a verdict.

    python preprocess_anime_sketches.py --verify   # also the last step of every preprocessing run

1. train/ exists and every split holds complete pairs, counted by training's rule
   (preprocessing/__init__.py): the first five strays of a kind named, and each x.png that is no
   regular file (a folder, a FIFO), which training would skip;
2. every image opens and is a --size x --size RGB image (the first ten problems named);
3. sketches/ holds the sketches: greyer and whiter than colors/, not the other way round; or
   label maps beside photos, a label -> photo set such as the pix2pix facades.
"""

import numpy as np

from helpers.lesson import LessonError, fail, shown
from helpers.lesson import open_image
from preprocessing.jobs import run_jobs
from preprocessing import KINDS, SPLITS, pair_files

# The folders of a split are compared with each other, not held to fixed bars. Measured on Kaggle
# pairs, sketches have a colour spread (mean of max - min channel, / 255) of 0.000 and are 91-97%
# white paper; even pale colour images (spread 0.026-0.029) are only 10-22% white.
MIN_SPREAD_GAP = 0.01  # sketches/ this much greyer than colors/ ...
MIN_WHITE_GAP = 0.2  # ... or this much whiter (a share of the pixels) tells the folders apart
LINE_ART = (0.01, 0.5)  # line art: a colour spread below 0.01 and at least 50% white paper
# Label maps are painted in saturated colours: the spread of the 12 CMP facade colours is 0.56 to
# 1.0 (0.89 on average); the demo's colour pictures measure 0.28-0.46, pale Kaggle ones 0.03.
LABEL_SPREAD = 0.5
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


def is_line_art(look):
    """True for a (colour spread, white share) of black lines on white paper."""
    return look[0] < LINE_ART[0] and look[1] >= LINE_ART[1]


def orientation(split_dir, sketches, colors):
    """(problem, note), each None or a sentence: does sketches/ hold the greyer, whiter images, or
    label maps beside photos? `sketches` and `colors` are each folder's median (colour spread,
    white share)."""
    greyer = colors[0] - sketches[0]  # > 0 where sketches/ is the greyer folder
    whiter = sketches[1] - colors[1]  # > 0 where sketches/ is the whiter folder
    # Each sign that sketches/ holds the greyer, whiter images (or, backward, colors/ does) counts.
    forward = (greyer >= MIN_SPREAD_GAP) + (whiter >= MIN_WHITE_GAP)
    backward = (-greyer >= MIN_SPREAD_GAP) + (-whiter >= MIN_WHITE_GAP)
    if backward and not forward:
        # Colour pictures in sketches/ and line art in colors/ is a swap; saturated label maps
        # beside pictures that are no line art is a label -> photo set (facades: photo LEFT).
        if sketches[0] >= LABEL_SPREAD and not is_line_art(colors):
            return None, (
                f"{split_dir.name}: sketches/ looks like label maps (saturated colours) and "
                "colors/ like photos: a label -> photo set such as facades"
            )
        output = split_dir.parent
        return (
            f"{split_dir}: sketches/ and colors/ look swapped (colors/ holds the greyer, whiter "
            f"images); delete {output}/ and run this script again (it takes the colour from the "
            "LEFT half, as in the Kaggle pairs), or, if your own pairs have the sketch on the "
            "left, swap the names of the two folders"
        ), None
    if not forward or backward:
        return (
            f"{split_dir}: sketches/ and colors/ look alike (neither is clearly greyer and "
            "whiter); check that --input holds sketch/colour pairs"
        ), None
    return None, None


def pairing_problems(split_dir):
    """(pairs, problems) of one split: files without a partner, entries that are no files."""
    pairs, lone, skipped = pair_files(split_dir)
    problems = []
    for kind in KINDS:
        strays = [(p, partner) for p, partner in lone if p.parent.name == kind]
        problems += [f"{shown(p)} has no partner in {shown(q.parent)}/" for p, q in strays[:5]]
    problems += [
        f"{shown(p)} is {what}, not an image file (training skips it); remove it"
        for p, what in skipped[:5]
    ]
    return pairs, lone, problems


def verify_split(split_dir, size, workers, totals):
    """The problems of one split; prints its medians and adds its image counts to `totals`."""
    pairs, lone, problems = pairing_problems(split_dir)
    for kind in KINDS:
        totals[kind] += len(pairs) + sum(p.parent.name == kind for p, _ in lone)
    if not pairs:
        return problems + [f"{split_dir}/ holds no complete pairs"]
    jobs = [(path, size) for pair in pairs for path in pair]  # KINDS order: sketch first
    looks = list(run_jobs(look_of, jobs, workers, f"Verifying {split_dir.name}", leave=False))
    broken = [f"{path}: {look[0]}" for (path, _), look in zip(jobs, looks, strict=True) if look[0]]
    problems += broken[:10]
    sketches = np.median([look[1:] for look in looks[0::2]], axis=0)
    colors = np.median([look[1:] for look in looks[1::2]], axis=0)
    print(
        f"  {split_dir.name}: {len(pairs)} pairs; colour spread sketches {sketches[0]:.3f}, "
        f"colors {colors[0]:.3f}; white sketches {sketches[1]:.0%}, colors {colors[1]:.0%}"
    )
    problem, note = orientation(split_dir, sketches, colors)
    if note:
        print(f"  {note}")
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
