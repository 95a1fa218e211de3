"""A student's challenge file: loaded by its path, run, and every failure put in one sentence."""

import importlib.util
import traceback
from pathlib import Path

from helpers.lesson import shown
from helpers.lesson import ROOT


class Wrong(Exception):
    """What is still wrong with a challenge, in one sentence (or "not yet written")."""


def where(path):
    """`path` as the student knows it: from the repository root where it lies inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def explain(exc, path):
    """One sentence on an exception from the student's file: its type, the line there, its
    message; "not yet written" where the stub's own `raise NotImplementedError` is still there."""
    trace = traceback.extract_tb(exc.__traceback__)
    frames = [frame for frame in trace if Path(frame.filename).resolve() == path]
    if isinstance(exc, NotImplementedError) and frames and frames[-1] == trace[-1]:
        return "not yet written"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError at line {exc.lineno} of {shown(where(path))}: {exc.msg.rstrip('.')}."
    message = (str(exc).strip().splitlines() or ["(no message)"])[0].rstrip(".")
    if isinstance(exc, SystemExit):  # sys.exit(), exit() or raise SystemExit: its code is no news
        message = "it ends the program; a challenge returns its result instead"
    place = f"in {shown(where(path))}"
    if frames:
        line = frames[-1].line.strip()
        place = f"at line {frames[-1].lineno} of {shown(where(path))} (`{line}`)"
    return f"{type(exc).__name__} {place}: {message}."


def student_code(path, function, *args):
    """function(*args), with any exception (sys.exit() too) turned into Wrong(one sentence)."""
    try:
        return function(*args)
    except (Exception, SystemExit) as exc:
        raise Wrong(explain(exc, path)) from None


def load(path):
    """Import the student's file by its path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(f"challenge_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    student_code(path, spec.loader.exec_module, module)
    return module


def defined(module, name, path):
    """module.name, or Wrong if the student renamed or deleted it."""
    if not hasattr(module, name):
        raise Wrong(f"{shown(where(path))} defines no {name}; keep the name the stub gives it.")
    return getattr(module, name)
