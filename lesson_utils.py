"""Small helpers shared by the lesson's scripts: device choice, errors a student can act on,
tensor <-> image conversion, atomic file writes and the labelled PNG grids every exercise saves.
"""

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class LessonError(Exception):
    """An expected problem (missing weights or data, a bad file) with a message that says what to do."""


def fail(message, code=2):
    """Print one actionable sentence to stderr and exit with `code`: no traceback for expected problems."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def choose_device(name="auto"):
    """One rule for every script: `auto` = cuda, then mps, then cpu. Asking for a missing one fails clearly."""
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise LessonError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device auto or cpu.")
    elif name == "mps" and not mps_ok:
        raise LessonError("--device mps was asked for but Apple's MPS backend is not available; use --device auto or cpu.")
    elif name not in DEVICE_CHOICES:
        raise LessonError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    return torch.device(name)


def tensor_to_image(tensor):
    """(3, H, W) or (1, H, W) tensor in [-1, 1] -> 8-bit RGB PIL image."""
    t = tensor.detach().float().cpu().clamp(-1, 1)
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    array = ((t.permute(1, 2, 0).numpy() + 1.0) * 127.5).round().astype(np.uint8)
    return Image.fromarray(array, mode="RGB")


def image_to_tensor(image):
    """PIL image -> (3, H, W) float tensor in [-1, 1] (the range G's Tanh produces)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1.0


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash or Ctrl+C mid-write therefore never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_image_atomic(image, path):
    """Save a PIL image (format from the suffix) without ever leaving a partial file behind."""
    with atomic_path(path) as tmp:
        image.save(tmp, format=Image.registered_extensions().get(Path(path).suffix.lower(), "PNG"))


def save_labelled_grid(path, rows, row_titles, title=None, col_titles=None, captions=None, cell_inches=2.2):
    """Save a titled grid: one row per list of (3, H, W) tensors in [-1, 1], each row named.

    `captions`, if given, is a list of rows of strings shown under each image.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; works on headless machines and in CI
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols + 0.8, cell_inches * n_rows + 0.7),
                             squeeze=False, layout="constrained")  # leaves room for titles and captions
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c >= len(row):
                continue
            ax.imshow(tensor_to_image(row[c]), interpolation="nearest")
            if c == 0:
                ax.set_ylabel(row_titles[r], fontsize=11)
            if r == 0 and col_titles:
                ax.set_title(col_titles[c], fontsize=10)
            if captions and captions[r] and c < len(captions[r]) and captions[r][c]:
                ax.set_xlabel(captions[r][c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=13)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)
