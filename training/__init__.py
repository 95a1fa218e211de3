"""Exercise 3's training: recipe.py (one step), data.py (the batches), run.py (the run)."""

import importlib.metadata

from helpers.lesson import fail

try:  # a torchvision built for another torch dies at import naming neither package nor the fix
    import torchvision  # noqa: F401
except ModuleNotFoundError:
    fail("torchvision is not installed; run `python -m pip install -r requirements.txt`.")
except (RuntimeError, ImportError, AttributeError) as exc:
    torch, vision = (importlib.metadata.version(name) for name in ("torch", "torchvision"))
    fail(
        f"torchvision {vision} does not fit torch {torch} ({str(exc).splitlines()[0]}); reinstall "
        "the two together: `python -m pip install --force-reinstall torch torchvision` (on a "
        "computer without an NVIDIA GPU, add `--index-url https://download.pytorch.org/whl/cpu`)."
    )
# Before torchmetrics (training/recipe.py) loads matplotlib: a bogus MPLBACKEND is one sentence.
import helpers.figures  # noqa: E402, F401
