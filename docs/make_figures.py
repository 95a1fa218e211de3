"""Draw the lesson's concept diagrams from the real networks (no weights needed).

    python docs/make_figures.py                        # rewrites the PNGs in docs/figures/
    python docs/make_figures.py --output-dir /tmp/fig  # somewhere else

Writes conditional_vs_unconditional.png, unet.png, patchgan.png and palette.png (the 12 label
colours of facades_generator.py), measured, not drawn from memory: shapes from forward hooks on
the "meta" device, the receptive field from one PatchGAN logit's gradient. Photos are placeholders.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python docs/make_figures.py`

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from helpers.figures import save_figure  # before matplotlib: a bogus MPLBACKEND gets a sentence
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from facades_generator import FACADE_CLASSES, SAMPLE_LABELS_DIR
from helpers.lesson import ROOT, ArgumentParser, open_image, path_arg, to_rgb
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, UNetGenerator, init_weights

FIGURES_DIR = ROOT / "docs" / "figures"
SAMPLE_LABEL = SAMPLE_LABELS_DIR / "townhouse_4_floors.png"
PROBE_LOGIT = (9, 12)  # the PatchGAN logit whose receptive field patchgan.png draws (row, col)


def unet_shapes(ngf=64):
    """{block: (input shape, output shape)} of UNetGenerator for one 256x256 image, (C, H, W)."""
    shapes = {}
    with torch.device("meta"):  # shapes only: no memory for activations, no arithmetic
        net_G = UNetGenerator(ngf=ngf)
        names = {block: name for name, block in net_G.named_children()}

        def keep(block, inputs, output):
            shapes[names[block]] = (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))

        for block in names:
            block.register_forward_hook(keep)
        net_G(torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    return shapes


def patchgan_facts(row=PROBE_LOGIT[0], col=PROBE_LOGIT[1], seed=0):
    """PatchGANDiscriminator's layer output shapes and the input box that logit (row, col) depends
    on, found rather than assumed: back-propagate that logit and keep the pixels whose gradient is
    non-zero. D is in eval mode: training-mode BatchNorm mixes every pixel into every logit."""
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
    top, left, bottom, right = (int(v) for v in (rows.min(), cols.min(), rows.max(), cols.max()))
    box, field = (top, left, bottom + 1, right + 1), (bottom + 1 - top, right + 1 - left)
    facts = dict(input=(6, IMAGE_SIZE, IMAGE_SIZE), conv_shapes=conv_shapes, box=box, field=field)
    return facts | dict(output=tuple(logits.shape[1:]), footprint=footprint.numpy())


# ---- Drawing. A canvas has its own units; each figure says how many inches a unit is. Furo's text
# column is 736 CSS pixels wide on a laptop: a figure about 9 inches wide with no text under 10 pt
# shows it at 11-12 px, and 170 dpi is sharp on dense screens.
FONT, LABEL, TITLE, DPI = 10, 11, 13, 170  # smallest text, names in boxes, titles; pixels/inch
ENCODER, DECODER, NEUTRAL, ACCENT = "#cfe3f7", "#fde2c4", "#ececec", "#c0392b"
GENERATOR, DISCRIMINATOR = "#d6eaf8", "#fadbd8"


def canvas(width, height, inches_per_unit):  # a Figure without pyplot needs no backend
    fig = Figure(figsize=(width * inches_per_unit, height * inches_per_unit))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set(xlim=(0, width), ylim=(0, height), aspect="equal")
    ax.axis("off")
    return fig, ax


def text(ax, x, y, words, size=FONT, ha="center", va="center", **options):
    ax.text(x, y, words, ha=ha, va=va, fontsize=size, **options)


def rect(ax, corner, w, h, **style):
    ax.add_patch(Rectangle(corner, w, h, **style))


def box(ax, x, y, w, h, words, color, size=LABEL, weight="normal"):  # (x, y): lower left
    style = "round,pad=0.02,rounding_size=0.12"
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=color, edgecolor="#555555"))
    text(ax, x + w / 2, y + h / 2, words, size=size, weight=weight, linespacing=1.25)


def arrow(ax, start, end, color="#333333", **options):
    props = dict(arrowstyle="-|>", color=color, lw=1.5, shrinkA=2, shrinkB=2, **options)
    ax.annotate("", xy=end, xytext=start, arrowprops=props)


def picture(ax, image, x, y, size, caption=None):  # framed and captioned
    ax.imshow(image, extent=(x, x + size, y, y + size), interpolation="nearest", zorder=2)
    rect(ax, (x, y), size, size, fill=False, edgecolor="#555555", lw=0.8, zorder=3)
    if caption:
        text(ax, x + size / 2, y - 0.15, caption, va="top")


def placeholder(ax, x, y, size, words):  # a hatched square for a photo not shown
    rect(ax, (x, y), size, size, facecolor="#f4f4f4", edgecolor="#888888", hatch="//", lw=0.8)
    white = dict(facecolor="white", edgecolor="none", pad=2)
    text(ax, x + size / 2, y + size / 2, words, bbox=white)


def shape_text(shape):
    return "×".join(map(str, shape))  # (512, 1, 1) -> '512×1×1'


def draw_conditional(label, path):
    """noise -> any image (DCGAN) against label -> its photo (pix2pix), and what D is shown."""
    fig, ax = canvas(18, 14.0, 0.48)  # 8.6 x 6.7 inches
    heading = "Unconditional GAN (e.g. DCGAN): noise in, any plausible image out"
    text(ax, 0.3, 13.6, heading, TITLE, "left", "baseline", weight="bold")
    noise = np.random.default_rng(0).normal(size=(10, 1))
    ax.imshow(noise, extent=(1.0, 1.6, 9.3, 12.7), cmap="Greys", zorder=2)
    text(ax, 1.3, 9.1, "random\nnoise z", va="top")
    box(ax, 2.9, 10.4, 2.2, 1.3, "G", GENERATOR, size=15, weight="bold")
    placeholder(ax, 6.6, 9.5, 3.1, "an image\nof anything\nG has learned")
    box(ax, 11.2, 10.4, 2.2, 1.3, "D", DISCRIMINATOR, size=15, weight="bold")
    verdict = "one verdict\nfor the whole\nimage: real\nor fake?"
    text(ax, 16.0, 11.05, verdict, size=FONT + 0.5, linespacing=1.25)
    for x0, x1 in [(1.7, 2.9), (5.1, 6.6), (9.7, 11.2), (13.4, 14.5)]:
        arrow(ax, (x0, 11.05), (x1, 11.05))
    no_choice = "You cannot ask for a particular picture: the output depends only on the random z."
    text(ax, 9.0, 8.65, no_choice, size=FONT + 0.5, style="italic")
    ax.plot([0.3, 17.7], [8.0, 8.0], color="#bbbbbb", lw=1)

    heading = "Conditional GAN (pix2pix): an input image x in, its translation G(x) out"
    text(ax, 0.3, 7.4, heading, TITLE, "left", "baseline", weight="bold")
    picture(ax, label, 0.3, 2.5, 2.7, caption="label map x")
    box(ax, 3.5, 3.2, 2.3, 1.3, "G\n(U-Net)", GENERATOR, size=LABEL + 1, weight="bold")
    placeholder(ax, 6.6, 1.85, 2.2, "generated\nphoto G(x)")
    placeholder(ax, 6.6, 4.45, 2.2, "real photo y\n(the pair's\nother half)")
    box(ax, 11.0, 3.2, 2.5, 1.3, "D\n(PatchGAN)", DISCRIMINATOR, size=LABEL + 1, weight="bold")
    text(ax, 9.95, 5.65, "(x, y) → real", color="#1e8449")
    text(ax, 9.9, 3.85, "(x, G(x))\n→ fake", color="#7b241c")
    patches = "a 30x30 map\nof real/fake\nverdicts, one\nper 70x70 patch"
    text(ax, 15.9, 3.85, patches, size=FONT + 0.5, linespacing=1.25)
    loss = "G's loss = cGAN term + λ · |y − G(x)|₁,  λ = 100\n"
    loss += "(fool D, and stay close to the real y)"
    text(ax, 13.55, 6.45, loss, bbox=dict(facecolor="#fef9e7", edgecolor="#d4ac0d", pad=5))
    ends = [((3.0, 3.85), (3.5, 3.85)), ((5.8, 3.85), (6.6, 2.95)), ((8.8, 2.95), (11.0, 3.55))]
    for start, end in ends + [((8.8, 5.55), (11.0, 4.15)), ((13.5, 3.85), (14.3, 3.85))]:
        arrow(ax, start, end)
    arrow(ax, (1.65, 1.95), (12.25, 3.2), color="#7f8c8d", connectionstyle="arc3,rad=0.2")
    text(ax, 12.9, 2.0, "x goes to D as well:\nD judges pairs", ha="left", color="#5d6d7e")
    no_noise = "No noise vector: pix2pix's only randomness is dropout (§3.1), which this module "
    no_noise += "turns off\nby default, so one label gives one facade."
    text(ax, 0.3, 0.15, no_noise, ha="left", va="bottom", style="italic", linespacing=1.3)
    return save_figure(fig, path, dpi=DPI, facecolor="white")


def draw_unet(shapes, path):
    """The U-Net as a "U" from `shapes`, {block: (input shape, output shape)}."""

    def place(k, encoder):  # level k's box: 0 (256x256) on top, 8 (1x1) at the bottom, centred
        x = 10.5 if k == 8 else 1.6 + 0.42 * k if encoder else 19.4 - 0.42 * k
        return x - 1.35, 14.1 - k * 1.38  # lower left corner of a 2.7 x 1.05 box

    fig, ax = canvas(21, 16.8, 0.43)  # 9.0 x 7.2 inches
    heading = "U-Net generator (unet_256): every shape read from a forward pass"
    text(ax, 10.5, 16.3, heading, TITLE, va="baseline", weight="bold")
    subtitle = "C×H×W for one 256×256 image, ngf = 64"
    text(ax, 10.5, 15.7, subtitle, size=FONT + 0.5, va="baseline", color="#555555")
    box(ax, *place(0, True), 2.7, 1.05, f"input x\n{shape_text(shapes['down1'][0])}", NEUTRAL)
    box(ax, *place(0, False), 2.7, 1.05, f"output G(x)\n{shape_text(shapes['final'][1])}", NEUTRAL)
    for k in range(1, 9):  # encoder: the output of down_k sits at level k
        (x, y), (x_above, y_above) = place(k, True), place(k - 1, True)
        label = f"d{k} = down{k}\n{shape_text(shapes[f'down{k}'][1])}"
        box(ax, x, y, 2.7, 1.05, label, "#e8daef" if k == 8 else ENCODER)
        arrow(ax, (x_above + 1.35, y_above), (x + 1.35 - 0.8 * (k == 8), y + 1.05))
    text(ax, 12.05, place(8, True)[1] + 0.525, "bottleneck", FONT + 0.5, "left", color="#6c3483")
    for k in range(7, 0, -1):  # decoder: up_(8-k) outputs at level k
        (x, y), (x_below, y_below) = place(k, False), place(k + 1, False)
        name, reader = f"up{8 - k}", "final" if k == 1 else f"up{9 - k}"
        box(ax, x, y, 2.7, 1.05, f"u{8 - k} = {name}\n{shape_text(shapes[name][1])}", DECODER)
        if name in ("up2", "up3", "up4"):
            text(ax, x + 2.82, y + 0.525, "Dropout", ha="left", color=ACCENT)
        arrow(ax, (x_below + 1.35 + 0.8 * (k == 7), y_below + 1.05), (x + 1.35, y))
        # The skip: d_k joins u_(8-k), encoder first, and the next decoder block reads the pair.
        start, middle = place(k, True)[0] + 2.7, y + 0.525
        arrow(ax, (start, middle), (x, middle), color="#7f8c8d", linestyle=(0, (4, 3)))
        skip = f"cat[d{k}, u{8 - k}] → {reader}: {shape_text(shapes[reader][0])}"
        text(ax, (start + x) / 2, middle + 0.1, skip, va="bottom", color="#444444")
    (x, y), (x_top, y_top) = place(1, False), place(0, False)
    arrow(ax, (x + 1.35, y + 1.05), (x_top + 1.35, y_top))
    notes = (
        "down: Conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.2)  (down1: no BatchNorm; down8: the "
        "conv alone)\nup: ReLU → ConvTranspose 4×4 stride 2 → BatchNorm [→ Dropout];  final: ReLU "
        "→ ConvTranspose → Tanh\nDashed: skips, taken after the LeakyReLU (the official in-place "
        "LeakyReLU rewrites the\ntensor a skip holds).  Dropout(0.5) in up2, up3 and up4.  "
        "54,413,955 parameters"
    )
    frame = dict(facecolor="#fbfcfc", edgecolor="#d5d8dc", pad=6)
    text(ax, 10.5, 0.35, notes, va="bottom", linespacing=1.45, bbox=frame)
    return save_figure(fig, path, dpi=DPI, facecolor="white")


def draw_patchgan(label, facts, path, probe):
    """The PatchGAN from `facts` (patchgan_facts for logit `probe`), `label` as the condition."""
    fig, ax = canvas(16, 15.2, 0.55)  # 8.8 x 8.4 inches
    heading = "70×70 PatchGAN discriminator: a grid of verdicts, each on one patch"
    text(ax, 8.0, 14.65, heading, TITLE, va="baseline", weight="bold")
    (top, left, bottom, right), (fh, fw) = facts["box"], facts["field"]
    # Top left: the input (5 units wide), with the patch that one logit sees.
    x0, y0, scale = 0.5, 8.4, 5.0 / IMAGE_SIZE
    picture(ax, label, x0, y0, 5.0)
    seen = f"red: the {fh}×{fw} pixels that logit {probe} sees"
    text(ax, 3.0, 13.55, seen, va="baseline", color=ACCENT)
    given = "condition x (label) and image\n(real y or G(x)), concatenated:\n"
    text(ax, 3.0, 8.25, given + shape_text(facts["input"]), va="top", linespacing=1.3)
    corner = (x0 + left * scale, y0 + (IMAGE_SIZE - bottom) * scale)
    rect(ax, corner, fw * scale, fh * scale, fill=False, edgecolor=ACCENT, lw=2.4, zorder=4)
    # Top right: the five convolutions, then an arrow down to their output.
    layers = ["Conv 4×4 s2, LeakyReLU"] + ["Conv 4×4 s2, BN, LeakyReLU"] * 2
    layers += ["Conv 4×4 s1, BN, LeakyReLU", "Conv 4×4 s1 → logits"]
    for i, (shape, name) in enumerate(zip(facts["conv_shapes"], layers, strict=True)):
        yb, color = 12.55 - i * 1.12, DISCRIMINATOR if i < 4 else "#f5b7b1"
        box(ax, 7.9, yb, 6.8, 0.9, f"{name}\n{shape_text(shape)}", color, size=FONT + 0.5)
        if i:
            arrow(ax, (11.3, yb + 1.12), (11.3, yb + 0.9))
    arrow(ax, (5.6, 11.9), (7.9, 13.0))
    # Bottom right: the 30x30 output grid, with the logit whose patch is drawn.
    n_rows, n_cols = facts["output"][1:]
    gx, gy, cell = 9.1, 2.6, 4.4 / n_cols
    for r in range(n_rows + 1):
        ax.plot([gx, gx + n_cols * cell], [gy + r * cell] * 2, color="#bbbbbb", lw=0.4)
    for c in range(n_cols + 1):
        ax.plot([gx + c * cell] * 2, [gy, gy + n_rows * cell], color="#bbbbbb", lw=0.4)
    r, c = probe
    rect(ax, (gx + c * cell, gy + (n_rows - 1 - r) * cell), cell, cell, color=ACCENT, zorder=4)
    output = f"output: {n_rows}×{n_cols} logits, one real/fake\nverdict each; D's loss averages "
    text(ax, 11.3, 2.45, output + "the\nBCE over all of them", va="top", linespacing=1.3)
    arrow(ax, (11.3, 12.55 - 4 * 1.12), (11.3, 7.05))
    logit = (gx + (c + 0.5) * cell, gy + (n_rows - 0.5 - r) * cell)
    patch_corner = (x0 + right * scale, y0 + (IMAGE_SIZE - top) * scale)
    arrow(ax, logit, patch_corner, ACCENT, connectionstyle="arc3,rad=-0.12", linestyle=(0, (3, 2)))
    # Bottom left: the gradient of that logit, zoomed on the patch with 6 pixels of context.
    crop = facts["footprint"][max(top - 6, 0) : bottom + 6, max(left - 6, 0) : right + 6]
    ax.imshow(np.sqrt(crop / crop.max()), extent=(1.0, 5.0, 2.6, 6.6), cmap="magma", zorder=2)
    inner = 4.0 / crop.shape[1]
    dashed = dict(fill=False, edgecolor=ACCENT, lw=1.6, ls="--", zorder=4)
    rect(ax, (1.0 + 6 * inner, 2.6 + 6 * inner), fw * inner, fh * inner, **dashed)
    text(ax, 3.0, 6.75, "zoom on the red box: |∂ logit / ∂ pixel|", va="baseline")
    inside = "outside the box the gradient is\nexactly 0; inside, the centre\ncounts most"
    text(ax, 3.0, 2.45, inside + " (random weights)", va="top", linespacing=1.3)
    found = (
        f"Found from the network: the gradient of logit {probe} is non-zero on exactly "
        f"{fh}×{fw} input pixels.\nA patch judge sees texture and local structure; the L1 term "
        "takes care of the low\nfrequencies (§3.2.2).  2,768,705 parameters."
    )
    text(ax, 8.0, 0.15, found, va="bottom", linespacing=1.35)
    return save_figure(fig, path, dpi=DPI, facecolor="white")


def draw_palette(path, swatch=28):
    """The 12 palette colours as a PIL image: one row per class with its index, name and RGB."""
    font = ImageFont.load_default(size=int(swatch * 0.55))
    chart = Image.new("RGB", (12 * swatch, len(FACADE_CLASSES) * swatch), (255, 255, 255))
    draw = ImageDraw.Draw(chart)
    pad = swatch // 5
    for index, (name, rgb) in enumerate(FACADE_CLASSES):
        top = index * swatch
        draw.rectangle([pad, top + pad, 3 * swatch, top + swatch - pad], fill=rgb)
        for x, text in ((3.3, f"{index + 1}"), (4.2, name), (7.4, f"{rgb}")):
            draw.text((x * swatch, top + swatch // 2), text, fill=(0, 0, 0), font=font, anchor="lm")
    chart.save(path)
    return path


def main(argv=None):
    parser = ArgumentParser(description="Draw the lesson's concept diagrams into PNG files.")
    parser.add_argument("--output-dir", type=path_arg, default=FIGURES_DIR, help="(docs/figures/)")
    out = parser.parse_args(argv).output_dir
    print(f"output dir: {out}; device: cpu (shapes on 'meta', one backward pass)")
    label = to_rgb(open_image(SAMPLE_LABEL, "sample label", "restore it with git checkout"))
    shapes, facts = unet_shapes(), patchgan_facts()
    field = f"logit {PROBE_LOGIT} sees {facts['field']} pixels"
    print(f"U-Net bottleneck {shapes['down8'][1]}; {field}")
    written = [
        draw_conditional(label, out / "conditional_vs_unconditional.png"),
        draw_unet(shapes, out / "unet.png"),
        draw_patchgan(label, facts, out / "patchgan.png", PROBE_LOGIT),
        draw_palette(out / "palette.png"),
    ]
    print("wrote " + ", ".join(map(str, written)))
    return {"unet": shapes, "patchgan": facts, "files": written}


if __name__ == "__main__":
    main()
