"""The 12 CMP facade classes, the colours the pretrained facades model saw, and snapping to them.

    from helpers.facade_palette import PALETTE, snap_to_palette
    classes = snap_to_palette(rgb)  # (H, W, 3) uint8 -> (H, W) class indices 0..11
    label = PALETTE[classes]  # and back: (H, W, 3) in exact palette colours
    python -m helpers.facade_labels --palette-chart docs/palette.png  # draws palette_chart()

Everything that reads or draws labels imports it from here: facades_generator.py, the label
drawer (helpers/facade_labels.py), the painter, Exercise 2 and the downloader's CMP conversion.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# The 12 CMP classes in index order, with the colours the pretrained model saw: cluster centres of
# the flat regions of all 606 label images of the pix2pix facades set (train, val and test; JPEG
# noise +-5).
FACADE_CLASSES = (
    ("background", (0, 0, 220)),
    ("facade", (0, 49, 255)),
    ("window", (0, 128, 255)),
    ("door", (0, 206, 255)),
    ("cornice", (31, 255, 224)),
    ("sill", (111, 255, 142)),
    ("balcony", (191, 255, 64)),
    ("blind", (255, 240, 1)),
    ("deco", (255, 160, 0)),
    ("molding", (255, 80, 0)),
    ("pillar", (254, 0, 0)),
    ("shop", (175, 0, 0)),
)
CLASS_NAMES = tuple(name for name, _ in FACADE_CLASSES)
PALETTE = np.array([rgb for _, rgb in FACADE_CLASSES], dtype=np.uint8)  # (12, 3)
CLASS_COLORS = dict(FACADE_CLASSES)


def snap_to_palette(rgb):
    """(H, W, 3) uint8 -> class indices 0..11 of the nearest palette colour (Euclidean in RGB)."""
    flat = rgb.reshape(-1, 1, 3).astype(np.int32)
    distance = ((flat - PALETTE.astype(np.int32)[None]) ** 2).sum(axis=2)  # (H*W, 12)
    return distance.argmin(axis=1).reshape(rgb.shape[:2])


def palette_distance(image):
    """Median distance (RGB units) from the pixels of an RGB PIL image to their nearest palette
    colour, judged on 64x64 nearest-neighbour samples (plenty, and fast at any size).

    A label map scores under 25 even as a heavy JPEG; a photo 100-150 (measured on the samples and
    on photos). The median ignores the smeared class borders of a JPEG label.
    """
    samples = np.asarray(image.resize((64, 64), Image.NEAREST), dtype=np.float32).reshape(-1, 1, 3)
    nearest = np.linalg.norm(samples - PALETTE.astype(np.float32), axis=2).min(axis=1)  # (4096,)
    return float(np.median(nearest))


def palette_chart(swatch=28):
    """The 12 palette colours as a PIL image: one row per class with its index, name and RGB."""
    font = ImageFont.load_default(size=int(swatch * 0.55))
    width, pad = 12 * swatch, swatch // 5
    chart = Image.new("RGB", (width, len(FACADE_CLASSES) * swatch), (255, 255, 255))
    draw = ImageDraw.Draw(chart)
    for index, (name, rgb) in enumerate(FACADE_CLASSES):
        top = index * swatch
        draw.rectangle([pad, top + pad, 3 * swatch, top + swatch - pad], fill=rgb)
        for x, text in ((3.3, f"{index + 1}"), (4.2, name), (7.4, f"{rgb}")):
            draw.text((x * swatch, top + swatch // 2), text, fill=(0, 0, 0), font=font, anchor="lm")
    return chart
