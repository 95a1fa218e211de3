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

def _canvas(width, height, inches_per_unit=0.6):
    fig = plt.figure(figsize=(width * inches_per_unit, height * inches_per_unit))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, text, color, size=10, weight="normal", **kw):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=color, edgecolor="#555555", linewidth=1.0, **kw))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight)


def _arrow(ax, start, end, color="#333333", style="-|>", **kw):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=color, lw=1.4,
                                                          shrinkA=2, shrinkB=2, **kw))


def _picture(ax, image, x, y, size, caption=None):
    ax.imshow(image, extent=(x, x + size, y, y + size), interpolation="nearest", zorder=2)
    ax.add_patch(Rectangle((x, y), size, size, fill=False, edgecolor="#555555", lw=0.8, zorder=3))
    if caption:
        ax.text(x + size / 2, y - 0.15, caption, ha="center", va="top", fontsize=9)


def _placeholder(ax, x, y, size, text):
    ax.add_patch(Rectangle((x, y), size, size, facecolor="#f4f4f4", edgecolor="#888888", hatch="//", lw=0.8))
    ax.text(x + size / 2, y + size / 2, text, ha="center", va="center", fontsize=9,
            bbox=dict(facecolor="white", edgecolor="none", pad=2))


def _save(fig, path):
    return save_figure(fig, path, dpi=110, facecolor="white")


# ------------------------------------------------------------------------------------ the figures

def draw_conditional(label, path):
    fig, ax = _canvas(18, 12.4)
    ax.text(0.3, 12.0, "Unconditional GAN (e.g. DCGAN): noise in, any plausible image out", fontsize=13, weight="bold")
    noise = np.random.default_rng(0).normal(size=(10, 1))
    ax.imshow(noise, extent=(1.2, 1.7, 8.0, 11.2), cmap="Greys", zorder=2)
    ax.text(1.45, 7.8, "random noise z", ha="center", va="top", fontsize=9)
    _box(ax, 3.2, 9.0, 2.2, 1.2, "G", "#d6eaf8", size=14, weight="bold")
    _placeholder(ax, 7.0, 8.1, 3.0, "an image\nof anything\nG has learned")
    _box(ax, 11.6, 9.0, 2.2, 1.2, "D", "#fadbd8", size=14, weight="bold")
    ax.text(15.9, 9.6, "one verdict\nfor the whole image:\nreal or fake?", ha="center", va="center", fontsize=10)
    for a, b in [((1.8, 9.6), (3.2, 9.6)), ((5.4, 9.6), (7.0, 9.6)), ((10.0, 9.6), (11.6, 9.6)), ((13.8, 9.6), (14.6, 9.6))]:
        _arrow(ax, a, b)
    ax.text(8.5, 7.5, "You cannot ask for a particular picture: the output depends only on the random z.",
            ha="center", fontsize=10, style="italic")

    ax.plot([0.3, 17.7], [6.95, 6.95], color="#bbbbbb", lw=1)
    ax.text(0.3, 6.45, "Conditional GAN (pix2pix): an input image x in, its translation G(x) out",
            fontsize=13, weight="bold")
    _picture(ax, label, 0.3, 1.9, 2.7, caption="label map x")
    _box(ax, 3.6, 2.65, 2.2, 1.2, "G\n(U-Net)", "#d6eaf8", size=12, weight="bold")
    _placeholder(ax, 6.6, 1.35, 2.1, "generated\nphoto G(x)")
    _placeholder(ax, 6.6, 3.9, 2.1, "real photo y\n(the pair's\nother half)")
    _box(ax, 11.0, 2.65, 2.4, 1.2, "D\n(PatchGAN)", "#fadbd8", size=11, weight="bold")
    ax.text(9.95, 1.95, "(x, G(x)) → fake", ha="center", fontsize=9.5, color="#7b241c")
    ax.text(9.95, 4.75, "(x, y) → real", ha="center", fontsize=9.5, color="#1e8449")
    ax.text(15.8, 3.25, "a 30x30 map of\nreal/fake verdicts,\none per 70x70 patch", ha="center", va="center",
            fontsize=10)
    ax.text(14.1, 5.6, "G's loss = cGAN term  +  λ · |y - G(x)|₁,   λ = 100\n"
            "(fool D, and stay close to the real y)", ha="center", va="center", fontsize=10,
            bbox=dict(facecolor="#fef9e7", edgecolor="#d4ac0d", pad=5))
    for a, b in [((3.0, 3.25), (3.6, 3.25)), ((5.8, 3.25), (6.6, 2.4)), ((8.7, 2.4), (11.0, 2.95)),
                 ((8.7, 4.95), (11.0, 3.55)), ((13.4, 3.25), (14.4, 3.25))]:
        _arrow(ax, a, b)
    _arrow(ax, (1.65, 1.45), (12.2, 2.65), color="#7f8c8d", connectionstyle="arc3,rad=0.26")
    ax.text(12.7, 1.75, "x goes to D as well:\nD judges pairs", fontsize=9, color="#7f8c8d")
    ax.text(0.3, 0.1, "No noise vector: pix2pix's only randomness is dropout (§3.2), which this module turns "
            "off by default, so one label gives one facade.", fontsize=9.5, style="italic")
    return _save(fig, path)


def _fmt(shape):
    return "×".join(str(s) for s in shape)


def draw_unet(shapes, path):
    levels = 8  # 256 -> 1 in eight halvings
    fig, ax = _canvas(22, 13.6)
    ax.text(11, 13.1, "U-Net generator (unet_256): every shape read from a forward pass (C×H×W, ngf = 64)",
            ha="center", fontsize=13, weight="bold")
    bw, bh = 2.4, 0.8

    def y(level):  # level 0 = 256x256 at the top, level 8 = the 1x1 bottleneck at the bottom
        return 11.7 - level * 1.15

    def enc_x(level):  # box centres: the encoder steps right and the decoder steps left, a "U"
        return 11 if level == levels else 2.4 + 0.7 * level

    def dec_x(level):
        return 11 if level == levels else 19.6 - 0.7 * level

    _box(ax, enc_x(0) - bw / 2, y(0), bw, bh, f"input x\n{_fmt(shapes['down1'][0])}", NEUTRAL, size=9)
    _box(ax, dec_x(0) - bw / 2, y(0), bw, bh, f"output G(x)\n{_fmt(shapes['final'][1])}", NEUTRAL, size=9)
    for k in range(1, levels + 1):  # encoder: the output of down_k sits at level k
        color = "#e8daef" if k == levels else ENC
        _box(ax, enc_x(k) - bw / 2, y(k), bw, bh, f"d{k} = down{k}\n{_fmt(shapes[f'down{k}'][1])}", color, size=9)
        _arrow(ax, (enc_x(k - 1), y(k - 1)), (enc_x(k) - (0.6 if k == levels else 0), y(k) + bh))
    ax.text(11, y(levels) - 0.3, "bottleneck", ha="center", va="top", fontsize=9, color="#6c3483")
    for k in range(levels - 1, 0, -1):  # decoder: up_(8-k) outputs at level k
        name = f"up{levels - k}"
        _box(ax, dec_x(k) - bw / 2, y(k), bw, bh, f"u{levels - k} = {name}\n{_fmt(shapes[name][1])}", DEC, size=9)
        if name in ("up2", "up3", "up4"):
            ax.text(dec_x(k) + bw / 2 + 0.12, y(k) + bh / 2, "Dropout(0.5)", fontsize=8.5, va="center", color=ACCENT)
        _arrow(ax, (dec_x(k + 1) + (0.6 if k + 1 == levels else 0), y(k + 1) + bh), (dec_x(k), y(k)))
        # The skip: d_k joins u_(8-k), encoder first, and the next decoder block reads the concatenation.
        reader = "final" if k == 1 else f"up{levels - k + 1}"
        start, end = enc_x(k) + bw / 2, dec_x(k) - bw / 2
        _arrow(ax, (start, y(k) + bh / 2), (end, y(k) + bh / 2), color="#7f8c8d", linestyle=(0, (4, 3)))
        ax.text((start + end) / 2, y(k) + bh / 2 + 0.1, f"cat[d{k}, u{levels - k}] → {reader} reads "
                f"{_fmt(shapes[reader][0])}", ha="center", va="bottom", fontsize=8.5, color="#566573")
    _arrow(ax, (dec_x(1), y(1) + bh), (dec_x(0), y(0)))

    notes = ("down: Conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.2)   (down1 has no BatchNorm; down8 is the conv alone)\n"
             "up: ReLU → ConvTranspose 4×4 stride 2 → BatchNorm [→ Dropout]      final: ReLU → ConvTranspose → Tanh\n"
             "Dashed: skips, taken after the LeakyReLU (the official in-place LeakyReLU rewrites the tensor a skip "
             "holds).   54,413,955 parameters")
    ax.text(11, 0.15, notes, ha="center", va="bottom", fontsize=9.5, linespacing=1.5,
            bbox=dict(facecolor="#fbfcfc", edgecolor="#d5d8dc", pad=6))
    return _save(fig, path)


def draw_patchgan(label, facts, path):
    fig, ax = _canvas(24.4, 9.4)
    ax.text(12.2, 9.0, "70×70 PatchGAN discriminator: a grid of verdicts, each on one patch",
            ha="center", fontsize=13, weight="bold")
    top, left, bottom, right = facts["box"]
    scale = 5.0 / IMAGE_SIZE  # the 256-pixel input is drawn 5 units wide
    x0, y0 = 0.4, 2.3
    _picture(ax, label, x0, y0, 5.0)
    ax.text(x0 + 2.5, y0 - 0.2, "condition x (label) and image (real y or G(x)),\nconcatenated: "
            f"{_fmt(facts['input'])}", ha="center", va="top", fontsize=9.5)
    fh, fw = facts["field"]
    ax.add_patch(Rectangle((x0 + left * scale, y0 + (IMAGE_SIZE - bottom) * scale), fw * scale, fh * scale,
                           fill=False, edgecolor=ACCENT, lw=2.2, zorder=4))
    ax.text(x0 + 2.5, y0 + 5.15, f"red: the {fh}×{fw} pixels logit {PROBE_LOGIT} depends on",
            ha="center", fontsize=9.5, color=ACCENT)

    names = ["Conv 4×4 s2, LeakyReLU", "Conv 4×4 s2, BN, LeakyReLU", "Conv 4×4 s2, BN, LeakyReLU",
             "Conv 4×4 s1, BN, LeakyReLU", "Conv 4×4 s1 → logits"]
    for i, (shape, name) in enumerate(zip(facts["conv_shapes"], names)):
        y = 7.3 - i * 1.15
        _box(ax, 6.6, y, 4.6, 0.85, f"{name}\n{_fmt(shape)}", "#fadbd8" if i < 4 else "#f5b7b1", size=9)
        if i:
            _arrow(ax, (8.9, y + 1.15), (8.9, y + 0.85))
    _arrow(ax, (5.5, 4.8), (6.6, 7.7))

    n_rows, n_cols = facts["output"][1:]
    gx, gy, cell = 12.6, 2.3, 5.0 / n_cols
    for r in range(n_rows + 1):
        ax.plot([gx, gx + n_cols * cell], [gy + r * cell] * 2, color="#bbbbbb", lw=0.4)
    for c in range(n_cols + 1):
        ax.plot([gx + c * cell] * 2, [gy, gy + n_rows * cell], color="#bbbbbb", lw=0.4)
    r, c = PROBE_LOGIT
    ax.add_patch(Rectangle((gx + c * cell, gy + (n_rows - 1 - r) * cell), cell, cell, color=ACCENT, zorder=4))
    ax.text(gx + 2.5, gy - 0.2, f"output: {n_rows}×{n_cols} logits, one real/fake verdict each;\n"
            "D's loss averages BCE over all of them", ha="center", va="top", fontsize=9.5)
    _arrow(ax, (11.2, 2.9), (12.5, 4.2))
    _arrow(ax, (gx + (c + 0.5) * cell, gy + (n_rows - 0.5 - r) * cell), (x0 + right * scale, y0 + (IMAGE_SIZE - top) * scale),
           color=ACCENT, connectionstyle="arc3,rad=0.25", linestyle=(0, (3, 2)))
    zoom = 6  # pixels of context around the box
    crop = facts["footprint"][max(top - zoom, 0):bottom + zoom, max(left - zoom, 0):right + zoom]
    zx, zy = 18.9, 2.3
    ax.imshow(np.sqrt(crop / crop.max()), extent=(zx, zx + 5, zy, zy + 5), cmap="magma", zorder=2)
    inner = 5.0 / crop.shape[1]
    ax.add_patch(Rectangle((zx + zoom * inner, zy + zoom * inner), fw * inner, fh * inner, fill=False,
                           edgecolor=ACCENT, lw=1.5, ls="--", zorder=4))
    ax.text(zx + 2.5, zy + 5.15, "zoom on the red box: |∂ logit / ∂ pixel|", ha="center", fontsize=9.5)
    ax.text(zx + 2.5, zy - 0.2, "outside the box the gradient is exactly 0;\n"
            "inside, the centre counts most (random weights)", ha="center", va="top", fontsize=9.5)
    ax.text(12.2, 0.3, f"Found from the network: the gradient of logit {PROBE_LOGIT} is non-zero on exactly "
            f"{fh}×{fw} input pixels. A patch judge sees texture and local structure;\nthe L1 term takes care "
            "of the low frequencies (§3.2.2). 2,768,705 parameters.", ha="center", fontsize=9.5)
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
