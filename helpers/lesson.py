"""What every script shares: errors as one sentence (LessonError, fail), the command line, and files
read and written so that nothing a student had is lost. torch is imported only where it is needed:
preprocessing's worker processes start without it."""

import argparse
import errno
import io
import math
import os
import pickle
import stat
import sys
import tempfile
import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The repository's root: where every script and test finds checkpoints/ and sample_facades/.
ROOT = Path(__file__).resolve().parents[1]
DEVICE_CHOICES, DEVICE_RULE = ("auto", "cpu", "cuda", "mps"), "auto (default): cuda, mps, then cpu"
# What a write gets from a full disk, a full quota, or a file size limit (EFBIG, as on FAT32).
FULL_DISK = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


class LessonError(Exception):
    """An expected problem (missing weights or data, a bad file), its message saying what to do."""


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets fail()'s one line; and a console that cannot encode "§" or a
    file name (PYTHONIOENCODING=ascii, a legacy code page) gets \\xa7, not a UnicodeEncodeError."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for stream in (sys.stdout, sys.stderr):
            if hasattr(stream, "reconfigure"):  # a TextIOWrapper, as consoles and pipes are
                stream.reconfigure(errors="backslashreplace")

    def error(self, message):
        fail(f"{message}; see `python {self.prog} --help`.")


def shown(path):
    """A path as text: each byte of a name that is not UTF-8 (possible on Linux) becomes U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def path_arg(text):
    """An argparse type for paths: `~` is the home folder even where the shell left it ('~/run')."""
    if not text:
        raise argparse.ArgumentTypeError("is empty; give a path")
    return Path(text).expanduser()


def at_least(minimum, kind=int, below=None, exclusive=False):
    """An argparse type: a finite number of `kind`, at least `minimum` (above it if `exclusive`),
    and below `below` if given."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            whole = "whole " if kind is int else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not a {whole}number") from None
        low = value > minimum if exclusive else value >= minimum
        if not (low and value < (math.inf if below is None else below)):  # refuses nan and inf
            bounds = f"{'above' if exclusive else 'at least'} {minimum:n}"
            bounds += "" if below is None else f" and below {below:n}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, not {text}")
        return value

    return parse


seed_number = at_least(0, int, below=2**32)  # the range torch, random and numpy all accept


def add_device_argument(parser):
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_RULE)


def choose_device(name="auto"):
    """One rule for every script: `auto` = cuda, then mps, then cpu."""
    import torch

    found = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    here = [device for device, ok in found.items() if ok] + ["cpu"]
    if name != "auto" and name not in here:
        raise LessonError(f"--device {name}: PyTorch sees no {name} device; use auto or cpu.")
    return torch.device(here[0] if name == "auto" else name)


def refuse_overwrite(output, inputs=(), flag="--output"):
    """Refuse, before any work, an output that would replace an input, a weights file or one of the
    shipped samples: nothing a student has is ever lost to a typo."""
    output = Path(output)
    if output.suffix.lower() in (".pth", ".pt"):
        what = "named like a weights file (.pth)"
    elif any(os.path.realpath(output) == os.path.realpath(path) for path in inputs):  # links, ..
        what = "one of the script's inputs"  # realpath, not resolve(): a link loop raises there
    elif (ROOT / "sample_facades") in Path(os.path.realpath(output)).parents:
        what = "inside sample_facades/, the samples the lesson ships"
    else:
        return
    raise LessonError(f"{flag} {shown(output)} is {what}; choose another {flag} to write to.")


def new_file_mode():
    """0o666 less the umask, as open() gives (the umask is read by setting it, then back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short random name: ".NAME.part" would be too long where NAME is near the 255-byte limit.
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, new_file_mode())  # mkstemp's 0600 would hide it from others
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def not_a_file(path):
    """None for a regular file (or a link to one) and a missing path; else what `path` is ("a
    folder", "a named pipe (FIFO)", ...), from stat() alone: a FIFO would block its reader."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except (FileNotFoundError, NotADirectoryError):
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (links that lead back to themselves)"
        return f"unreadable ({exc.strerror or exc})"  # no permission, a name too long, ...
    kinds = {stat.S_ISREG: None, stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a named pipe (FIFO)"}
    kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def file_problem(path):
    """Why `path` is no readable file, to follow its name ("is a folder, ..."), or None."""
    if not os.path.lexists(path):
        return "does not exist"
    what = not_a_file(path)
    if what is None or what.startswith("unreadable"):
        return what and what.replace("unreadable", "cannot be read", 1)
    return f"is {what}" + ("" if "link" in what else ", not a regular file")


def write_failure(exc, path):
    reason, fix = exc.strerror or str(exc), "check that folder"
    if exc.errno in FULL_DISK:
        reason, fix = f"the disk is full or the file too large: {reason}", "free some space"
    elif exc.errno == errno.ENAMETOOLONG:
        reason, fix = "the name is too long for the file system", "use a shorter name"
    return f"could not write {shown(path)} ({reason}); {fix}"


def check_writable_folder(folder):
    """None if files can be created in `folder` (made if missing), else why not: a read-only
    folder fails in the first second, not after an epoch."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


# Pillow decodes a few kB of PNG into gigabytes if asked. A label, sketch or Kaggle pair is at most
# a few million pixels and a phone photo about 12 million: anything larger is refused from its
# header, before it is decoded, by every script and by the painter's uploads alike.
MAX_PIXELS = 4096 * 4096
MAX_FILE_BYTES = 256 << 20  # above even an uncompressed 16-bit RGBA image of MAX_PIXELS
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageTooLarge(LessonError):  # open_image's refusal over MAX_PIXELS: the painter's HTTP 413
    pass


def open_image(source, what="image", fix="pass another file", formats=None, draft_size=None):
    """A file path, or an image file's bytes -> decoded PIL image turned as its EXIF orientation
    says (as viewers show it), or a LessonError naming the file and `fix`. `formats` limits the
    decoders tried (uploads); `draft_size` lets a JPEG decode at 1/2-1/8 scale, no smaller."""
    subject = what if isinstance(source, bytes) else f"{what} {shown(source)}"
    too_large = f"{subject} is too large to open safely (over {MAX_PIXELS:,} pixels); {fix}."
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
                raise ImageTooLarge(too_large)
            image.verify()  # every chunk and checksum, even where the pixels would decode
            image = Image.open(io.BytesIO(data), formats=formats)  # verify() used it up
            image.draft(image.mode, draft_size)  # a JPEG decodes fewer pixels; others ignore it
            image.load()
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except UnidentifiedImageError:
        problem = "is empty" if not data else "is not an image Pillow can read (PNG, JPEG, ...)"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own limits
        raise ImageTooLarge(too_large) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        problem = f"is damaged or cut short ({exc})"  # what Pillow raises for damaged data
    raise LessonError(f"{subject} {problem}; {fix}.")


def to_rgb(image, background=(255, 255, 255)):
    """Any PIL mode -> 8-bit RGB: transparency over `background`, 16-bit grey scaled."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if array.max() > 255:  # a true 16-bit (or wider) range: keep the top 8 bits
            array = array / 257.0 if array.max() <= 65535 else array * (255.0 / array.max())
        return Image.fromarray(np.clip(array.round(), 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        canvas = Image.new("RGBA", image.size, tuple(background) + (255,))
        return Image.alpha_composite(canvas, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def image_to_tensor(image):
    """An RGB PIL image -> (3, H, W) float tensor in [-1, 1], G's Tanh range."""
    from torchvision.transforms.v2.functional import pil_to_tensor

    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, not mode {image.mode}; convert it with to_rgb")
    return pil_to_tensor(image).float() / 127.5 - 1.0


def tensor_to_image(tensor):
    """(3, H, W), (1, H, W) or (1, 3, H, W) tensor in [-1, 1] -> 8-bit RGB PIL image."""
    from torchvision.transforms.v2.functional import to_pil_image

    t = tensor.detach().float().cpu().clamp(-1, 1)
    t = t.squeeze(0) if t.dim() == 4 else t  # (1, 3, H, W); a batch of several fails below
    return to_pil_image(((t.expand(3, -1, -1) + 1) * 127.5).round().byte(), mode="RGB")


def png_bytes(image):
    image.save(buffer := io.BytesIO(), format="PNG")
    return buffer.getvalue()


def save_image(image, path):
    with atomic_path(path) as tmp:
        image.save(tmp, format=Image.registered_extensions().get(Path(path).suffix.lower(), "PNG"))


def image_files(sources, per_folder=None):
    """Files and folders -> image files; a folder gives at most `per_folder` of its images, spread
    over its sorted list (varied facades, not four neighbours). Named files are always kept."""
    files = []
    for source in map(Path, sources):
        if not source.is_dir():
            files.append(source)
            continue
        try:  # is_file(): a named pipe or a device among the images is left out
            found = sorted(
                p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        except OSError as exc:
            print(f"skipping {shown(source)}: cannot list this folder ({exc.strerror or exc})")
            continue
        if not found:
            print(f"skipping {shown(source)}: no images (PNG, JPEG, ...) in this folder")
        elif per_folder is not None and len(found) > per_folder:
            print(f"{shown(source)}: using {per_folder} of its {len(found)} images")
            picks = np.linspace(0, len(found) - 1, per_folder).round().astype(int)
            found = [found[i] for i in picks]
        files += found
    return files


def read_weights(path, what="weights file", fix="pass another file", subject=None):
    """torch.load(path, weights_only=True) on the CPU: a .pth is a pickle, which can run code, and
    weights_only loads tensors and containers only. Else a LessonError "<what> <path> <problem>;
    <fix>.", also for NaN or infinite weights (they draw black images)."""
    loaded, problem = load_checked(path)
    if problem:
        raise LessonError(f"{subject or f'{what} {shown(path)}'} {problem}; {fix}.")
    return loaded


# What torch.load raises for a damaged, cut or foreign file (a legacy pickle fails in many ways).
WEIGHT_ERRORS = (RuntimeError, EOFError, ValueError, OSError, UnicodeDecodeError, AttributeError)
WEIGHT_ERRORS += (KeyError, IndexError, TypeError, zipfile.BadZipFile, pickle.UnpicklingError)


def load_checked(path):
    """(torch.load's result, None), or (None, what is wrong with the file)."""
    import torch

    if problem := file_problem(path):  # a named pipe would make torch.load wait forever
        return None, problem
    try:
        if zipfile.is_zipfile(path):  # torch.save stores tensors uncompressed; a compressed entry
            with zipfile.ZipFile(path) as archive:  # could unpack to gigabytes
                if any(e.compress_type != zipfile.ZIP_STORED for e in archive.infolist()):
                    return None, "was not written by torch.save (it holds compressed entries)"
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        return None, "cannot be read (permission denied)"
    except WEIGHT_ERRORS as exc:
        # weights_only's refusal has no type of its own; its message names the global it refused
        if "GLOBAL" in str(exc) or "Unsupported global" in str(exc):
            return None, "holds Python objects that could run code, so it was not loaded"
        if isinstance(exc, EOFError) or not str(exc):
            return None, "is empty or cut short"
        return None, "is not a PyTorch weights file (damaged, cut short, or another kind of file)"
    return (loaded, None) if all_finite(loaded) else (None, "holds NaN or infinite weights")


def all_finite(obj):
    """True if every floating-point tensor in a (nested) container holds finite numbers only."""
    if hasattr(obj, "is_floating_point"):  # a tensor
        return not obj.is_floating_point() or bool(obj.isfinite().all())
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    return all(map(all_finite, items))  # plain numbers and strings: settings, not weights
