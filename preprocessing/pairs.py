"""One Kaggle pair -> its colour half and its sketch half as PNGs: what each worker process does.

process_pair((src, out_split, name, size))   -> ("written" | "converted" | "done" | "skipped",
                                                src, note); speed/bench.py times it too

A pair that cannot be made is skipped with a note, and the run goes on: not an image, not 2:1,
too small, gone since the run started, or an output name too long for the file system. A full disk
stops the run (LessonError): every later pair would fail the same way.
"""

import errno

from PIL import Image

from helpers.anime_demo import PAIR_SIZE
from helpers.lesson import LessonError
from helpers.lesson import not_a_file, write_bytes_atomic, write_failure
from helpers.lesson import open_image, png_bytes, to_rgb
from preprocessing import MIN_SIDE

ASPECT_TOLERANCE = 0.01  # a pair must be 2:1 (1024x512) within 1%


def is_done(path, size, not_before):
    """A finished output: present, not older than its input, and a size x size RGB image."""
    if not path.is_file() or path.stat().st_mtime < not_before:
        return False  # missing, or the input changed since (say, a new demo set): redo it
    try:
        image = open_image(path)
    except LessonError:
        return False
    return image.size == (size, size) and image.mode == "RGB"


def write_png(image, path):
    """`image` as a PNG at `path`; LessonError if the disk is full (a name too long: OSError)."""
    try:
        write_bytes_atomic(png_bytes(image), path)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise  # process_pair skips this pair
        again = "run the same command again: the pairs finished so far are kept"
        raise LessonError(f"{write_failure(exc, path)}, then {again}.") from None


def split_pair(src, out_split, name, size):
    """Split one pair into colour (left half) and sketch (right half): (status, file, note)."""
    color_out = out_split / "colors" / f"{name}.png"
    sketch_out = out_split / "sketches" / f"{name}.png"
    if all(is_done(path, size, src.stat().st_mtime) for path in (color_out, sketch_out)):
        return "done", src, None
    try:
        image = open_image(src, "pair", "it is left out")
    except LessonError as error:
        return "skipped", src, str(error)
    width, height = image.size
    if abs(width - 2 * height) > ASPECT_TOLERANCE * width:
        return "skipped", src, f"{width}x{height} is not a 2:1 pair like %dx%d" % PAIR_SIZE
    if height < MIN_SIDE:
        return (
            "skipped",
            src,
            f"{width}x{height} is too small: a half must be {MIN_SIDE}x{MIN_SIDE}",
        )
    rgb = to_rgb(image)  # 16-bit grey scaled to 8 bits, transparency on white paper
    note = None if image.mode == "RGB" else f"{image.mode} converted to RGB"
    half = width // 2
    # Lanczos, the sharpest of PIL's downscaling filters: thin sketch lines stay continuous, dark.
    lanczos = Image.Resampling.LANCZOS
    color = rgb.crop((0, 0, half, height)).resize((size, size), lanczos)
    sketch = rgb.crop((width - half, 0, width, height)).resize((size, size), lanczos)
    write_png(color, color_out)
    write_png(sketch, sketch_out)
    return ("converted" if note else "written"), src, note


def process_pair(job):
    """split_pair(*job), or ("skipped", src, why) for an input that is no file or has gone, or an
    output name the file system refuses."""
    src, _, name, _ = job
    what = not_a_file(src)
    if what:
        return "skipped", src, f"is {what}, not an image file"
    try:
        return split_pair(*job)
    except FileNotFoundError:  # the outputs' folders exist: only the input can have gone
        return "skipped", src, "was deleted while preprocessing ran"
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        return "skipped", src, f"the output name {name}.png is too long for the file system"
