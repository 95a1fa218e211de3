"""What every script of the lesson shares: errors a student can act on, the command line, and
reading and writing files so that nothing a student already had is lost.

    try:
        ...
    except LessonError as exc:
        fail(str(exc))  # "error: <one sentence>" on stderr, exit status 2, no traceback

Every file the scripts write goes first to a hidden temporary file beside its destination and is
renamed over it only when complete, with the permissions any new file of the user gets. One image
decoder (open_image) and one weights reader (read_weights) give every script the same sentence for
a missing, damaged or hostile file. torch is imported inside the few functions that need it, so
preprocess_anime_sketches.py and its worker processes start without it.
"""

import argparse
import csv
import errno
import importlib
import importlib.metadata
import io
import os
import pickle
import stat
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class LessonError(Exception):
    """An expected problem (missing weights or data, a bad file), its message saying what to do."""

    def __init__(self, message=""):
        # A DataLoader worker's exception comes back to the main process re-made from a text that
        # holds the worker's whole traceback ("Caught LessonError in DataLoader worker process 0.
        # Original Traceback ..."): keep only the sentence the worker raised (a subclass's too).
        raised = f"{type(self).__name__}: "
        if "Original Traceback" in message and raised in message:
            message = message.rsplit(raised, 1)[1].strip()
        super().__init__(message)


def fail(message, code=2):
    """Print one actionable sentence to stderr and exit with `code`: no traceback for expected
    problems."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets fail()'s one line ("error: argument --epochs: must be at least
    1, not 0; see --help") instead of the whole usage block above it."""

    def error(self, message):
        fail(f"{message}; see `python {self.prog} --help`.")


def shown(path):
    """A path as text that can always be printed and drawn: a file name that is not valid UTF-8
    (possible on Linux) keeps its readable parts; each undecodable byte becomes U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def add_device_argument(parser):
    rule = "auto = cuda, then mps, then cpu"
    if not issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter):
        rule += " (default: auto)"  # that formatter adds it itself
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=rule)


def choose_device(name="auto"):
    """One rule for every script: `auto` = cuda, then mps, then cpu. A missing one fails clearly."""
    import torch  # here, not at the top: preprocess_anime_sketches.py runs without torch

    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    instead = "use --device auto or cpu"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise LessonError(f"--device cuda was asked for but PyTorch sees no CUDA GPU; {instead}.")
    elif name == "mps" and not mps_ok:
        raise LessonError(
            f"--device mps was asked for but Apple's MPS is not available; {instead}."
        )
    elif name not in DEVICE_CHOICES:
        raise LessonError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    return torch.device(name)


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        whole = "whole " if kind is int else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a {whole}number") from None


def at_least(minimum, kind=int):
    """An argparse type: a number of `kind` that is at least `minimum` (a bad one: one line)."""

    def parse(text):
        value = _number(text, kind)
        if not value >= minimum:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, not {text}")
        return value

    return parse


def multiple_of(step):
    """An argparse type: a positive whole number, a multiple of `step` (an image size, say)."""

    def parse(text):
        value = at_least(step)(text)
        if value % step:
            raise argparse.ArgumentTypeError(f"must be a multiple of {step}, not {text}")
        return value

    return parse


def above(minimum, kind=float):
    """An argparse type: a finite number of `kind` above `minimum` (a learning rate, say)."""

    def parse(text):
        value = _number(text, kind)
        if not value > minimum or value == float("inf"):  # also refuses nan
            message = f"must be a finite number above {minimum:g}, not {text}"
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


def seed_number(text):
    """An argparse type for --seed: a whole number from 0 to 2**32 - 1, the range every generator
    (torch, random, numpy) accepts."""
    value = at_least(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be below 2**32 = {2**32}, not {text}")
    return value


def check_torchvision():
    """Import torchvision (Exercise 3's transforms; torchmetrics imports it too), or fail() with how
    to mend it: a torchvision built for another torch dies at import with "operator torchvision::nms
    does not exist", which names neither package nor the fix."""
    try:
        importlib.import_module("torchvision")
    except ModuleNotFoundError:
        fail("torchvision is not installed; run `python -m pip install -r requirements.txt`.")
    except (RuntimeError, ImportError, AttributeError) as exc:
        versions = {name: importlib.metadata.version(name) for name in ("torch", "torchvision")}
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        fail(
            f"torchvision {versions['torchvision']} does not fit torch {versions['torch']} "
            f"({first_line}); reinstall the two together: `python -m pip install "
            "--force-reinstall torch torchvision`, adding `--index-url "
            "https://download.pytorch.org/whl/cpu` on a computer without an NVIDIA GPU."
        )


# The repository's root, the one place every script and test finds checkpoints/, sample_facades/
# and the scripts from, wherever it is run.
ROOT = Path(__file__).resolve().parents[1]
# What a write gets from a full disk, a full quota, or a file size limit (EFBIG, as on FAT32).
FULL_DISK = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def current_umask():
    """The process's umask (tests compare file modes with it). os.umask can only be read by setting
    it, so it is set back at once."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode():
    """The mode a plain new file gets from open(): 0o666 less the umask (0o644 for most users)."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short random name (".k3j9x2ab.part"), not ".NAME.part": that would be too long for the
    # file system where NAME itself is near its limit of 255 bytes.
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600, which others on a shared machine could not read.
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(data, path):
    """Write `data` to `path` through atomic_path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def not_a_file(path):
    """None for a regular file (or a link to one) and for a missing path (the reader says "does not
    exist"); else what `path` is instead: "a folder", "a named pipe (FIFO)", ... It only stat()s
    the path: a named pipe blocks its reader until something writes into it, which may be never."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except (FileNotFoundError, NotADirectoryError):  # a/b.png where a is a file: no such file
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (links that lead back to themselves)"
        return f"unreadable ({exc.strerror or exc})"  # no permission, a name too long, ...
    kinds = {stat.S_ISREG: None, stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a named pipe (FIFO)"}
    kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def file_problem(path):
    """Why `path` cannot be read as a file, as the end of a sentence that starts with its name
    ("is a folder, not a file"), or None for a regular file. Built on not_a_file: only stat()."""
    if not os.path.lexists(path):
        return "does not exist"
    what = not_a_file(path)
    if what is None:
        return None
    if what.startswith("unreadable"):
        return what.replace("unreadable", "cannot be read", 1)
    if what == "a folder":
        return "is a folder, not a file"
    if "link" in what:  # a broken link or a loop: no file at the end of it
        return f"is {what}"
    return f"is {what}, not a regular file"


def write_failure(exc, path):
    """An OSError from writing `path`, in words: "could not write PATH (the disk is full or the file
    too large: No space left on device); free some space"."""
    reason, fix = exc.strerror or str(exc), "check that folder"
    if exc.errno in FULL_DISK:
        reason, fix = f"the disk is full or the file too large: {reason}", "free some space"
    elif exc.errno == errno.ENAMETOOLONG:
        reason, fix = "the name is too long for the file system", "use a shorter name"
    return f"could not write {shown(path)} ({reason}); {fix}"


def check_writable_folder(folder):
    """None if files can be created in `folder` (made if missing), else the reason. Scripts call it
    before any long work: a read-only folder should fail in the first second, not after an epoch."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def write_csv(rows, path):
    """A list of dicts (same keys) as a CSV file with a header row, written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[-1]))
        writer.writeheader()
        writer.writerows(rows)


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
    import torch  # here: preprocessing's workers start without it

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


WEIGHT_READ_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    AttributeError,
    KeyError,
    IndexError,
    TypeError,
)


def read_weights(path, what="weights file", fix="pass another file", subject=None):
    """torch.load(path, weights_only=True) on the CPU, or a LessonError naming the file, what is
    wrong and `fix`: "<what> <path> <problem>; <fix>." (or "<subject> <problem>; <fix>.").

    weights_only: a .pth is a pickle, and a pickle can run any code when loaded; this refuses
    anything but tensors and plain containers. Weights with a NaN or an infinity are refused too:
    they would draw black images without a word.
    """
    problem = file_problem(path)  # a named pipe would make torch.load wait for ever
    if problem is None:
        loaded, problem = load_checked(path)
        if problem is None:
            return loaded
    raise LessonError(f"{subject or f'{what} {shown(path)}'} {problem}; {fix}.")


def load_checked(path):
    """(torch.load's result, None), or (None, what is wrong with the file)."""
    try:
        entries = []
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                entries = archive.infolist()
        if any(entry.compress_type != zipfile.ZIP_STORED for entry in entries):
            # torch.save stores tensors uncompressed; a compressed one could unpack to gigabytes
            return None, "was not written by torch.save (it holds compressed entries)"
        import torch  # here: preprocessing runs without it

        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:  # removed since file_problem looked
        return None, "does not exist"
    except PermissionError:
        return None, "cannot be read (permission denied)"
    except WEIGHT_READ_ERRORS as exc:
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:  # weights_only refused to run code
            return None, "holds Python objects that could run code, so it was not loaded"
        if isinstance(exc, EOFError) or not text:
            return None, "is empty or cut short"
        return None, "is not a PyTorch weights file (damaged, cut short, or another kind of file)"
    if not all_finite(loaded):
        return None, "holds NaN or infinite weights"
    return loaded, None


def all_finite(obj):
    """True if every floating-point tensor in a (nested) container holds finite numbers only."""
    import torch

    if torch.is_tensor(obj):
        return not obj.is_floating_point() or bool(torch.isfinite(obj).all())
    if isinstance(obj, dict):
        return all(map(all_finite, obj.values()))
    if isinstance(obj, (list, tuple)):
        return all(map(all_finite, obj))
    return True  # plain numbers and strings: settings and metrics, not weights
