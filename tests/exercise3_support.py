"""What the Exercise 3 test files share: tiny synthetic pairs, the script's main() in this process,
and the script in a process of its own (for signals)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import exercise3_train as ex3
from helpers.lesson import ROOT

TINY = ["--ngf", "8", "--ndf", "8", "--batch-size", "2", "--seed", "3"]


def write_pairs(root, split, names, size=64, seed=0, identical=False):
    """A colour noise image and its black-and-white 'sketch' per name, as preprocessing writes
    them (identical: the sketch is the colour image itself)."""
    rng = np.random.default_rng(seed)
    for name in names:
        colour = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        outline = np.where(colour.mean(axis=2, keepdims=True) > 128, 255, 0).repeat(3, 2)
        for sub, array in (("colors", colour), ("sketches", colour if identical else outline)):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array.astype(np.uint8)).save(root / split / sub / f"{name}.png")


def run(data, out, *extra):
    ex3.main(["--data", str(data), "--output-dir", str(out), *TINY, *extra])


def refused(capsys, data, out, *extra):
    """(exit status, what it printed) of a run that is expected to stop with a message."""
    with pytest.raises(SystemExit) as exc:
        run(data, out, *extra)
    printed = capsys.readouterr()
    return exc.value.code, printed.out + printed.err


def start_training(data, out, *extra):
    """exercise3_train.py in its own process, for 500 tiny epochs (until a test stops it)."""
    argv = ["--data", str(data), "--output-dir", str(out), *TINY, "--epochs", "500", *extra]
    return subprocess.Popen(
        [sys.executable, str(ROOT / "exercise3_train.py"), *argv],
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job may inherit SIGINT ignored: restore the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def interrupt_when(proc, ready, signum=signal.SIGINT, timeout=120):
    """Send `signum` once ready(line) holds for a line of stdout; return (stdout, stderr)."""
    deadline, seen = time.monotonic() + timeout, []
    for line in proc.stdout:
        seen.append(line)
        if ready(line) or time.monotonic() > deadline:
            break
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    return "".join(seen) + stdout, stderr
