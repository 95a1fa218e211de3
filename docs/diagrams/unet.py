"""unet.png: the U-Net generator as a "U", every tensor shape read from a forward pass."""

from docs.diagrams.drawing import (
    ACCENT,
    DECODER,
    ENCODER,
    FONT,
    NEUTRAL,
    arrow,
    box,
    canvas,
    save,
    shape_text,
    text,
    title,
)

LEVELS = 8  # 256 -> 1 in eight halvings
BOX_W, BOX_H = 2.7, 1.05
NOTES = (
    "down: Conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.2)  (down1: no BatchNorm; down8: the conv "
    "alone)\nup: ReLU → ConvTranspose 4×4 stride 2 → BatchNorm [→ Dropout];  final: ReLU → "
    "ConvTranspose → Tanh\nDashed: skips, taken after the LeakyReLU (the official in-place "
    "LeakyReLU rewrites the\ntensor a skip holds).  Dropout(0.5) in up2, up3 and up4.  "
    "54,413,955 parameters"
)


def y(level):
    """Level 0 (256x256) at the top, level 8 (the 1x1 bottleneck) at the bottom."""
    return 14.1 - level * 1.38


def encoder_x(level):
    """Box centres: the encoder steps right and the decoder steps left, a "U"."""
    return 10.5 if level == LEVELS else 1.6 + 0.42 * level


def decoder_x(level):
    return 10.5 if level == LEVELS else 19.4 - 0.42 * level


def draw_unet(shapes, path):
    """The figure from `shapes`, {block: (input shape, output shape)}; writes `path`."""
    fig, ax = canvas(21, 16.8, 0.43)  # 9.0 x 7.2 inches
    heading = "U-Net generator (unet_256): every shape read from a forward pass"
    title(ax, 10.5, 16.3, heading, ha="center")
    subtitle = "C×H×W for one 256×256 image, ngf = 64"
    text(ax, 10.5, 15.7, subtitle, size=FONT + 0.5, va="baseline", color="#555555")
    w, h = BOX_W, BOX_H
    box(ax, encoder_x(0) - w / 2, y(0), w, h, f"input x\n{shape_text(shapes['down1'][0])}", NEUTRAL)
    output = f"output G(x)\n{shape_text(shapes['final'][1])}"
    box(ax, decoder_x(0) - w / 2, y(0), w, h, output, NEUTRAL)

    for k in range(1, LEVELS + 1):  # encoder: the output of down_k sits at level k
        color = "#e8daef" if k == LEVELS else ENCODER
        label = f"d{k} = down{k}\n{shape_text(shapes[f'down{k}'][1])}"
        box(ax, encoder_x(k) - w / 2, y(k), w, h, label, color)
        into_bottleneck = 0.8 if k == LEVELS else 0
        arrow(ax, (encoder_x(k - 1), y(k - 1)), (encoder_x(k) - into_bottleneck, y(k) + h))
    bottleneck = (10.5 + w / 2 + 0.2, y(LEVELS) + h / 2)
    text(ax, *bottleneck, "bottleneck", size=FONT + 0.5, ha="left", color="#6c3483")

    for k in range(LEVELS - 1, 0, -1):  # decoder: up_(8-k) outputs at level k
        name = f"up{LEVELS - k}"
        label = f"u{LEVELS - k} = {name}\n{shape_text(shapes[name][1])}"
        box(ax, decoder_x(k) - w / 2, y(k), w, h, label, DECODER)
        if name in ("up2", "up3", "up4"):
            text(ax, decoder_x(k) + w / 2 + 0.12, y(k) + h / 2, "Dropout", ha="left", color=ACCENT)
        out_of_bottleneck = 0.8 if k + 1 == LEVELS else 0
        arrow(ax, (decoder_x(k + 1) + out_of_bottleneck, y(k + 1) + h), (decoder_x(k), y(k)))
        # The skip: d_k joins u_(8-k), encoder first, and the next decoder block reads the
        # concatenation.
        reader = "final" if k == 1 else f"up{LEVELS - k + 1}"
        start, end = encoder_x(k) + w / 2, decoder_x(k) - w / 2
        middle = y(k) + h / 2
        arrow(ax, (start, middle), (end, middle), color="#7f8c8d", linestyle=(0, (4, 3)))
        skip = f"cat[d{k}, u{LEVELS - k}] → {reader}: {shape_text(shapes[reader][0])}"
        text(ax, (start + end) / 2, middle + 0.1, skip, va="bottom", color="#444444")
    arrow(ax, (decoder_x(1), y(1) + h), (decoder_x(0), y(0)))

    frame = dict(facecolor="#fbfcfc", edgecolor="#d5d8dc", pad=6)
    text(ax, 10.5, 0.35, NOTES, va="bottom", linespacing=1.45, bbox=frame)
    return save(fig, path)
