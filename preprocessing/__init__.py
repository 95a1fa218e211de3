"""What preprocess_anime_sketches.py runs, one step per module; no module here imports torch, so
the worker processes start in a fraction of a second.

    pairs.py     one Kaggle pair -> its colour and sketch halves as PNGs (each worker's job)
    jobs.py      run_jobs: work spread over worker processes behind one progress bar
    verify.py    --verify: the output checked as training will read it (complete pairs, sizes, and
                 which folder holds the sketches)
    demo_set.py  --demo: synthetic pairs in the Kaggle format, drawn by helpers/anime_demo.py

Below: what preprocessing writes and Exercise 3 reads, and what counts as a pair.

    anime_processed/{train,val}/sketches/NAME.png   real_A, the condition (a line sketch)
    anime_processed/{train,val}/colors/NAME.png     real_B, the target (the coloured image)

One rule for `--verify` and for training (training/data.py), so that a set --verify calls READY is
the set training reads: a pair is NAME.png in both folders of a split, each a regular file with a
visible name. A folder or a FIFO named x.png is no image (a FIFO would make its reader wait
forever), and hidden files (.DS_Store, macOS's ._x.png) are no data. Each image of a pair is at
least MIN_SIDE pixels wide and high. No torch here: the worker processes start fast.
"""

from helpers.lesson import not_a_file

SPLITS = ("train", "val")
KINDS = ("sketches", "colors")
# The smallest image a pair may hold, and the smallest --size: below it, the 286x286 jitter of
# training would blow every pixel up more than 9 times (and a 2x1 image holds no picture at all).
MIN_SIDE = 32


def visible(path):
    return not path.name.startswith(".")


def list_files(folder):
    """Every visible regular file in `folder`, sorted (hidden ones such as .DS_Store are not
    data)."""
    return sorted(p for p in folder.iterdir() if visible(p) and p.is_file())


def not_files(folder):
    """[(entry, what it is)] for the visible entries of `folder` that are not regular files: a
    folder, a FIFO, a broken link, ..."""
    entries = sorted(p for p in folder.iterdir() if visible(p)) if folder.is_dir() else []
    return [(p, what) for p in entries if (what := not_a_file(p))]


def pair_files(split_dir):
    """One split as training reads it -> (pairs, lone, skipped):

    pairs    sorted [(sketches/NAME.png, colors/NAME.png)], both regular files;
    lone     [(file, the partner it lacks)] for a NAME.png in one folder only;
    skipped  [(entry, what it is)] for the *.png entries that are not regular files.
    """
    found, skipped = {}, []
    for kind in KINDS:
        folder = split_dir / kind
        files = list_files(folder) if folder.is_dir() else []
        found[kind] = {p.name: p for p in files if p.suffix == ".png"}
        skipped += [(p, what) for p, what in not_files(folder) if p.suffix == ".png"]
    sketches, colors = found["sketches"], found["colors"]
    pairs = [(sketches[name], colors[name]) for name in sorted(sketches.keys() & colors.keys())]
    lone = [(p, split_dir / "colors" / n) for n, p in sorted(sketches.items()) if n not in colors]
    lone += [
        (p, split_dir / "sketches" / n) for n, p in sorted(colors.items()) if n not in sketches
    ]
    return pairs, lone, skipped
