"""The folders preprocessing reads and writes, and the worker processes that do its work."""

import signal
import sys
from multiprocessing import Pool

from tqdm import tqdm

SPLITS = ("train", "val")
KINDS = ("sketches", "colors")  # anime_processed/{train,val}/{sketches,colors}/NAME.png


def list_files(folder):
    """Every visible file in `folder`, sorted (hidden ones such as .DS_Store are not data)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def run_jobs(function, jobs, workers, desc, leave=True):
    """function(job) for every job, in `workers` processes (in this one for 1), with a progress
    bar. Yields the results in the order of `jobs`."""
    bar = dict(total=len(jobs), desc=desc, unit="file", file=sys.stdout, mininterval=1.0)
    if workers == 1:
        yield from tqdm(map(function, jobs), leave=leave, **bar)
        return
    # Workers ignore Ctrl+C: the main process alone stops them, so one message, not one per worker.
    ignore_ctrl_c = (signal.SIGINT, signal.SIG_IGN)
    with Pool(workers, initializer=signal.signal, initargs=ignore_ctrl_c) as pool:
        yield from tqdm(pool.imap(function, jobs, chunksize=4), leave=leave, **bar)
