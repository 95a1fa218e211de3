"""The CMP facade database's archive (CMP_facade_DB_base.zip): its label maps, read safely and
painted in the palette the pretrained model saw. download_pretrained.py --samples uses it.

    cmp_zip_problem(path)                  why an archive cannot be used, or None
    convert_cmp_labels(path, folder, n)    the first n labels as 256x256 PNGs in our palette

Each label map is a PNG storing one class index 1..12 per pixel (the order of FACADE_CLASSES in
facades_generator.py). An archive from the internet may hold anything under those names, so
every entry is checked from the zip's directory before it is unpacked, and decoded by the one
decoder with its size limit.
"""

import zipfile
import zlib
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from helpers.lesson import LessonError
from facades_generator import PALETTE
from helpers.lesson import open_image, save_image
from pix2pix_models import IMAGE_SIZE

MAX_LABEL_BYTES = 16 << 20  # a CMP label PNG is a few kB; more unpacked is a decompression bomb
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error)


def cmp_zip_problem(path):
    """What makes `path` unusable as the CMP archive, as a phrase, or None."""
    if not zipfile.is_zipfile(path):
        return "not a zip archive"
    try:
        names = cmp_label_names(path)
        if not names:
            return "no base/*.png labels inside"
        with zipfile.ZipFile(path) as archive:
            for name in names:  # from the directory alone: nothing is unpacked
                if archive.getinfo(name).file_size > MAX_LABEL_BYTES:
                    return f"{name} would unpack to over {MAX_LABEL_BYTES >> 20} MB"
            read_cmp_label(archive, names[0])
    except LessonError as exc:
        return str(exc)
    except ZIP_ERRORS as exc:
        return f"damaged: {exc}"
    return None


def cmp_label_names(zip_path):
    """Label maps inside the archive: base/cmp_bNNNN.png (the .jpg beside each is the photo)."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    labels = [n for n in names if PurePosixPath(n).parent.name == "base"]
    return sorted(n for n in labels if n.lower().endswith(".png"))


def read_cmp_label(archive, name):
    """(H, W) class indices 1..12 of one label map in the archive; LessonError saying why not.

    CMP stores one class index per pixel in a PNG of mode P or L; the index is read, not the
    colours the PNG's own palette would show."""
    size = archive.getinfo(name).file_size
    if size > MAX_LABEL_BYTES:
        raise LessonError(f"{name} would unpack to {size:,} bytes")
    try:
        data = archive.read(name)  # never more than `size` bytes: zipfile stops there (and CRCs)
    except ZIP_ERRORS as exc:
        raise LessonError(f"{name} cannot be unpacked ({exc})") from None
    image = open_image(data, name, "it is left out", formats=("PNG",))  # the one decoder, its limit
    index = np.asarray(image) if image.mode in ("P", "L") else None
    if index is None or index.min() < 1 or index.max() > len(PALETTE):
        raise LessonError(f"{name} is not a 12-class index map")
    return index


def convert_cmp_labels(zip_path, out_dir, count):
    """Paint class k with PALETTE[k - 1] and resize to 256x256 with nearest-neighbour sampling (no
    blended classes). A label that cannot be used is skipped: none beats a wrong one."""
    written, skipped = [], []
    with zipfile.ZipFile(zip_path) as archive:
        for name in cmp_label_names(zip_path)[:count]:
            out = out_dir / PurePosixPath(name).name
            if out.exists():
                written.append(out)
                continue
            try:
                index = read_cmp_label(archive, name)
            except LessonError as exc:
                skipped.append(str(exc))
                continue
            rgb = Image.fromarray(PALETTE[index - 1])  # (H, W, 3) colours
            save_image(rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST), out)
            written.append(out)
    if skipped:
        print(f"skipped {len(skipped)} label(s) that could not be used, e.g. {skipped[0]}")
    if not written:
        raise LessonError(
            f"no usable label maps in {zip_path}; delete it, run with --samples again."
        )
    print(f"{len(written)} CMP labels in our palette under {out_dir}, e.g. {written[0].name}")
