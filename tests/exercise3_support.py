"""What the Exercise 3 test files share: tiny synthetic pairs and a way to run the script's
main()."""

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
    """A colour blob image and its black-outline 'sketch' per name, laid out as
    preprocess_anime_sketches.py writes them."""
    rng = np.random.default_rng(seed)
    for name in names:
        colour = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        outline = np.where(colour.mean(axis=2, keepdims=True) > 128, 255, 0).repeat(3, 2)
        sketch = colour if identical else outline.astype(np.uint8)
        for sub, array in (("colors", colour), ("sketches", sketch)):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / split / sub / f"{name}.png")


def run(data, out, *extra):
    ex3.main(["--data", str(data), "--output-dir", str(out), *TINY, *extra])


def exit_code_and_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        ex3.main(argv)
    return exc.value.code, capsys.readouterr().err


def start_training(data, out, *extra, setup=None):
    """exercise3_train.py in its own process, for 500 tiny epochs (until a test stops it)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")

    def prepare():  # a shell's background job may inherit SIGINT ignored; restore the default
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if setup is not None:
            setup()

    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "exercise3_train.py"),
            "--data",
            str(data),
            "--output-dir",
            str(out),
            *TINY,
            "--epochs",
            "500",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=prepare,
    )


def interrupt_when(proc, ready, timeout=120, signum=signal.SIGINT):
    """Send SIGINT (Ctrl+C) once ready(line) holds for a line of the output; return (stdout,
    stderr)."""
    deadline, seen = time.monotonic() + timeout, []
    for line in proc.stdout:
        seen.append(line)
        if ready(line) or time.monotonic() > deadline:
            break
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    return "".join(seen) + stdout, stderr
