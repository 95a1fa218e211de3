"""The pretrained facades model: CMP label maps in, photo-like facades out.

    net_G = create_facades_generator()  # the official facades_label2photo network, fp32
    real_A = load_label("sample_facades/base/townhouse_4_floors.png")  # (3, 256, 256) in [-1, 1]
    fake_B = pix2pix_models.translate(net_G, real_A.unsqueeze(0))  # (1, 3, 256, 256)

open_generator opens any generator file: those weights or exercise3_train.py's.
"""

import os
from pathlib import Path

import numpy as np
import torch.nn as nn
from PIL import Image

from helpers.lesson import ROOT, LessonError, add_device_argument, file_problem, path_arg
from helpers.lesson import image_to_tensor, open_image, read_weights, shown, to_rgb
from pix2pix_models import IMAGE_SIZE, PerImageBatchNorm2d, UNetGenerator
from pix2pix_models import load_official_generator_weights

# The 12 CMP classes in index order, with the colours the pretrained model saw: cluster centres of
# the flat regions of all 606 label images of the pix2pix facades set (JPEG noise +-5).
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

DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "facades_generator.pth"
SAMPLE_LABELS_DIR = ROOT / "sample_facades" / "base"  # drawn by helpers/facade_labels.py
FETCH_WEIGHTS = (
    "run `python download_pretrained.py` to fetch the official weights (about 218 MB); "
    "offline, follow docs/downloads.rst"
)
AUTHORS = "authors' model"  # open_generator's name for the official weights


def snap_to_palette(rgb):
    """(H, W, 3) uint8 -> class indices 0..11 of the nearest palette colour (Euclidean in RGB)."""
    flat = rgb.reshape(-1, 1, 3).astype(np.int32)
    distance = ((flat - PALETTE.astype(np.int32)) ** 2).sum(axis=2)  # (H*W, 12)
    return distance.argmin(axis=1).reshape(rgb.shape[:2])


def load_label(path_or_image, size=IMAGE_SIZE):
    """A label map (file path or PIL image, any size and mode; transparent = background) -> (3,
    size, size) tensor of exact palette colours in [-1, 1]. Nearest-neighbour resizing keeps class
    borders crisp (no blended colours); snapping to the palette also removes JPEG noise."""
    image = path_or_image
    if not isinstance(image, Image.Image):
        image = open_image(image, "label", "pass a PNG or JPEG label map")
    rgb = to_rgb(image, background=CLASS_COLORS["background"])
    classes = snap_to_palette(np.asarray(rgb.resize((size, size), Image.NEAREST)))
    return image_to_tensor(Image.fromarray(PALETTE[classes]))


def open_generator(path, device=None, dropout=False, fast=False, stats="image"):
    """(net_G, name, image size) from any generator file, read once: the authors' facades weights
    or a generator_weights.pth of exercise3_train.py, in eval mode on `device`.

    stats="image"    per-image statistics at any batch size: what the paper (§3.3) and the official
                     test.py get at batch size 1; "running": the file's averages (test.py --eval).
    dropout=True     Dropout(0.5) on, as in the paper and test.py: each call draws another facade.
                     Off by default (a deliberate departure), so that figures repeat.
    fast=True        a faster copy from speed/ (docs/speed.rst), which prints what it switches on.
    """
    norm_layer = {"image": PerImageBatchNorm2d, "running": nn.BatchNorm2d}[stats]
    path = Path(path)
    if file_problem(path) == "does not exist":
        raise LessonError(f"no pretrained weights at {shown(path)}; {FETCH_WEIGHTS}.")
    # Only the default file is ours to replace; a file the user named is theirs.
    ours = os.path.realpath(path) == str(DEFAULT_CHECKPOINT)  # realpath: no error on a link loop
    fix = f"delete it and {FETCH_WEIGHTS}" if ours else "pass a generator's weights file instead"
    saved = read_weights(path, fix=fix, subject=shown(path))
    if isinstance(saved, dict) and "format_version" in saved:  # written by exercise3_train.py
        if "state_dict" not in saved:
            raise LessonError(
                f"{shown(path)} is exercise3_train.py's checkpoint, not its generator; pass "
                "generator_weights.pth from the same folder."
            )
        try:
            net_G = UNetGenerator(**saved["model_args"], norm_layer=norm_layer)
            net_G.load_state_dict(saved["state_dict"])
            name, image_size = f"your model (epoch {saved['epoch']})", int(saved["image_size"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise LessonError(
                f"{shown(path)} does not fit the generator it describes ({type(exc).__name__}); "
                "train again or pass another file."
            ) from None
    elif isinstance(saved, dict):  # the official bare state_dict of the nested U-Net
        net_G, name, image_size = UNetGenerator(norm_layer=norm_layer), AUTHORS, IMAGE_SIZE
        try:
            load_official_generator_weights(net_G, saved)
        except ValueError as exc:
            raise LessonError(f"{shown(path)} is not the facades generator: {exc}") from None
    else:
        raise LessonError(f"{shown(path)} does not hold a state_dict; {fix}.")
    net_G.eval().to(device)
    for module in net_G.modules():  # the paper's stochastic G: eval() switched Dropout off
        if dropout and isinstance(module, nn.Dropout):
            module.train()
    if fast:
        from speed import fast_generator  # the opt-in layer loads only when asked for

        net_G = fast_generator(net_G, device)
    return net_G, name, image_size


def create_facades_generator(
    checkpoint_path=DEFAULT_CHECKPOINT, device=None, stats="image", dropout=False
):
    """The official facades generator in fp32 with its weights, in eval mode, on `device`; stats
    and dropout as open_generator says. Changes nothing outside the network it returns."""
    net_G, name, _ = open_generator(checkpoint_path, device, dropout, stats=stats)
    if name != AUTHORS:
        raise LessonError(
            f"{shown(checkpoint_path)} was written by exercise3_train.py, not by the authors: open "
            f"it with `python exercise1_observe.py --checkpoint {shown(checkpoint_path)}` or "
            "colorize_sketch.py, and pass the official weights here."
        )
    return net_G


def add_generator_arguments(parser, several=False):
    """--checkpoint (several=True: one file or more, as in Exercise 1), --device and --fast."""
    weights = "the authors' (default: checkpoints/facades_generator.pth) or exercise3_train.py's"
    default = [DEFAULT_CHECKPOINT] if several else DEFAULT_CHECKPOINT
    nargs = "+" if several else None
    parser.add_argument("--checkpoint", type=path_arg, nargs=nargs, default=default, help=weights)
    add_device_argument(parser)
    parser.add_argument("--fast", action="store_true", help="faster: bf16 if native; default fp32")
