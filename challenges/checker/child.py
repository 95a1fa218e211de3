"""One challenge file checked in a process of its own, as challenges/check.py starts it:

    python challenges/checker/child.py FILE RESULT   # the verdict on FILE, as JSON, into RESULT

A process per challenge, because the student's code runs here: whatever it does (sys.exit(), raise
KeyboardInterrupt, print, return odd types, crash the checker), a verdict is written; a loop that
never ends is check.py's to stop, by its time limit.
"""

import importlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

import torch

from challenges.checker.student_files import Wrong, explain, load, where
from helpers.lesson import shown
from helpers.lesson import write_bytes_atomic

# Each file's check, imported only in its own process (the losses' check imports torchmetrics
# through training.recipe, which takes seconds).
CHECKS = {
    "unet_forward.py": ("challenges.checker.unet", "check_unet"),
    "pix2pix_losses.py": ("challenges.checker.losses", "check_losses"),
    "receptive_field.py": ("challenges.checker.field", "check_receptive_field"),
}


def verdict(path):
    """'solved', 'not yet written' or one sentence on what is wrong with the challenge file at
    `path`, checked in this process (tests call it directly)."""
    path = Path(path).resolve()  # as tracebacks name it
    if not path.is_file():
        name = shown(where(path))
        return f"{name} is missing; `git checkout -- {name}` brings the stub back."
    module, function = CHECKS[path.name]
    check = getattr(importlib.import_module(module), function)
    try:
        check(load(path), path)
    except Wrong as wrong:
        return str(wrong)
    return "solved"


def main():
    path, result = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    # Narrow networks run hundreds of tiny operations: one thread is fastest (a second thread on a
    # busy 2-core machine makes them wait for each other: 10 s instead of 0.3 s, measured).
    torch.set_num_threads(1)
    try:
        text = verdict(path)
    except BaseException as exc:  # raise KeyboardInterrupt in the code, or a result nobody foresaw
        text = explain(exc, path)
    write_bytes_atomic(json.dumps({"verdict": text}).encode(), result)
    # At once: no thread or exit handler that the student's code left behind keeps this alive.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the code may have closed or replaced it
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
