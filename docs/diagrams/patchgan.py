"""patchgan.png: the 70x70 PatchGAN's layer shapes, its 30x30 output, and the input patch that one
logit sees, found from the gradient of that logit."""

import numpy as np
from matplotlib.patches import Rectangle

from docs.diagrams.drawing import (
    ACCENT,
    DISCRIMINATOR,
    FONT,
    arrow,
    box,
    canvas,
    picture,
    save,
    shape_text,
    text,
    title,
)
from pix2pix_models import IMAGE_SIZE

LAYERS = [
    "Conv 4×4 s2, LeakyReLU",
    "Conv 4×4 s2, BN, LeakyReLU",
    "Conv 4×4 s2, BN, LeakyReLU",
    "Conv 4×4 s1, BN, LeakyReLU",
    "Conv 4×4 s1 → logits",
]
ZOOM = 6  # pixels of context around the patch in the gradient's close-up


def draw_patchgan(label, facts, path, probe):
    """The figure from `facts` (docs/make_figures.py's patchgan_facts for logit `probe`, (row,
    col)), with `label` as the condition; writes `path`."""
    fig, ax = canvas(16, 15.2, 0.55)  # 8.8 x 8.4 inches
    heading = "70×70 PatchGAN discriminator: a grid of verdicts, each on one patch"
    title(ax, 8.0, 14.65, heading, ha="center")
    top, left, bottom, right = facts["box"]
    fh, fw = facts["field"]

    # Top left: the input, with the patch that one logit sees.
    size = 5.0
    scale = size / IMAGE_SIZE  # the 256-pixel input is drawn `size` units wide
    x0, y0 = 0.5, 8.4
    picture(ax, label, x0, y0, size)
    seen = f"red: the {fh}×{fw} pixels that logit {probe} sees"
    text(ax, x0 + size / 2, y0 + size + 0.15, seen, va="baseline", color=ACCENT)
    given = "condition x (label) and image\n(real y or G(x)), concatenated:\n"
    given += shape_text(facts["input"])
    text(ax, x0 + size / 2, y0 - 0.15, given, va="top", linespacing=1.3)
    corner = (x0 + left * scale, y0 + (IMAGE_SIZE - bottom) * scale)
    outline = dict(fill=False, edgecolor=ACCENT, lw=2.4, zorder=4)
    ax.add_patch(Rectangle(corner, fw * scale, fh * scale, **outline))

    # Top right: the five convolutions, then an arrow down to their output.
    bx, bw, bh, step, top_box = 7.9, 6.8, 0.9, 1.12, 12.55
    for i, (shape, name) in enumerate(zip(facts["conv_shapes"], LAYERS, strict=True)):
        yb = top_box - i * step
        color = DISCRIMINATOR if i < 4 else "#f5b7b1"
        box(ax, bx, yb, bw, bh, f"{name}\n{shape_text(shape)}", color, size=FONT + 0.5)
        if i:
            arrow(ax, (bx + bw / 2, yb + step), (bx + bw / 2, yb + bh))
    arrow(ax, (x0 + size + 0.1, y0 + size * 0.7), (bx, top_box + bh / 2))

    # Bottom right: the 30x30 output grid, with the logit whose patch is drawn.
    n_rows, n_cols = facts["output"][1:]
    gsize = 4.4
    gx, gy, cell = bx + (bw - gsize) / 2, 2.6, gsize / n_cols
    for r in range(n_rows + 1):
        ax.plot([gx, gx + n_cols * cell], [gy + r * cell] * 2, color="#bbbbbb", lw=0.4)
    for c in range(n_cols + 1):
        ax.plot([gx + c * cell] * 2, [gy, gy + n_rows * cell], color="#bbbbbb", lw=0.4)
    r, c = probe
    corner = (gx + c * cell, gy + (n_rows - 1 - r) * cell)
    ax.add_patch(Rectangle(corner, cell, cell, color=ACCENT, zorder=4))
    output = (
        f"output: {n_rows}×{n_cols} logits, one real/fake\n"
        "verdict each; D's loss averages the\nBCE over all of them"
    )
    text(ax, gx + gsize / 2, gy - 0.15, output, va="top", linespacing=1.3)
    arrow(ax, (bx + bw / 2, top_box - 4 * step), (gx + gsize / 2, gy + gsize + 0.05))
    logit = (gx + (c + 0.5) * cell, gy + (n_rows - 0.5 - r) * cell)
    patch_corner = (x0 + right * scale, y0 + (IMAGE_SIZE - top) * scale)
    curve = dict(connectionstyle="arc3,rad=-0.12", linestyle=(0, (3, 2)))
    arrow(ax, logit, patch_corner, color=ACCENT, **curve)

    # Bottom left: the gradient of that logit, zoomed on the patch.
    rows = slice(max(top - ZOOM, 0), bottom + ZOOM)
    cols = slice(max(left - ZOOM, 0), right + ZOOM)
    crop = facts["footprint"][rows, cols]
    zsize = 4.0
    zx, zy = x0 + (size - zsize) / 2, 2.6
    extent = (zx, zx + zsize, zy, zy + zsize)
    ax.imshow(np.sqrt(crop / crop.max()), extent=extent, cmap="magma", zorder=2)
    inner = zsize / crop.shape[1]
    corner = (zx + ZOOM * inner, zy + ZOOM * inner)
    dashed = dict(fill=False, edgecolor=ACCENT, lw=1.6, ls="--", zorder=4)
    ax.add_patch(Rectangle(corner, fw * inner, fh * inner, **dashed))
    zoom = "zoom on the red box: |∂ logit / ∂ pixel|"
    text(ax, zx + zsize / 2, zy + zsize + 0.15, zoom, va="baseline")
    inside = "outside the box the gradient is\nexactly 0; inside, the centre\n"
    inside += "counts most (random weights)"
    text(ax, zx + zsize / 2, zy - 0.15, inside, va="top", linespacing=1.3)
    found = (
        f"Found from the network: the gradient of logit {probe} is non-zero on exactly "
        f"{fh}×{fw} input pixels.\nA patch judge sees texture and local structure; the L1 term "
        "takes care of the low\nfrequencies (§3.2.2).  2,768,705 parameters."
    )
    text(ax, 8.0, 0.15, found, va="bottom", linespacing=1.35)
    return save(fig, path)
