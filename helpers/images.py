"""Images in and out: open any image safely, convert any mode to RGB, tensor <-> image, save.

One decoder (open_image, for files and for the painter's uploads) with one size limit and one
error mapping, so every script says the same clear sentence about a missing, empty, damaged,
non-image or absurdly large file instead of a traceback. torch is imported only by the two tensor
functions, so preprocess_anime_sketches.py and its worker processes start fast.
"""

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers.cli import LessonError, shown
from helpers.files import atomic_path, file_problem

# Pillow decodes a few kB of PNG into gigabytes if asked. A label, sketch or Kaggle pair is at most
# a few million pixels and a phone photo about 12 million, so anything larger is refused from its
# header, before it is decoded: by every script and by the painter's uploads alike.
MAX_PIXELS = 4096 * 4096
TOO_LARGE = f"is too large to open safely (over {MAX_PIXELS:,} pixels: a decompression bomb?)"
MAX_FILE_BYTES = 256 * 1024 * 1024  # above even an uncompressed 16-bit RGBA image of MAX_PIXELS
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # image_files
# What Pillow raises for damaged data (its Image.open catches the same while identifying a file).
READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
READ_ERRORS += (zlib.error, Image.DecompressionBombError)


class ImageTooLarge(LessonError):
    """open_image's refusal of an image over MAX_PIXELS (the painter answers it with HTTP 413)."""


def open_image(source, what="image", fix="pass another file", formats=None, draft_size=None):
    """A file path, or the bytes of an image file -> decoded PIL image. LessonError naming the file
    and `fix` if it cannot be.

    `what` names its role in the message ("label", "sketch"); `formats` limits the decoders Pillow
    may try (the painter's uploads). Every chunk and checksum is read, so a file cut short fails
    here rather than half-way through the work; an image over MAX_PIXELS raises ImageTooLarge.
    Only a regular file is read: a folder, a named pipe or a device is refused from its stat().
    `draft_size` (w, h) lets a JPEG decode at 1/2, 1/4 or 1/8 scale, to no less than that size.
    """
    subject = what if isinstance(source, bytes) else f"{what} {shown(source)}"
    data = source
    try:
        if not isinstance(source, bytes):
            problem = file_problem(source)
            if problem is None and Path(source).stat().st_size > MAX_FILE_BYTES:
                problem = f"is over {MAX_FILE_BYTES >> 20} MB, too large for an image"
            if problem is not None:
                raise LessonError(f"{subject} {problem}; {fix}.")
            data = Path(source).read_bytes()  # the whole file: no handle stays open
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)  # reads the header only
        if image.width * image.height > MAX_PIXELS:
            raise ImageTooLarge(f"{subject} {TOO_LARGE}; {fix}.")
        image.verify()  # every chunk and checksum: a PNG cut short fails even if its pixels decode
        image = Image.open(io.BytesIO(data), formats=formats)  # verify() used the first one up
        if draft_size is not None:
            image.draft(image.mode, draft_size)  # a JPEG decodes fewer pixels; others ignore it
        image.load()
        return image
    except FileNotFoundError:  # removed between the check and the read
        problem = "does not exist"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except UnidentifiedImageError:
        problem = "is empty" if not data else "is not an image Pillow can read (PNG, JPEG, ...)"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own limits
        raise ImageTooLarge(f"{subject} {TOO_LARGE}; {fix}.") from None
    except READ_ERRORS as exc:
        problem = f"is damaged or cut short ({exc})"
    raise LessonError(f"{subject} {problem}; {fix}.")


def to_rgb(image, background=(255, 255, 255)):
    """Any PIL mode -> 8-bit RGB: transparency laid over `background`, 16-bit grey scaled (not
    clipped). The one conversion to RGB: image_to_tensor expects its result."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if array.max() > 255:  # a true 16-bit (or wider) range: keep the top 8 bits
            array = array / 257.0 if array.max() <= 65535 else array * (255.0 / array.max())
        grey = np.clip(array.round(), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def image_to_tensor(image):
    """An RGB PIL image (to_rgb makes one) -> (3, H, W) float tensor in [-1, 1] (G's Tanh range)."""
    import torch

    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, not mode {image.mode}; convert it with to_rgb")
    array = np.asarray(image, dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1.0


def tensor_to_image(tensor):
    """(3, H, W), (1, H, W) or (1, 3, H, W) tensor in [-1, 1] -> 8-bit RGB PIL image."""
    t = tensor.detach().float().cpu().clamp(-1, 1)
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    array = ((t.permute(1, 2, 0).numpy() + 1.0) * 127.5).round().astype(np.uint8)
    return Image.fromarray(array, mode="RGB")


def png_bytes(image):
    """A PIL image as the bytes of a PNG file (what the painter sends, and preprocessing writes)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_image(image, path):
    """Save a PIL image atomically, with the user's permissions; the suffix says the format (PNG if
    unknown)."""
    with atomic_path(path) as tmp:
        image.save(tmp, format=Image.registered_extensions().get(Path(path).suffix.lower(), "PNG"))


def image_files(sources, per_folder=None):
    """Files and folders -> image files, in the order given; a folder gives its images by name.

    With `per_folder`, a larger folder gives that many of them, spread over its sorted list (so a
    default run shows varied facades, not four similar neighbours). Files named directly are always
    kept: open_image reports clearly if one is missing or not an image.
    """
    files = []
    for source in map(Path, sources):
        if not source.is_dir():
            files.append(source)
            continue
        try:  # is_file(): a named pipe or a device among the images is left out
            found = sorted(
                p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        except OSError as exc:  # a folder we may not list
            print(f"skipping {shown(source)}: cannot list this folder ({exc.strerror or exc})")
            continue
        if not found:
            print(f"skipping {shown(source)}: no images (PNG, JPEG, ...) in this folder")
        elif per_folder is not None and len(found) > per_folder:
            print(f"{shown(source)}: using {per_folder} of its {len(found)} images")
            picks = np.linspace(0, len(found) - 1, per_folder).round().astype(int)  # first to last
            found = [found[i] for i in picks]
        files += found
    return files
