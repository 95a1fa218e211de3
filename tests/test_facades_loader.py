"""Facts about the facades label loader: the CMP palette of DESIGN.md, and load_label for any image
(mode, size, transparency, JPEG noise) giving exact palette colours. No model here."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from facades_generator import CLASS_COLORS, CLASS_NAMES, FACADE_CLASSES, PALETTE, SAMPLE_LABELS_DIR
from facades_generator import load_label, snap_to_palette
from helpers.lesson import tensor_to_image

SAMPLE = SAMPLE_LABELS_DIR / "shop_street.png"  # wall, windows, blinds, door, shop, moldings...
RGB = np.asarray(Image.open(SAMPLE).convert("RGB"))
# DESIGN.md's table, typed in again here on purpose: the loader must match the document.
DESIGN_PALETTE = [
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
]


def classes_of(tensor, size=256):
    """A (3, size, size) label tensor in [-1, 1] -> (H, W) class indices; every pixel must BE a
    palette colour."""
    assert tensor.shape == (3, size, size) and tensor.dtype == torch.float32
    rgb = np.asarray(tensor_to_image(tensor))
    indices = snap_to_palette(rgb)
    assert np.array_equal(PALETTE[indices], rgb), "some pixels are not exactly a palette colour"
    return indices


def test_palette_is_designs_twelve_classes_in_order():
    assert list(FACADE_CLASSES) == DESIGN_PALETTE and CLASS_NAMES[-1] == "shop"
    assert PALETTE.shape == (12, 3) and PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE.tolist()}) == 12


def test_a_label_round_trips_exactly():
    tensor = load_label(SAMPLE)
    assert np.array_equal(PALETTE[classes_of(tensor)], RGB)
    assert torch.equal(load_label(tensor_to_image(tensor)), tensor)
    assert classes_of(load_label(SAMPLE, size=64), size=64).shape == (64, 64)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "I;16", "JPEG"])
def test_any_mode_file_or_image_gives_a_palette_label(mode, tmp_path):
    if mode == "I;16":  # 16-bit grey: its top eight bits, as the 8-bit grey image has them
        grey = np.asarray(Image.fromarray(RGB).convert("L"))
        image = Image.fromarray(grey.astype(np.uint16) * 257)
        assert torch.equal(load_label(image), load_label(Image.fromarray(grey)))
    else:
        image = Image.fromarray(RGB).convert("RGB" if mode == "JPEG" else mode)
    path = tmp_path / ("label.jpg" if mode == "JPEG" else "label.png")
    image.save(path, **({"quality": 75} if mode == "JPEG" else {}))
    for source in (Image.open(path), path):
        classes = classes_of(load_label(source))
        if mode in ("RGB", "RGBA"):
            assert np.array_equal(PALETTE[classes], RGB)


def test_transparent_pixels_become_background():
    rgba = np.dstack([RGB, np.full((256, 256), 255, np.uint8)])
    rgba[:, :100, 3] = 0  # the left part transparent (its hidden RGB is the sample's)
    classes = classes_of(load_label(Image.fromarray(rgba, mode="RGBA")))
    assert (classes[:, :100] == CLASS_NAMES.index("background")).all()
    assert np.array_equal(classes[:, 100:], snap_to_palette(RGB)[:, 100:])


def test_jpeg_noise_snaps_back_to_the_classes():
    noise = np.random.default_rng(0).integers(-5, 6, size=RGB.shape)  # DESIGN.md's +-5
    noisy = np.clip(RGB.astype(int) + noise, 0, 255).astype(np.uint8)
    assert np.array_equal(classes_of(load_label(Image.fromarray(noisy))), snap_to_palette(RGB))
    data = io.BytesIO()  # a real JPEG smears class borders; flat regions come back exactly
    Image.fromarray(RGB).save(data, format="JPEG", quality=90)
    assert (classes_of(load_label(Image.open(data))) == snap_to_palette(RGB)).mean() > 0.95


def test_resizing_is_nearest_neighbour_never_a_blend():
    tiny = np.array([[CLASS_COLORS["window"], CLASS_COLORS["molding"]]], dtype=np.uint8)
    classes = classes_of(load_label(Image.fromarray(tiny)))  # 2x1 -> two flat halves
    assert (classes[:, :128] == CLASS_NAMES.index("window")).all()
    assert (classes[:, 128:] == CLASS_NAMES.index("molding")).all()
    stripes = np.zeros((100, 510, 3), np.uint8)  # a blend of one-pixel stripes: other classes
    stripes[:, 0::2], stripes[:, 1::2] = CLASS_COLORS["background"], CLASS_COLORS["shop"]
    classes = classes_of(load_label(Image.fromarray(stripes)))
    assert set(np.unique(classes)) == {CLASS_NAMES.index("background"), CLASS_NAMES.index("shop")}
