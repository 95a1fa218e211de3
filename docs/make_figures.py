"""Draw the lesson's concept diagrams from the real networks (no weights needed).

    python docs/make_figures.py                        # rewrites the committed PNGs in docs/figures/
    python docs/make_figures.py --output-dir /tmp/fig  # somewhere else

Writes:
    conditional_vs_unconditional.png   noise -> image vs label -> image, and what D is shown
    unet.png                           the U-Net, every tensor shape read from a forward pass
    patchgan.png                       the PatchGAN's layer shapes, its 30x30 output, and the 70x70
                                       patch one logit sees, found from the gradient of that logit

Nothing here is a result: the shapes come from forward hooks on pix2pix_models.UNetGenerator and
PatchGANDiscriminator (the U-Net runs on PyTorch's "meta" device, which tracks shapes without any
arithmetic), and the receptive field from one backward pass through a randomly initialised D.
The label drawn in the figures is a shipped sample (sample_facades/base/); photos are placeholders.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the module's folder: `python docs/make_figures.py`

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only; works on headless machines and in CI
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyBboxPatch, Rectangle
from PIL import Image

from facades_generator import SAMPLE_LABELS_DIR  # noqa: E402
from helpers.figures import save_figure  # noqa: E402
from helpers.files import ROOT  # noqa: E402
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, UNetGenerator, init_weights  # noqa: E402

FIGURES_DIR = ROOT / "docs" / "figures"
SAMPLE_LABEL = SAMPLE_LABELS_DIR / "townhouse_4_floors.png"
PROBE_LOGIT = (9, 12)  # the PatchGAN logit whose receptive field patchgan.png draws (row, col)
ENC, DEC, NEUTRAL, ACCENT = "#cfe3f7", "#fde2c4", "#ececec", "#c0392b"


def unet_shapes(ngf=64):
    """{block name: (input shape, output shape)} of UNetGenerator for one 256x256 image (C, H, W)."""
    shapes = {}
    with torch.device("meta"):  # shapes only: no memory for activations, no arithmetic
        net_G = UNetGenerator(ngf=ngf)
        for name, block in net_G.named_children():
            block.register_forward_hook(lambda m, i, o, name=name: shapes.update(
                {name: (tuple(i[0].shape[1:]), tuple(o.shape[1:]))}))
        net_G(torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    return shapes


def patchgan_facts(row=PROBE_LOGIT[0], col=PROBE_LOGIT[1], seed=0):
    """Layer output shapes of PatchGANDiscriminator and the input box that logit (row, col) depends on.

    The box is found, not assumed: back-propagate one logit and keep the input pixels whose gradient
    is non-zero. D is in eval mode, because training-mode BatchNorm mixes every pixel into every logit.
    """
    torch.manual_seed(seed)
    net_D = init_weights(PatchGANDiscriminator()).eval().requires_grad_(False)
    conv_shapes = []
    for layer in net_D.model:
        if isinstance(layer, torch.nn.Conv2d):
            layer.register_forward_hook(lambda m, i, o: conv_shapes.append(tuple(o.shape[1:])))
    image = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, requires_grad=True)
    logits = net_D(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE), image)
    logits[0, 0, row, col].backward()
    footprint = image.grad[0].abs().sum(0)  # (256, 256): how strongly each pixel moves this logit
    rows, cols = torch.nonzero(footprint, as_tuple=True)
    box = (rows.min().item(), cols.min().item(), rows.max().item() + 1, cols.max().item() + 1)  # top, left, bottom, right
    return {"input": (6, IMAGE_SIZE, IMAGE_SIZE), "conv_shapes": conv_shapes, "output": tuple(logits.shape[1:]),
            "box": box, "field": (box[2] - box[0], box[3] - box[1]), "footprint": footprint.numpy()}


# ------------------------------------------------------------------------------- drawing helpers
# The figures are read in the site's text column: 736 CSS pixels wide on a laptop (Furo's column at
# 1366x768). A figure W inches wide is shown there at 736 / (72 W) pixels per point of font size, so
# each figure is drawn about 8.5-9 inches wide with no text under 10 pt: 11-12 px on screen. DPI puts
# about 1500 pixels across, sharp on high-density screens. On a phone, tapping a figure opens it in full.
FONT = 10  # the smallest text: captions, shapes, notes
LABEL = 11  # names inside boxes
TITLE = 13


def _canvas(width, height, inches_per_unit):
    fig = plt.figure(figsize=(width * inches_per_unit, height * inches_per_unit))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, text, color, size=LABEL, weight="normal", **kw):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=color, edgecolor="#555555", linewidth=1.0, **kw))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight, linespacing=1.25)


def _arrow(ax, start, end, color="#333333", style="-|>", **kw):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=color, lw=1.5,
                                                          shrinkA=2, shrinkB=2, **kw))


def _picture(ax, image, x, y, size, caption=None):
    ax.imshow(image, extent=(x, x + size, y, y + size), interpolation="nearest", zorder=2)
    ax.add_patch(Rectangle((x, y), size, size, fill=False, edgecolor="#555555", lw=0.8, zorder=3))
    if caption:
        ax.text(x + size / 2, y - 0.15, caption, ha="center", va="top", fontsize=FONT)


def _placeholder(ax, x, y, size, text):
    ax.add_patch(Rectangle((x, y), size, size, facecolor="#f4f4f4", edgecolor="#888888", hatch="//", lw=0.8))
    ax.text(x + size / 2, y + size / 2, text, ha="center", va="center", fontsize=FONT,
            bbox=dict(facecolor="white", edgecolor="none", pad=2))


def _save(fig, path, dpi=170):
    return save_figure(fig, path, dpi=dpi, facecolor="white")


# ------------------------------------------------------------------------------------ the figures

def draw_conditional(label, path):
    fig, ax = _canvas(18, 14.0, 0.48)  # 8.6 x 6.7 inches
    ax.text(0.3, 13.6, "Unconditional GAN (e.g. DCGAN): noise in, any plausible image out",
            fontsize=TITLE, weight="bold")
    noise = np.random.default_rng(0).normal(size=(10, 1))
    ax.imshow(noise, extent=(1.0, 1.6, 9.3, 12.7), cmap="Greys", zorder=2)
    ax.text(1.3, 9.1, "random\nnoise z", ha="center", va="top", fontsize=FONT)
    _box(ax, 2.9, 10.4, 2.2, 1.3, "G", "#d6eaf8", size=15, weight="bold")
    _placeholder(ax, 6.6, 9.5, 3.1, "an image\nof anything\nG has learned")
    _box(ax, 11.2, 10.4, 2.2, 1.3, "D", "#fadbd8", size=15, weight="bold")
    ax.text(16.0, 11.05, "one verdict\nfor the whole\nimage: real\nor fake?", ha="center", va="center",
            fontsize=FONT + 0.5, linespacing=1.25)
    for a, b in [((1.7, 11.05), (2.9, 11.05)), ((5.1, 11.05), (6.6, 11.05)), ((9.7, 11.05), (11.2, 11.05)),
                 ((13.4, 11.05), (14.5, 11.05))]:
        _arrow(ax, a, b)
    ax.text(9.0, 8.65, "You cannot ask for a particular picture: the output depends only on the random z.",
            ha="center", va="center", fontsize=FONT + 0.5, style="italic")

    ax.plot([0.3, 17.7], [8.0, 8.0], color="#bbbbbb", lw=1)
    ax.text(0.3, 7.4, "Conditional GAN (pix2pix): an input image x in, its translation G(x) out",
            fontsize=TITLE, weight="bold")
    _picture(ax, label, 0.3, 2.5, 2.7, caption="label map x")
    _box(ax, 3.5, 3.2, 2.3, 1.3, "G\n(U-Net)", "#d6eaf8", size=LABEL + 1, weight="bold")
    _placeholder(ax, 6.6, 1.85, 2.2, "generated\nphoto G(x)")
    _placeholder(ax, 6.6, 4.45, 2.2, "real photo y\n(the pair's\nother half)")
    _box(ax, 11.0, 3.2, 2.5, 1.3, "D\n(PatchGAN)", "#fadbd8", size=LABEL + 1, weight="bold")
    ax.text(9.95, 5.65, "(x, y) → real", ha="center", va="center", fontsize=FONT, color="#1e8449")
    ax.text(9.9, 3.85, "(x, G(x))\n→ fake", ha="center", va="center", fontsize=FONT, color="#7b241c")
    ax.text(15.9, 3.85, "a 30x30 map\nof real/fake\nverdicts, one\nper 70x70 patch", ha="center", va="center",
            fontsize=FONT + 0.5, linespacing=1.25)
    ax.text(13.55, 6.45, "G's loss = cGAN term + λ · |y − G(x)|₁,  λ = 100\n"
            "(fool D, and stay close to the real y)", ha="center", va="center", fontsize=FONT,
            bbox=dict(facecolor="#fef9e7", edgecolor="#d4ac0d", pad=5))
    for a, b in [((3.0, 3.85), (3.5, 3.85)), ((5.8, 3.85), (6.6, 2.95)), ((8.8, 2.95), (11.0, 3.55)),
                 ((8.8, 5.55), (11.0, 4.15)), ((13.5, 3.85), (14.3, 3.85))]:
        _arrow(ax, a, b)
    _arrow(ax, (1.65, 1.95), (12.25, 3.2), color="#7f8c8d", connectionstyle="arc3,rad=0.2")
    ax.text(12.9, 2.0, "x goes to D as well:\nD judges pairs", fontsize=FONT, color="#5d6d7e", va="center")
    ax.text(0.3, 0.15, "No noise vector: pix2pix's only randomness is dropout (§3.1), which this module turns off\n"
            "by default, so one label gives one facade.", fontsize=FONT, style="italic", va="bottom",
            linespacing=1.3)
    return _save(fig, path)


def _fmt(shape):
    return "×".join(str(s) for s in shape)


def draw_unet(shapes, path):
    levels = 8  # 256 -> 1 in eight halvings
    fig, ax = _canvas(21, 16.8, 0.43)  # 9.0 x 7.2 inches
    ax.text(10.5, 16.3, "U-Net generator (unet_256): every shape read from a forward pass",
            ha="center", fontsize=TITLE, weight="bold")
    ax.text(10.5, 15.7, "C×H×W for one 256×256 image, ngf = 64", ha="center", fontsize=FONT + 0.5, color="#555555")
    bw, bh = 2.7, 1.05

    def y(level):  # level 0 = 256x256 at the top, level 8 = the 1x1 bottleneck at the bottom
        return 14.1 - level * 1.38

    def enc_x(level):  # box centres: the encoder steps right and the decoder steps left, a "U"
        return 10.5 if level == levels else 1.6 + 0.42 * level

    def dec_x(level):
        return 10.5 if level == levels else 19.4 - 0.42 * level

    _box(ax, enc_x(0) - bw / 2, y(0), bw, bh, f"input x\n{_fmt(shapes['down1'][0])}", NEUTRAL)
    _box(ax, dec_x(0) - bw / 2, y(0), bw, bh, f"output G(x)\n{_fmt(shapes['final'][1])}", NEUTRAL)
    for k in range(1, levels + 1):  # encoder: the output of down_k sits at level k
        color = "#e8daef" if k == levels else ENC
        _box(ax, enc_x(k) - bw / 2, y(k), bw, bh, f"d{k} = down{k}\n{_fmt(shapes[f'down{k}'][1])}", color)
        _arrow(ax, (enc_x(k - 1), y(k - 1)), (enc_x(k) - (0.8 if k == levels else 0), y(k) + bh))
    ax.text(10.5 + bw / 2 + 0.2, y(levels) + bh / 2, "bottleneck", ha="left", va="center", fontsize=FONT + 0.5,
            color="#6c3483")
    for k in range(levels - 1, 0, -1):  # decoder: up_(8-k) outputs at level k
        name = f"up{levels - k}"
        _box(ax, dec_x(k) - bw / 2, y(k), bw, bh, f"u{levels - k} = {name}\n{_fmt(shapes[name][1])}", DEC)
        if name in ("up2", "up3", "up4"):
            ax.text(dec_x(k) + bw / 2 + 0.12, y(k) + bh / 2, "Dropout", fontsize=FONT, ha="left", va="center",
                    color=ACCENT)
        _arrow(ax, (dec_x(k + 1) + (0.8 if k + 1 == levels else 0), y(k + 1) + bh), (dec_x(k), y(k)))
        # The skip: d_k joins u_(8-k), encoder first, and the next decoder block reads the concatenation.
        reader = "final" if k == 1 else f"up{levels - k + 1}"
        start, end = enc_x(k) + bw / 2, dec_x(k) - bw / 2
        _arrow(ax, (start, y(k) + bh / 2), (end, y(k) + bh / 2), color="#7f8c8d", linestyle=(0, (4, 3)))
        ax.text((start + end) / 2, y(k) + bh / 2 + 0.1, f"cat[d{k}, u{levels - k}] → {reader}: {_fmt(shapes[reader][0])}",
                ha="center", va="bottom", fontsize=FONT, color="#444444")
    _arrow(ax, (dec_x(1), y(1) + bh), (dec_x(0), y(0)))

    notes = ("down: Conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.2)  (down1: no BatchNorm; down8: the conv alone)\n"
             "up: ReLU → ConvTranspose 4×4 stride 2 → BatchNorm [→ Dropout];  final: ReLU → ConvTranspose → Tanh\n"
             "Dashed: skips, taken after the LeakyReLU (the official in-place LeakyReLU rewrites the\n"
             "tensor a skip holds).  Dropout(0.5) in up2, up3 and up4.  54,413,955 parameters")
    ax.text(10.5, 0.35, notes, ha="center", va="bottom", fontsize=FONT, linespacing=1.45,
            bbox=dict(facecolor="#fbfcfc", edgecolor="#d5d8dc", pad=6))
    return _save(fig, path)


def draw_patchgan(label, facts, path):
    fig, ax = _canvas(16, 15.2, 0.55)  # 8.8 x 8.4 inches
    ax.text(8.0, 14.65, "70×70 PatchGAN discriminator: a grid of verdicts, each on one patch",
            ha="center", fontsize=TITLE, weight="bold")
    top, left, bottom, right = facts["box"]
    fh, fw = facts["field"]

    # Top left: the input, with the patch that one logit sees.
    size = 5.0
    scale = size / IMAGE_SIZE  # the 256-pixel input is drawn `size` units wide
    x0, y0 = 0.5, 8.4
    _picture(ax, label, x0, y0, size)
    ax.text(x0 + size / 2, y0 + size + 0.15, f"red: the {fh}×{fw} pixels that logit {PROBE_LOGIT} sees",
            ha="center", fontsize=FONT, color=ACCENT)
    ax.text(x0 + size / 2, y0 - 0.15, "condition x (label) and image\n(real y or G(x)), concatenated:\n"
            f"{_fmt(facts['input'])}", ha="center", va="top", fontsize=FONT, linespacing=1.3)
    ax.add_patch(Rectangle((x0 + left * scale, y0 + (IMAGE_SIZE - bottom) * scale), fw * scale, fh * scale,
                           fill=False, edgecolor=ACCENT, lw=2.4, zorder=4))

    # Top right: the five convolutions, then an arrow down to their output.
    names = ["Conv 4×4 s2, LeakyReLU", "Conv 4×4 s2, BN, LeakyReLU", "Conv 4×4 s2, BN, LeakyReLU",
             "Conv 4×4 s1, BN, LeakyReLU", "Conv 4×4 s1 → logits"]
    bx, bw, bh, step, top_box = 7.9, 6.8, 0.9, 1.12, 12.55
    for i, (shape, name) in enumerate(zip(facts["conv_shapes"], names)):
        yb = top_box - i * step
        _box(ax, bx, yb, bw, bh, f"{name}\n{_fmt(shape)}", "#fadbd8" if i < 4 else "#f5b7b1", size=FONT + 0.5)
        if i:
            _arrow(ax, (bx + bw / 2, yb + step), (bx + bw / 2, yb + bh))
    _arrow(ax, (x0 + size + 0.1, y0 + size * 0.7), (bx, top_box + bh / 2))

    # Bottom right: the 30x30 output grid, with the logit whose patch is drawn.
    n_rows, n_cols = facts["output"][1:]
    gsize = 4.4
    gx, gy, cell = bx + (bw - gsize) / 2, 2.6, gsize / n_cols
    for r in range(n_rows + 1):
        ax.plot([gx, gx + n_cols * cell], [gy + r * cell] * 2, color="#bbbbbb", lw=0.4)
    for c in range(n_cols + 1):
        ax.plot([gx + c * cell] * 2, [gy, gy + n_rows * cell], color="#bbbbbb", lw=0.4)
    r, c = PROBE_LOGIT
    ax.add_patch(Rectangle((gx + c * cell, gy + (n_rows - 1 - r) * cell), cell, cell, color=ACCENT, zorder=4))
    ax.text(gx + gsize / 2, gy - 0.15, f"output: {n_rows}×{n_cols} logits, one real/fake\n"
            "verdict each; D's loss averages the\nBCE over all of them", ha="center", va="top", fontsize=FONT,
            linespacing=1.3)
    _arrow(ax, (bx + bw / 2, top_box - 4 * step), (gx + gsize / 2, gy + gsize + 0.05))
    _arrow(ax, (gx + (c + 0.5) * cell, gy + (n_rows - 0.5 - r) * cell),
           (x0 + right * scale, y0 + (IMAGE_SIZE - top) * scale),
           color=ACCENT, connectionstyle="arc3,rad=-0.12", linestyle=(0, (3, 2)))

    # Bottom left: the gradient of that logit, zoomed on the box.
    zoom = 6  # pixels of context around the box
    crop = facts["footprint"][max(top - zoom, 0):bottom + zoom, max(left - zoom, 0):right + zoom]
    zsize = 4.0
    zx, zy = x0 + (size - zsize) / 2, 2.6
    ax.imshow(np.sqrt(crop / crop.max()), extent=(zx, zx + zsize, zy, zy + zsize), cmap="magma", zorder=2)
    inner = zsize / crop.shape[1]
    ax.add_patch(Rectangle((zx + zoom * inner, zy + zoom * inner), fw * inner, fh * inner, fill=False,
                           edgecolor=ACCENT, lw=1.6, ls="--", zorder=4))
    ax.text(zx + zsize / 2, zy + zsize + 0.15, "zoom on the red box: |∂ logit / ∂ pixel|", ha="center",
            fontsize=FONT)
    ax.text(zx + zsize / 2, zy - 0.15, "outside the box the gradient is\nexactly 0; inside, the centre\n"
            "counts most (random weights)", ha="center", va="top", fontsize=FONT, linespacing=1.3)
    ax.text(8.0, 0.15, f"Found from the network: the gradient of logit {PROBE_LOGIT} is non-zero on exactly "
            f"{fh}×{fw} input pixels.\nA patch judge sees texture and local structure; the L1 term takes care of "
            "the low\nfrequencies (§3.2.2).  2,768,705 parameters.", ha="center", va="bottom", fontsize=FONT,
            linespacing=1.35)
    return _save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw the lesson's concept diagrams into PNG files.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=FIGURES_DIR, help="folder for the PNGs")
    args = parser.parse_args(argv)
    print(f"output dir: {args.output_dir}\ndevice:     cpu (shapes on 'meta', one backward pass for D)")

    label = Image.open(SAMPLE_LABEL).convert("RGB")
    shapes = unet_shapes()
    facts = patchgan_facts()
    print(f"U-Net bottleneck {_fmt(shapes['down8'][1])}; PatchGAN output {_fmt(facts['output'])}, "
          f"logit {PROBE_LOGIT} sees {facts['field'][0]}x{facts['field'][1]} input pixels")
    written = [draw_conditional(label, args.output_dir / "conditional_vs_unconditional.png"),
               draw_unet(shapes, args.output_dir / "unet.png"),
               draw_patchgan(label, facts, args.output_dir / "patchgan.png")]
    for path in written:
        print(f"wrote {path}")
    return {"unet": shapes, "patchgan": facts, "files": written}


if __name__ == "__main__":
    main()
