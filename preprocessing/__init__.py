"""What preprocess_anime_sketches.py writes and Exercise 3 (training/data.py) reads:

    anime_processed/{train,val}/sketches/NAME.png   real_A, the condition (a line sketch)
    anime_processed/{train,val}/colors/NAME.png     real_B, the target (the coloured image)

A pair is NAME.png in both folders of a split, each a regular file with a visible name: one rule
for --verify and training, so a set --verify calls READY is the set training reads. A folder or a
FIFO named x.png is no image (a FIFO would make its reader wait forever); .DS_Store is no data.
"""

from helpers.lesson import not_a_file

SPLITS = ("train", "val")
KINDS = ("sketches", "colors")
# The smallest image of a pair, and the smallest --size: below it the 286x286 jitter of training
# would blow every pixel up more than 9 times (and a 2x1 image holds no picture at all).
MIN_SIDE = 32


def entries(folder):
    """{visible entry, sorted: None for a regular file, else what it is ("a folder", ...)}."""
    names = (
        sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
    )
    return {p: not_a_file(p) for p in names}


def pair_files(split_dir):
    """One split as training reads it -> (pairs, lone, skipped): sorted [(sketch, colour)] pairs,
    [(file, the partner it lacks)], and [(entry, what it is)] for *.png entries that are no file."""
    found, skipped = {}, []
    for kind in KINDS:
        pngs = {p: what for p, what in entries(split_dir / kind).items() if p.suffix == ".png"}
        found[kind] = {p.name: p for p, what in pngs.items() if what is None}
        skipped += [(p, what) for p, what in pngs.items() if what]
    sketches, colors = found["sketches"], found["colors"]
    pairs = [(sketches[name], colors[name]) for name in sorted(sketches.keys() & colors.keys())]
    lone = [(p, split_dir / "colors" / n) for n, p in sketches.items() if n not in colors]
    lone += [(p, split_dir / "sketches" / n) for n, p in colors.items() if n not in sketches]
    return pairs, lone, skipped
