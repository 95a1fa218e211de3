"""Exercise 1 given odd files to read and odd names to write: each is refused or skipped with one
sentence, never a hang or a traceback; and the grid is written in the format its name says.

The generator has random weights (tests/exercise1_support.py): its pictures are noise.
"""

import os
import signal
import sys
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from helpers.lesson import LessonError
from helpers.facade_labels import SAMPLE_LABELS_DIR as SAMPLES
from helpers.lesson import image_files, open_image
from tests.exercise1_support import photo_like, run


@contextmanager
def at_most(seconds):
    """Fail instead of hanging: reading a named pipe without a writer would wait forever."""

    def hung(*args):
        raise TimeoutError(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(sys.platform != "linux", reason="named pipes and /dev/zero as on Linux")
def test_pipes_devices_folders_and_link_loops_are_skipped_with_one_sentence_each(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy
):
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "deleted.png")
    label = SAMPLES / "narrow_house.png"
    odd = ["pipe.png", "loop.png", "gone.png"]
    args = ["--labels", *[tmp_path / name for name in odd], "/dev/zero", label]
    with at_most(60):
        out = run([*args, "--checkpoint", checkpoint, "--output", tmp_path / "g.png"], capsys)
    skipped = [line for line in out.out.splitlines() if line.startswith("skipping")]
    assert [line.split(": ", 1)[1] for line in skipped] == [
        f"label {tmp_path / 'pipe.png'} is a named pipe (FIFO), not a regular file; pass a PNG "
        "or JPEG label map.",
        f"label {tmp_path / 'loop.png'} is a symbolic link loop (links that lead back to "
        "themselves); pass a PNG or JPEG label map.",
        f"label {tmp_path / 'gone.png'} is a broken symbolic link; pass a PNG or JPEG label map.",
        "label /dev/zero is a device, not a regular file; pass a PNG or JPEG label map.",
    ]
    assert grid_spy[0]["col_titles"] == ["narrow_house"]
    with at_most(10), pytest.raises(LessonError, match="is a folder, not a file"):
        open_image(tmp_path)  # the one decoder refuses these for every script
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "folder" / "pipe.png")
    Image.open(label).save(tmp_path / "folder" / "house.png")
    with at_most(10):  # a pipe inside a folder of labels is left out
        assert image_files([tmp_path / "folder"]) == [tmp_path / "folder" / "house.png"]


@pytest.mark.parametrize("suffix, magic", [(".jpg", b"\xff\xd8\xff"), (".pdf", b"%PDF")])
def test_the_grid_is_written_in_the_format_its_name_says(
    checkpoint, reuse_net, tmp_path, capsys, suffix, magic
):
    output = tmp_path / f"grid{suffix}"
    run(
        ["--labels", SAMPLES / "narrow_house.png", "--checkpoint", checkpoint, "--output", output],
        capsys,
    )
    assert output.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["grid.gif", "grid", "grid.png.txt"])
def test_an_output_name_of_no_figure_format_is_refused_before_any_work(tmp_path, capsys, name):
    with pytest.raises(SystemExit) as exit_info:
        run(["--output", tmp_path / name, "--checkpoint", tmp_path / "never_read.pth"], capsys)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert f"--output {tmp_path / name} does not end in a figure format (.jpeg, .jpg" in err
    assert not (tmp_path / name).exists()


def non_utf8_path(folder, stem=b"fa\xe7ade"):
    """A file name that is not valid UTF-8 (Latin-1 bytes, as in an old archive): legal on Linux."""
    return folder / (os.fsdecode(stem) + ".png")


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux file names may be arbitrary bytes")
def test_a_label_whose_name_is_not_utf8_is_drawn_and_named(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy
):
    label = non_utf8_path(tmp_path)
    Image.open(SAMPLES / "narrow_house.png").save(label)
    output = tmp_path / "grid.png"
    out = run(
        ["--labels", label, "--checkpoint", checkpoint, "--output", output, "--device", "cpu"],
        capsys,
    )
    assert output.is_file() and f"wrote {output.resolve()}" in out.out
    assert grid_spy[0]["col_titles"] == ["fa\ufffdade"]  # the undecodable byte shown as U+FFFD


def test_a_photo_given_as_a_label_is_warned_about_and_still_translated(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy
):
    Image.fromarray(photo_like()).save(tmp_path / "holiday_photo.jpg", quality=90)
    out = run(
        [
            "--labels",
            tmp_path / "holiday_photo.jpg",
            SAMPLES / "narrow_house.png",
            "--checkpoint",
            checkpoint,
            "--output",
            tmp_path / "grid.png",
            "--device",
            "cpu",
        ],
        capsys,
    )
    warnings = [line for line in out.out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "holiday_photo.jpg does not look like a label map" in warnings[0]
    assert len(grid_spy[0]["rows"][1]) == 2  # both still translated


def test_a_single_label_gets_a_figure_whose_title_is_not_clipped(
    checkpoint, reuse_net, tmp_path, capsys
):
    output = tmp_path / "one.png"
    run(
        [
            "--labels",
            SAMPLES / "narrow_house.png",
            "--checkpoint",
            checkpoint,
            "--output",
            output,
            "--device",
            "cpu",
        ],
        capsys,
    )
    with Image.open(output) as png:
        # the title's band: dark text pixels
        ink = np.asarray(png.convert("L"))[: png.height // 12] < 128
        mode = os.stat(output).st_mode & 0o777
    columns = np.flatnonzero(ink.any(axis=0))
    # margin on both sides
    assert columns.size and columns.min() > 3 and columns.max() < ink.shape[1] - 4
    mask = os.umask(0o022)
    os.umask(mask)
    assert mode == 0o666 & ~mask  # readable by the class, like any file the user makes


@pytest.mark.skipif(sys.platform != "linux", reason="named pipes as on Linux")
def test_a_named_pipe_as_checkpoint_is_refused_not_waited_on(tmp_path, capsys):
    os.mkfifo(tmp_path / "weights.pth")
    with at_most(30), pytest.raises(SystemExit) as exit_info:
        run(["--checkpoint", tmp_path / "weights.pth", "--output", tmp_path / "o.png"], capsys)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err == (
        f"error: {tmp_path / 'weights.pth'} is a named pipe (FIFO), not a regular file; pass the "
        "weights file with --checkpoint.\n"
    )
