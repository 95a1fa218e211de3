"""Exercise 3's training: recipe.py (one step), data.py (the batches), run.py (the run)."""

import importlib.metadata

from helpers.lesson import fail


def check_torchvision():
    """Import torchvision, or fail() with the fix: one built for another torch dies at import with
    "operator torchvision::nms does not exist", which names neither package nor the fix."""
    try:
        import torchvision  # noqa: F401
    except ModuleNotFoundError:
        fail("torchvision is not installed; run `python -m pip install -r requirements.txt`.")
    except (RuntimeError, ImportError, AttributeError) as exc:
        torch, vision = (importlib.metadata.version(name) for name in ("torch", "torchvision"))
        fail(
            f"torchvision {vision} does not fit torch {torch} ({str(exc).splitlines()[0]}); "
            "reinstall the two together: `python -m pip install --force-reinstall torch "
            "torchvision`, adding `--index-url https://download.pytorch.org/whl/cpu` on a "
            "computer without an NVIDIA GPU."
        )


check_torchvision()
# Before torchmetrics (training/recipe.py) loads matplotlib: a bogus MPLBACKEND is one sentence.
import helpers.figures  # noqa: E402, F401
