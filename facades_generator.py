"""The pretrained facades model: CMP label maps in, photo-like facades out.

    from facades_generator import create_facades_generator, load_label, translate
    net_G = create_facades_generator()                                   # the official network, fp32
    real_A = load_label("sample_facades/base/townhouse_4_floors.png")    # (3, 256, 256) in [-1, 1]
    fake_B = translate(net_G, real_A.unsqueeze(0))                       # (1, 3, 256, 256) in [-1, 1]

The weights are the official `facades_label2photo` generator (fetch them with
`python download_pretrained.py`). Labels are drawn in the 12-colour CMP palette below, measured
from the real training labels; any other colour is snapped to the nearest palette colour.
"""

from pathlib import Path

import numpy as np
import torch.nn as nn
from PIL import Image

from helpers.checkpoints import is_exercise3_file, read_weights
from helpers.cli import LessonError, shown
from helpers.files import ROOT
from helpers.images import image_to_tensor, open_image, to_rgb
from pix2pix_models import IMAGE_SIZE, PerImageBatchNorm2d, UNetGenerator, load_official_generator_weights, translate  # noqa: F401

DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "facades_generator.pth"
SAMPLE_LABELS_DIR = ROOT / "sample_facades" / "base"  # the 12 shipped labels (drawn by helpers/facade_labels.py)
# The authors' own server (plain http; no checksum is published). Other URLs in circulation hold
# Lua .t7 files or a different (ResNet) model of the same name.
OFFICIAL_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/facades_label2photo.pth"
DOWNLOAD_HINT = ("run `python download_pretrained.py` to fetch the official weights (about 218 MB); offline, "
                 f"download {OFFICIAL_URL} on another machine, copy it to checkpoints/facades_generator.pth "
                 "and run that command to check it")

# The 12 CMP classes in index order, with the colours the pretrained model saw: cluster centres of the
# flat regions of all 606 label images of the pix2pix facades set (train, val and test; JPEG noise +-5).
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


def palette_distance(rgb):
    """Median distance (RGB units) from the pixels of an (H, W, 3) uint8 array to their nearest palette
    colour. A label map scores under 25 even as a heavy JPEG; a photo 100-150 (measured on the samples
    and on photos). The median ignores the smeared class borders of a JPEG label."""
    nearest = PALETTE[snap_to_palette(rgb)].astype(np.float32)
    return float(np.median(np.linalg.norm(rgb.astype(np.float32) - nearest, axis=2)))


def label_rgb(path_or_image):
    """A label map (file path or PIL image, any size and mode) -> RGB PIL image, transparency as background."""
    if not isinstance(path_or_image, Image.Image):
        path_or_image = open_image(path_or_image, "label", "pass a PNG or JPEG label map")
    return to_rgb(path_or_image, background=CLASS_COLORS["background"])


def load_label(path_or_image, size=IMAGE_SIZE):
    """A label map (file path or PIL image, any size and mode) -> (3, size, size) tensor in [-1, 1].

    Nearest-neighbour resizing keeps class borders crisp (no blended, in-between colours), and
    every pixel is snapped to the palette, which also removes JPEG noise.
    """
    rgb = label_rgb(path_or_image).resize((size, size), Image.NEAREST)
    snapped = PALETTE[snap_to_palette(np.asarray(rgb))]
    return image_to_tensor(Image.fromarray(snapped, mode="RGB"))


def create_facades_generator(checkpoint_path=DEFAULT_CHECKPOINT, device=None, stats="image", dropout=False):
    """Build the official facades generator in fp32, load its weights and return it in eval mode on `device`.

    stats="image"   (default) BatchNorm normalises each image with its own statistics: what the paper
                    (§3.3) and the official test.py get at batch size 1, at any batch size here.
    stats="running" the running averages stored in the checkpoint (the official `--eval` flag).
    dropout=True    keep Dropout(0.5) on at test time, as the paper and test.py do: each call then draws
                    a different facade. Off by default (a deliberate departure), so figures repeat.

    Accepts the file exactly as published. Changes nothing outside the network it returns.
    """
    if stats not in ("image", "running"):
        raise ValueError(f"stats must be 'image' or 'running', not {stats!r}")
    path = Path(checkpoint_path)
    if not path.is_file():
        raise LessonError(f"no pretrained weights at {shown(path)}; {DOWNLOAD_HINT}.")
    state_dict = read_weights(path, "the facades weights", f"delete it and {DOWNLOAD_HINT}")
    if is_exercise3_file(state_dict):
        raise LessonError(f"{shown(path)} was written by exercise3_train.py (a sketch colouriser), not the facades "
                          "model; colour a sketch with it by `python colorize_sketch.py SKETCH --weights "
                          f"{shown(path)}`, and pass the official weights here (default: {DEFAULT_CHECKPOINT.name}).")
    if not isinstance(state_dict, dict):
        raise LessonError(f"{shown(path)} does not hold a state_dict; delete it and {DOWNLOAD_HINT}.")
    norm_layer = PerImageBatchNorm2d if stats == "image" else nn.BatchNorm2d
    net_G = UNetGenerator(in_channels=3, out_channels=3, ngf=64, norm_layer=norm_layer)
    try:
        load_official_generator_weights(net_G, state_dict)
    except ValueError as exc:
        raise LessonError(f"{shown(path)} is not the facades_label2photo generator: {exc}") from None
    net_G.eval()
    if dropout:
        for module in net_G.modules():
            if isinstance(module, nn.Dropout):
                module.train()  # eval() switched it off; the paper keeps it on at test time
    return net_G.to(device) if device is not None else net_G
