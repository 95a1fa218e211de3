"""The pretrained facades model: CMP label maps in, photo-like facades out.

    from facades_generator import create_facades_generator, load_label
    from pix2pix_models import translate
    net_G = create_facades_generator()  # the official network, fp32
    real_A = load_label("sample_facades/base/townhouse_4_floors.png")  # (3, 256, 256) in [-1, 1]
    fake_B = translate(net_G, real_A.unsqueeze(0))  # (1, 3, 256, 256) in [-1, 1]

The weights are the official `facades_label2photo` generator (fetch them with
`python download_pretrained.py`). Labels are drawn in the 12-colour CMP palette of
FACADE_CLASSES below, measured from the real training labels; any other colour is snapped to
the nearest palette colour. Exercise 1 reads its files with read_label, which also takes the real
photo from a facades pair. Exercises 1 and 2 and the painter declare their --checkpoint, --device
and --fast flags with add_generator_arguments and build the network with generator_from_args;
Exercise 1 also runs generators trained by exercise3_train.py (open_generator).
"""

from pathlib import Path

import numpy as np
import torch.nn as nn
from PIL import Image, ImageDraw, ImageFont

from helpers.checkpoints import is_exercise3_file, load_generator
from helpers.lesson import read_weights
from helpers.lesson import LessonError, add_device_argument, shown
from helpers.lesson import ROOT, file_problem
from helpers.lesson import image_to_tensor, open_image, to_rgb
from pix2pix_models import (
    IMAGE_SIZE,
    PerImageBatchNorm2d,
    UNetGenerator,
    load_official_generator_weights,
)

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


DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "facades_generator.pth"
FETCH_WEIGHTS = (
    "run `python download_pretrained.py` to fetch the official weights (about 218 MB); "
    "offline, follow docs/downloads.rst"
)
LABEL_FIX = "pass a PNG or JPEG label map"  # completes open_image's sentence
# A label map lies within JPEG noise of the palette (median distance under 17 even at JPEG quality
# 30); a photo lies far from it (median 100-150 on the photos tried).
LABEL_MAX_PALETTE_DISTANCE = 25.0


def snapped_label(rgb, size=IMAGE_SIZE):
    """An RGB label image -> (3, size, size) tensor of exact palette colours in [-1, 1].

    Nearest-neighbour resizing keeps class borders crisp (no blended, in-between colours), and
    every pixel is snapped to the palette, which also removes JPEG noise.
    """
    classes = snap_to_palette(np.asarray(rgb.resize((size, size), Image.NEAREST)))  # (size, size)
    return image_to_tensor(Image.fromarray(PALETTE[classes]))


def load_label(path_or_image, size=IMAGE_SIZE):
    """A label map (file path or PIL image, any size and mode) -> (3, size, size) tensor in [-1, 1].

    Transparent pixels count as background; see snapped_label for the resizing and snapping.
    """
    image = path_or_image
    if not isinstance(image, Image.Image):
        image = open_image(path_or_image, "label", LABEL_FIX)
    return snapped_label(to_rgb(image, background=CLASS_COLORS["background"]), size)


def split_facades_pair(rgb):
    """(photo, label) halves of an RGB image if it is a facades pair, else None.

    The pix2pix facades set stores each example as one 512x256 image, the photo on the LEFT and
    its label on the RIGHT; another 2:1 image (two labels side by side, say) is not split.
    """
    width, height = rgb.size
    if width != 2 * height:
        return None
    photo, label = rgb.crop((0, 0, height, height)), rgb.crop((height, 0, width, height))
    if palette_distance(label) <= LABEL_MAX_PALETTE_DISTANCE < palette_distance(photo):
        return photo, label
    return None


def read_label(path):
    """A label file -> (label, real photo or None, a short note), the images as (3, 256, 256)
    tensors in [-1, 1]. LessonError if the file cannot be read.

    A facades pair gives its right half as the label and its left half as the real photo.
    """
    image = open_image(path, "label", LABEL_FIX)
    rgb = to_rgb(image, background=CLASS_COLORS["background"])  # the one conversion
    pair = split_facades_pair(rgb)
    if pair is not None:
        photo, label = pair
        # The model maps label -> photo, right half -> left half: `--direction BtoA` in test.py.
        print(f"{shown(path)}: a facades pair (photo | label); using its right half as the label")
        real_B = image_to_tensor(photo.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC))
        return snapped_label(label), real_B, "right half of a pair"
    distance = palette_distance(rgb)
    if distance > LABEL_MAX_PALETTE_DISTANCE:
        print(
            f"warning: {shown(path)} does not look like a label map (its colours lie "
            f"{distance:.0f} from the palette; labels lie under {LABEL_MAX_PALETTE_DISTANCE:.0f}): "
            "it is snapped to the 12 label colours anyway. Draw labels in the CMP palette "
            "(docs/palette.png)."
        )
    resized = rgb.size != (IMAGE_SIZE, IMAGE_SIZE)
    return snapped_label(rgb), None, f"resized from {rgb.width}x{rgb.height}" if resized else ""


class Exercise3Weights(LessonError):
    """create_facades_generator's refusal of a file that exercise3_train.py wrote; `saved` holds
    what the file holds (Exercise 1 runs such a generator: open_generator)."""

    def __init__(self, message, saved):
        super().__init__(message)
        self.saved = saved


def create_facades_generator(
    checkpoint_path=DEFAULT_CHECKPOINT, device=None, stats="image", dropout=False
):
    """The official facades generator in fp32 with its weights, in eval mode, on `device`.

    stats="image"   (default) BatchNorm normalises each image with its own statistics: what the
                    paper (§3.3) and test.py of junyanz/pytorch-CycleGAN-and-pix2pix get at batch
                    size 1, here at any batch size.
    stats="running" the running averages stored in the checkpoint (test.py's `--eval` flag).
    dropout=True    keep Dropout(0.5) on at test time, as the paper and test.py do: each call
                    draws another facade. Off by default (a deliberate departure): figures repeat.

    Accepts the file exactly as published. Changes nothing outside the network it returns.
    """
    if stats not in ("image", "running"):
        raise ValueError(f"stats must be 'image' or 'running', not {stats!r}")
    path = Path(checkpoint_path)
    problem = file_problem(path)  # a named pipe would make torch.load wait forever
    if problem == "does not exist":
        raise LessonError(f"no pretrained weights at {shown(path)}; {FETCH_WEIGHTS}.")
    if problem:
        raise LessonError(f"{shown(path)} {problem}; pass the weights file with --checkpoint.")
    state_dict = read_weights(path, "the facades weights", f"delete it and {FETCH_WEIGHTS}")
    if is_exercise3_file(state_dict):
        raise Exercise3Weights(
            f"{shown(path)} was written by exercise3_train.py, not by the authors: run it with "
            f"`python exercise1_observe.py --checkpoint {shown(path)}` (a facades model) or "
            "colorize_sketch.py (a sketch model), and pass the official weights here "
            f"({DEFAULT_CHECKPOINT.name}).",
            state_dict,
        )
    if not isinstance(state_dict, dict):
        raise LessonError(
            f"{shown(path)} does not hold a state_dict; delete it and {FETCH_WEIGHTS}."
        )
    norm_layer = PerImageBatchNorm2d if stats == "image" else nn.BatchNorm2d
    net_G = UNetGenerator(in_channels=3, out_channels=3, ngf=64, norm_layer=norm_layer)
    try:
        load_official_generator_weights(net_G, state_dict)
    except ValueError as exc:
        raise LessonError(
            f"{shown(path)} is not the facades_label2photo generator: {exc}"
        ) from None
    net_G.eval()
    if dropout:
        dropout_on(net_G)
    return net_G.to(device) if device is not None else net_G


def dropout_on(net_G):
    """Keep Dropout(0.5) on at test time, as the paper does (eval() switched it off)."""
    for module in net_G.modules():
        if isinstance(module, nn.Dropout):
            module.train()


def open_generator(path, device=None, dropout=False):
    """(net_G, name, image size) for a weights file: the authors' facades model, or a
    generator_weights.pth that exercise3_train.py wrote (trained on facades pairs, say). Both run
    as the paper runs G at test time (each image's own statistics), dropout off unless asked."""
    try:
        return create_facades_generator(path, device, dropout=dropout), "authors' model", IMAGE_SIZE
    except Exercise3Weights as exc:
        saved = exc.saved
    if "state_dict" not in saved:
        raise LessonError(
            f"{shown(path)} is exercise3_train.py's checkpoint, not its generator; pass "
            "generator_weights.pth from the same folder with --checkpoint."
        )
    net_G, image_size = load_generator(path)  # reads the file again, and checks what it holds
    if dropout:
        dropout_on(net_G)
    net_G = net_G.to(device) if device is not None else net_G
    return net_G, f"your model (epoch {saved.get('epoch', '?')})", image_size


def add_generator_arguments(parser, several=False):
    """--checkpoint, --device and --fast: the flags of every script that runs the facades model.
    several=True: --checkpoint takes one file or more (Exercise 1: the authors' and your own)."""
    parser.add_argument(
        "--checkpoint",
        type=Path,
        nargs="+" if several else None,
        default=[DEFAULT_CHECKPOINT] if several else DEFAULT_CHECKPOINT,
        help="the facades generator's weights"
        + (", and/or generator_weights.pth files from exercise3_train.py" if several else "")
        + " (default: checkpoints/facades_generator.pth)",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--fast",
        action="store_true",
        help="a faster copy of the network (bf16/fp16 where native, CPU kernels); "
        "default: the exact fp32 network",
    )


def generator_from_args(args, device, **protocol):
    """The network the flags ask for on `device`: the exact official one, or with --fast a faster
    copy of it. `protocol` (stats, dropout) goes to create_facades_generator."""
    return faster_if_asked(
        args, create_facades_generator(args.checkpoint, device, **protocol), device
    )


def faster_if_asked(args, net_G, device):
    """net_G itself, or with --fast a faster copy of it (speed/, docs/speed.rst)."""
    if not args.fast:
        return net_G
    from speed import fast_generator  # opt-in: says what it switches on

    return fast_generator(net_G, device)
