"""The worker processes that do preprocessing's work, behind one progress bar."""

import os
import signal
import sys
from multiprocessing import Pool

from tqdm import tqdm


def cpu_cores():
    """The cores this process may run on (a container or `taskset` may allow fewer than exist)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
