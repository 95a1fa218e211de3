"""What every script's command line shares: errors a student can act on, the --device flag, number
checks for argparse, and what is wrong with a path that should be a file.

    try:
        ...
    except LessonError as exc:
        fail(str(exc))  # "error: <one sentence>" on stderr, exit status 2, no traceback
"""

import argparse
import importlib
import importlib.metadata
import sys

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class LessonError(Exception):
    """An expected problem (missing weights or data, a bad file), its message saying what to do."""

    def __init__(self, message=""):
        # A DataLoader worker's exception comes back to the main process re-made from a text that
        # holds the worker's whole traceback ("Caught LessonError in DataLoader worker process 0.
        # Original Traceback ..."): keep only the sentence the worker raised (a subclass's too).
        raised = f"{type(self).__name__}: "
        if "Original Traceback" in message and raised in message:
            message = message.rsplit(raised, 1)[1].strip()
        super().__init__(message)


def fail(message, code=2):
    """Print one actionable sentence to stderr and exit with `code`: no traceback for expected
    problems."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets fail()'s one line ("error: argument --epochs: must be at least
    1, not 0; see --help") instead of the whole usage block above it."""

    def error(self, message):
        fail(f"{message}; see `python {self.prog} --help`.")


def shown(path):
    """A path as text that can always be printed and drawn: a file name that is not valid UTF-8
    (possible on Linux) keeps its readable parts; each undecodable byte becomes U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def add_device_argument(parser):
    rule = "auto = cuda, then mps, then cpu"
    if not issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter):
        rule += " (default: auto)"  # that formatter adds it itself
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=rule)


def choose_device(name="auto"):
    """One rule for every script: `auto` = cuda, then mps, then cpu. A missing one fails clearly."""
    import torch  # here, not at the top: preprocess_anime_sketches.py runs without torch

    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    instead = "use --device auto or cpu"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise LessonError(f"--device cuda was asked for but PyTorch sees no CUDA GPU; {instead}.")
    elif name == "mps" and not mps_ok:
        raise LessonError(
            f"--device mps was asked for but Apple's MPS is not available; {instead}."
        )
    elif name not in DEVICE_CHOICES:
        raise LessonError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    return torch.device(name)


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        whole = "whole " if kind is int else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a {whole}number") from None


def at_least(minimum, kind=int):
    """An argparse type: a number of `kind` that is at least `minimum` (a bad one: one line)."""

    def parse(text):
        value = _number(text, kind)
        if not value >= minimum:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, not {text}")
        return value

    return parse


def multiple_of(step):
    """An argparse type: a positive whole number, a multiple of `step` (an image size, say)."""

    def parse(text):
        value = at_least(step)(text)
        if value % step:
            raise argparse.ArgumentTypeError(f"must be a multiple of {step}, not {text}")
        return value

    return parse


def above(minimum, kind=float):
    """An argparse type: a finite number of `kind` above `minimum` (a learning rate, say)."""

    def parse(text):
        value = _number(text, kind)
        if not value > minimum or value == float("inf"):  # also refuses nan
            message = f"must be a finite number above {minimum:g}, not {text}"
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


def seed_number(text):
    """An argparse type for --seed: a whole number from 0 to 2**32 - 1, the range every generator
    (torch, random, numpy) accepts."""
    value = at_least(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be below 2**32 = {2**32}, not {text}")
    return value


def check_torchvision():
    """Import torchvision (Exercise 3's transforms; torchmetrics imports it too), or fail() with how
    to mend it: a torchvision built for another torch dies at import with "operator torchvision::nms
    does not exist", which names neither package nor the fix."""
    try:
        importlib.import_module("torchvision")
    except ModuleNotFoundError:
        fail("torchvision is not installed; run `python -m pip install -r requirements.txt`.")
    except (RuntimeError, ImportError, AttributeError) as exc:
        versions = {name: importlib.metadata.version(name) for name in ("torch", "torchvision")}
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        fail(
            f"torchvision {versions['torchvision']} does not fit torch {versions['torch']} "
            f"({first_line}); reinstall the two together: `python -m pip install "
            "--force-reinstall torch torchvision`, adding `--index-url "
            "https://download.pytorch.org/whl/cpu` on a computer without an NVIDIA GPU."
        )
