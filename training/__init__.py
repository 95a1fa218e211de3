"""Exercise 3's training: recipe.py (one step), data.py (the batches), run.py (the run)."""

import torch

from helpers.lesson import fail

try:  # a torchvision built for another torch dies at import naming neither package nor the fix
    import torchvision  # noqa: F401
except (RuntimeError, ImportError, AttributeError) as exc:  # ModuleNotFoundError: not installed
    wrong = "is not installed beside" if isinstance(exc, ModuleNotFoundError) else "does not fit"
    fail(
        f"torchvision {wrong} torch {torch.__version__} ({str(exc).splitlines()[0]}); reinstall "
        "the two together: `python -m pip install --force-reinstall torch torchvision` (without "
        "an NVIDIA GPU, add `--index-url https://download.pytorch.org/whl/cpu`)"
    )
# Before torchmetrics (training/recipe.py) loads matplotlib: a bogus MPLBACKEND is one sentence.
import helpers.figures  # noqa: E402, F401
