"""Facts about the facades label loader: the CMP palette, load_label for any input, and back.

No model here, so these tests take well under a second each.
"""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import facades_generator
from facades_generator import load_label, read_label
from helpers.lesson import LessonError
from helpers.facade_labels import SAMPLE_LABELS_DIR
from facades_generator import CLASS_COLORS, CLASS_NAMES, FACADE_CLASSES, PALETTE, snap_to_palette
from helpers.lesson import ImageTooLarge, image_to_tensor, tensor_to_image

# 256x256, uses wall, windows, blinds, door, shop, moldings...
SAMPLE = SAMPLE_LABELS_DIR / "shop_street.png"

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


def class_map(tensor):
    """(3, H, W) label tensor in [-1, 1] -> (H, W) class indices; asserts every pixel IS a palette
    colour."""
    rgb = np.asarray(tensor_to_image(tensor))
    indices = snap_to_palette(rgb)
    assert np.array_equal(PALETTE[indices], rgb), "some pixels are not exactly a palette colour"
    return indices


def check_label_tensor(tensor, size=256):
    assert tensor.shape == (3, size, size) and tensor.dtype == torch.float32
    assert tensor.min() >= -1.0 and tensor.max() <= 1.0
    return class_map(tensor)


def sample_rgb():
    return np.asarray(Image.open(SAMPLE).convert("RGB"))


def test_palette_is_designs_twelve_classes_in_order():
    assert list(FACADE_CLASSES) == DESIGN_PALETTE
    assert CLASS_NAMES == tuple(name for name, _ in DESIGN_PALETTE)
    assert PALETTE.shape == (12, 3) and PALETTE.dtype == np.uint8
    assert CLASS_COLORS["shop"] == (175, 0, 0)
    assert len({tuple(c) for c in PALETTE.tolist()}) == 12  # all colours distinct


def test_sample_label_round_trips_exactly():
    rgb = sample_rgb()
    tensor = load_label(SAMPLE)
    check_label_tensor(tensor)
    # palette colours survive [-1, 1] exactly
    assert np.array_equal(np.asarray(tensor_to_image(tensor)), rgb)
    assert torch.equal(load_label(tensor_to_image(tensor)), tensor)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "I;16", "JPEG"])
def test_any_mode_gives_a_palette_label(mode, tmp_path):
    rgb = sample_rgb()
    if mode == "I;16":
        image = Image.fromarray(
            np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16) * 257
        )
        assert image.mode.startswith("I;16")
    else:
        image = Image.fromarray(rgb).convert("RGB" if mode == "JPEG" else mode)
    path = tmp_path / ("label.jpg" if mode == "JPEG" else "label.png")
    image.save(path, quality=75) if mode == "JPEG" else image.save(path)
    for source in (Image.open(path), path):  # a PIL image or a file
        classes = check_label_tensor(load_label(source))
        if mode in ("RGB", "RGBA"):
            assert np.array_equal(PALETTE[classes], rgb)


def test_palette_mode_with_the_palette_colours_is_exact():
    # A P image whose palette holds exactly the 12 colours (what a paint program may save).
    indices = snap_to_palette(sample_rgb()).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(PALETTE.flatten().tolist())
    assert np.array_equal(class_map(load_label(image)), indices)


def test_sixteen_bit_grey_keeps_its_top_eight_bits():
    grey = np.asarray(Image.fromarray(sample_rgb()).convert("L"))
    wide = Image.fromarray(grey.astype(np.uint16) * 257)  # 0..255 -> 0..65535, mode I;16
    assert torch.equal(load_label(wide), load_label(Image.fromarray(grey, mode="L")))


def test_transparent_pixels_become_background():
    rgba = np.dstack([sample_rgb(), np.full((256, 256), 255, np.uint8)])
    rgba[:, :100, 3] = 0  # left part fully transparent (its hidden RGB is the sample's)
    classes = class_map(load_label(Image.fromarray(rgba, mode="RGBA")))
    assert (classes[:, :100] == CLASS_NAMES.index("background")).all()
    assert np.array_equal(classes[:, 100:], snap_to_palette(sample_rgb())[:, 100:])


def test_jpeg_noise_of_five_snaps_back_to_the_exact_classes():
    rgb = sample_rgb()
    noise = np.random.default_rng(0).integers(-5, 6, size=rgb.shape)
    noisy = np.clip(rgb.astype(int) + noise, 0, 255).astype(np.uint8)
    assert not np.array_equal(noisy, rgb)
    assert np.array_equal(class_map(load_label(Image.fromarray(noisy))), snap_to_palette(rgb))


def test_real_jpeg_label_keeps_almost_every_class():
    # Real JPEG smears colours at class boundaries; flat regions must come back exactly.
    data = io.BytesIO()
    Image.fromarray(sample_rgb()).save(data, format="JPEG", quality=90)
    data.seek(0)
    classes = class_map(load_label(Image.open(data)))
    assert (classes == snap_to_palette(sample_rgb())).mean() > 0.95


def test_non_square_image_is_resized_with_nearest_neighbour():
    # 2 x 1 pixels (window | molding) -> two flat 128-pixel-wide halves, no blended boundary colour.
    # shape (1, 2, 3)
    tiny = np.array([[CLASS_COLORS["window"], CLASS_COLORS["molding"]]], dtype=np.uint8)
    classes = class_map(load_label(Image.fromarray(tiny)))
    assert (classes[:, :128] == CLASS_NAMES.index("window")).all()
    assert (classes[:, 128:] == CLASS_NAMES.index("molding")).all()
    # One-pixel stripes of two classes, 510x100: a blending resize would create in-between colours
    # that snap to other classes; nearest-neighbour only ever picks one of the two.
    stripes = np.zeros((100, 510, 3), np.uint8)
    stripes[:, 0::2] = CLASS_COLORS["background"]
    stripes[:, 1::2] = CLASS_COLORS["shop"]
    classes = class_map(load_label(Image.fromarray(stripes)))
    assert set(np.unique(classes)) == {CLASS_NAMES.index("background"), CLASS_NAMES.index("shop")}


def test_size_argument():
    check_label_tensor(load_label(SAMPLE, size=64), size=64)


def test_unreadable_files_raise_lesson_error_naming_the_file(tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is not a picture")
    with pytest.raises(LessonError, match="notes.png"):
        load_label(not_an_image)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(SAMPLE.read_bytes()[:300])
    with pytest.raises(LessonError, match="cut.png"):
        load_label(truncated)
    with pytest.raises(LessonError, match="missing.png"):
        load_label(tmp_path / "missing.png")


def test_a_label_file_is_decoded_once_and_converted_to_rgb_once(monkeypatch, tmp_path):
    """Exercise 1's path: read_label -> open_image, to_rgb, split_facades_pair, snapped_label."""
    calls = []

    def counted(name, function):
        def call(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        monkeypatch.setattr(facades_generator, name, call)

    for name in ("open_image", "to_rgb", "image_to_tensor"):
        counted(name, getattr(facades_generator, name))
    Image.open(SAMPLE).convert("RGBA").save(tmp_path / "label.png")
    label, photo, note = read_label(tmp_path / "label.png")
    assert calls == ["open_image", "to_rgb", "image_to_tensor"] and photo is None and note == ""
    assert torch.equal(label, load_label(SAMPLE))


def test_tensors_are_made_from_rgb_images_only():
    grey = Image.new("L", (4, 4), 128)
    with pytest.raises(ValueError, match="to_rgb"):
        image_to_tensor(grey)
    assert image_to_tensor(grey.convert("RGB")).shape == (3, 4, 4)


def test_a_refusal_from_a_dataloader_worker_keeps_its_one_sentence():
    """A worker's exception is re-made in the main process from its whole traceback text."""
    sentence = "training image b.png is too large to open safely; run --verify."
    text = "Caught ImageTooLarge in DataLoader worker process 0.\nOriginal Traceback (most recent "
    text += f"call last):\n  File ...\nhelpers.lesson.ImageTooLarge: {sentence}\n"
    assert str(ImageTooLarge(text)) == sentence and str(LessonError(sentence)) == sentence
