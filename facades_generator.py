"""The pretrained facades model: CMP label maps in, photo-like facades out.

    from facades_generator import create_facades_generator, load_label, label_to_image
    net_G = create_facades_generator("checkpoints/facades_generator.pth")
    fake_B = net_G(load_label("sample_facades/base/facade_01.png").unsqueeze(0))  # (1, 3, 256, 256)

The weights are the official `facades_label2photo` generator (fetch them with
`python download_pretrained.py`). Labels are drawn in the 12-colour CMP palette below, measured
from the real training labels; any other colour is snapped to the nearest palette colour.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from fast_paths import FastPath, choose_fast_path, prepare_generator_for_inference, prepare_input
from lesson_utils import LessonError, image_to_tensor, tensor_to_image
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator, load_official_generator_weights

IMAGE_SIZE = 256  # the released model was trained on 256x256 crops (unet_256 needs 2^8)
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "facades_generator.pth"
DOWNLOAD_HINT = "run `python download_pretrained.py` to fetch the official weights (about 218 MB)"

# The 12 CMP classes in index order, with the colours the pretrained model saw: cluster centres of
# the flat regions of all 606 label images of the pix2pix facades set (DESIGN.md).
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
LABEL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _to_rgb(image):
    """Any PIL mode -> 8-bit RGB. Transparent pixels become background; 16-bit grey is scaled down."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if array.max() > 255:  # a true 16-bit (or wider) range: keep the top 8 bits
            array = array / 257.0 if array.max() <= 65535 else array * (255.0 / array.max())
        return Image.fromarray(np.clip(array.round(), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, CLASS_COLORS["background"] + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def snap_to_palette(rgb):
    """(H, W, 3) uint8 -> class indices 0..11 of the nearest palette colour (Euclidean in RGB)."""
    flat = rgb.reshape(-1, 1, 3).astype(np.int32)
    distance = ((flat - PALETTE.astype(np.int32)[None]) ** 2).sum(axis=2)  # (H*W, 12)
    return distance.argmin(axis=1).reshape(rgb.shape[:2])


def load_label(path_or_image, size=IMAGE_SIZE):
    """A label map (file path or PIL image, any size and mode) -> (3, size, size) tensor in [-1, 1].

    Nearest-neighbour resizing keeps class boundaries crisp (no blended, in-between colours), and
    every pixel is snapped to the palette, which also removes JPEG noise.
    """
    if isinstance(path_or_image, Image.Image):
        image = path_or_image
    else:
        path = Path(path_or_image)
        try:
            with Image.open(path) as opened:
                opened.load()
                image = opened.copy()
        except FileNotFoundError:
            raise LessonError(f"label file {path} does not exist; check the path.") from None
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise LessonError(f"{path} is not a readable image ({exc}); "
                              "save the label as a PNG and try again.") from None
    rgb = _to_rgb(image).resize((size, size), Image.NEAREST)
    snapped = PALETTE[snap_to_palette(np.asarray(rgb))]
    return image_to_tensor(Image.fromarray(snapped, mode="RGB"))


def label_files(sources, per_folder=None):
    """Files and folders -> label files, in the order given; a folder gives its images sorted by name.

    With `per_folder`, a larger folder gives that many of them, spread over its sorted list (so a
    default run shows varied facades, not four similar neighbours). Files named directly are always
    kept: load_label reports clearly if one is missing or not an image.
    """
    files = []
    for source in map(Path, sources):
        if not source.is_dir():
            files.append(source)
            continue
        found = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES)
        if not found:
            print(f"skipping {source}: no label images (PNG, JPEG, ...) in this folder")
        elif per_folder is not None and len(found) > per_folder:
            print(f"{source}: using {per_folder} of its {len(found)} labels")
            found = [found[i] for i in np.linspace(0, len(found) - 1, per_folder).round().astype(int)]
        files += found
    return files


def label_to_image(tensor):
    """Tensor in [-1, 1] (a label or a generated photo) -> PIL RGB image. Inverse of load_label."""
    return tensor_to_image(tensor)


def create_facades_generator(checkpoint_path=DEFAULT_CHECKPOINT, device=None, stats="image", dropout=False,
                             fast=False):
    """Build the official facades generator, load its weights and return it in eval mode on `device`.

    stats="image"   (default) BatchNorm uses each image's own statistics, as the paper (§3.3) and
                    the official test.py do; each output equals the official network's output
                    for that image alone, at any batch size.
    stats="running" the running averages stored in the checkpoint (the official `--eval` flag).
    dropout=True    keep Dropout(0.5) on at test time: the paper's source of randomness.
                    Off by default, so the same label always gives the same facade.
    fast=True       the device's fast path (fast_paths.choose_fast_path; or pass a FastPath):
                    channels_last, and bf16/fp16 weights where the hardware computes them natively.
                    Off by default: only exact fp32 equals the official network. Feed it through
                    translate(), which matches the input to the weights.

    Accepts the file exactly as published (and so whatever download_pretrained.py saved).
    """
    if stats not in ("image", "running"):
        raise ValueError(f"stats must be 'image' or 'running', not {stats!r}")
    path = Path(checkpoint_path)
    if not path.is_file():
        raise LessonError(f"no pretrained weights at {path}; {DOWNLOAD_HINT}.")
    try:
        # weights_only: a .pth is a pickle, and an untrusted pickle could run code when loaded.
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, HTML page, a pickle that wants to run code...
        raise LessonError(f"{path} is not a readable PyTorch weights file ({type(exc).__name__}); "
                          f"delete it and {DOWNLOAD_HINT}.") from None
    if not isinstance(state_dict, dict):
        raise LessonError(f"{path} does not hold a state_dict; delete it and {DOWNLOAD_HINT}.")
    norm_layer = PerImageBatchNorm2d if stats == "image" else nn.BatchNorm2d
    net_G = UNetGenerator(in_channels=3, out_channels=3, ngf=64, norm_layer=norm_layer)
    try:
        load_official_generator_weights(net_G, state_dict)
    except ValueError as exc:
        raise LessonError(f"{path} is not the facades_label2photo generator: {exc}") from None
    net_G.eval()
    if dropout:
        for module in net_G.modules():
            if isinstance(module, nn.Dropout):
                module.train()  # eval() switched it off; the paper keeps it on at test time
    if fast:
        fast = fast if isinstance(fast, FastPath) else choose_fast_path(device if device is not None else "cpu")
        return prepare_generator_for_inference(net_G, fast)
    return net_G.to(device) if device is not None else net_G


def translate(net_G, labels, batch_size=8):
    """Run G on a (N, 3, 256, 256) batch of labels, a few at a time, without tracking gradients.

    A fast-path G (create_facades_generator(..., fast=True)) gets its input in its own dtype and layout;
    the result is always float32, contiguous, on the CPU.
    """
    fast = getattr(net_G, "fast_path", None)  # set by fast_paths.prepare_generator_for_inference
    weight = next(net_G.parameters())
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(labels), batch_size):
            batch = labels[start:start + batch_size]
            batch = prepare_input(batch, fast) if fast is not None else batch.to(weight.device, weight.dtype)
            outputs.append(net_G(batch).float().cpu().contiguous())
    return torch.cat(outputs)
