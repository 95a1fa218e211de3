"""The figures the exercises save, in the module's one layout (the paper's): a column per example,
a row per kind (input on top, generated below, then the target). A cell may be a heat map (`Heat`),
alone or over an image, with a colour bar per row: Exercise 3's PatchGAN maps.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.lesson import atomic_path, fail, tensor_to_image

try:
    import matplotlib
except ValueError:  # matplotlib checks the MPLBACKEND variable as it loads its settings
    fail(f"MPLBACKEND={os.environ.get('MPLBACKEND')} is not a matplotlib backend; unset it.")
matplotlib.use("Agg")  # files only: works on headless machines and in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.font_manager import FontProperties, findfont, get_font  # noqa: E402

TITLE_INCHES_PER_CHAR = 0.1  # a 13 pt title needs about this much width per character
# What a figure's file name may end with, and the format matplotlib then writes.
FIGURE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}


@dataclass
class Heat:
    """A (H, W) map coloured from `vmin` to `vmax`, over `under` (a (3, H', W') image) if given."""

    values: torch.Tensor
    vmin: float = 0.0
    vmax: float = 1.0
    label: str = ""  # the colour bar's label
    under: torch.Tensor = None


def drawable(text):
    """`text` as a title can show it: what the font lacks (CJK, emoji) escaped as \\u5e7f rather
    than drawn as an empty box with a "Glyph missing" warning; `$` not read as mathtext."""
    font = get_font(findfont(FontProperties()))  # the font titles are drawn in (DejaVu Sans)
    kept = (c if ord(c) < 128 or font.get_char_index(ord(c)) else ascii(c)[1:-1] for c in text)
    return "".join(kept).replace("$", r"\$")


def save_figure(fig, path, dpi=100, **savefig_options):
    """Write a figure atomically in the format its suffix names (else PNG), then close it."""
    kind = FIGURE_FORMATS.get(Path(path).suffix.lower(), "png")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=kind, dpi=dpi, **savefig_options)
    finally:
        plt.close(fig)
    return Path(path)


def draw_cell(ax, cell):
    """Draw a cell; a heat map's artist is returned for its colour bar."""
    if not isinstance(cell, Heat):
        ax.imshow(tensor_to_image(cell), interpolation="nearest")
        return None
    colours = dict(cmap="magma", vmin=cell.vmin, vmax=cell.vmax, interpolation="nearest")
    if cell.under is None:
        return ax.imshow(cell.values.float().cpu().numpy(), **colours)
    height, width = cell.under.shape[-2:]
    ax.imshow(tensor_to_image(cell.under), interpolation="nearest")
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # stretched over the image below
    return ax.imshow(cell.values.float().cpu().numpy(), alpha=0.55, extent=extent, **colours)


def save_grid(path, rows, row_titles, title=None, col_titles=None, captions=None, cell_inches=2.2):
    """Save a grid: rows of cells (a (3, H, W) tensor in [-1, 1], a Heat, or None: empty) named by
    `row_titles`; `col_titles` name the examples, `captions` (rows of strings) go under images."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    has_heat = any(isinstance(cell, Heat) for row in rows for cell in row)
    width = cell_inches * n_cols + 0.8 + (0.9 if has_heat else 0.0)
    if title:  # a figure of one or two columns would clip a long title on both sides
        width = max(width, TITLE_INCHES_PER_CHAR * max(map(len, title.splitlines())) + 0.4)
    size = (width, cell_inches * n_rows + 0.7)  # constrained: room for titles, captions, bars
    fig, axes = plt.subplots(n_rows, n_cols, figsize=size, squeeze=False, layout="constrained")
    for r, row in enumerate(rows):
        heat = None
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set(xticks=[], yticks=[])
            ax.spines[:].set_visible(False)
            cell = row[c] if c < len(row) else None
            if cell is not None:
                heat = draw_cell(ax, cell) or heat
            if c == 0:
                ax.set_ylabel(drawable(row_titles[r]), fontsize=11)
            if r == 0 and col_titles and c < len(col_titles):
                ax.set_title(drawable(col_titles[c]), fontsize=10)
            if captions and captions[r] and c < len(captions[r]) and captions[r][c]:
                ax.set_xlabel(drawable(captions[r][c]), fontsize=8)
        if heat is not None:
            label = next(cell.label for cell in row if isinstance(cell, Heat))
            fig.colorbar(heat, ax=list(axes[r]), fraction=0.03, pad=0.01, label=label)
    if title:
        fig.suptitle(drawable(title), fontsize=13)
    return save_figure(fig, path)
