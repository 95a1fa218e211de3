"""colorize_sketch.py refuses bad inputs in one sentence and loses nothing: bad sketches and
weights, two sketches of one name, an output that would replace a sketch, FIFOs, a folder as
--grid, a name too long for the file system, a full disk. An untrained narrow generator (ngf 8)
stands in for Exercise 3's: these tests are about files, not colours."""

import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import colorize_sketch
from helpers.checkpoints import save_generator
from helpers.lesson import ROOT
from pix2pix_models import IMAGE_SIZE, UNetGenerator, init_weights

pytestmark = pytest.mark.usefixtures("one_thread")  # small networks (tests/conftest.py says why)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "generator_weights.pth"
    model_args = {"in_channels": 3, "out_channels": 3, "ngf": 8}
    torch.manual_seed(0)
    save_generator(path, init_weights(UNetGenerator(**model_args)), model_args, IMAGE_SIZE, 1)
    return path


def sketch(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = np.full((64, 64), 255, np.uint8)
    lines[10 + seed, :] = lines[:, 20 + seed] = 0
    Image.fromarray(lines).save(path)
    return path


def colorize(*argv):
    colorize_sketch.main([*map(str, argv)])


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --output-dir is the current folder


def error_of(capsys, *argv):
    """The one line colorize_sketch.py prints for a refused command (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        colorize(*argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and err.count("\n") == 1
    return err.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize(
    "content, problem",
    [
        ("empty", "is empty"),
        ("truncated", "is damaged or cut short"),
        ("bomb", "is too large to open safely"),
    ],
)
def test_colorize_refuses_bad_sketches_in_one_sentence(weights, tmp_path, capsys, content, problem):
    path = tmp_path / "sketch.png"
    if content == "bomb":
        Image.new("L", (12000, 12000)).save(path)
    elif content == "truncated":
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path)
        path.write_bytes(path.read_bytes()[:3000])  # a download cut short
    else:
        path.write_bytes(b"")
    err = error_of(capsys, path, "--weights", weights, "--output-dir", tmp_path)
    assert f"sketch {path} {problem}" in err
    assert not list(tmp_path.glob("*_colorized.png"))


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"random bytes \x00\x01\x02" * 50, "is not a PyTorch weights file"),
        (b"", "is empty or cut short"),
    ],
)
def test_colorize_refuses_a_file_that_is_not_weights(tmp_path, capsys, content, problem):
    (tmp_path / "notes.pth").write_bytes(content)
    err = error_of(capsys, sketch(tmp_path / "v1.png"), "--weights", tmp_path / "notes.pth")
    assert problem in err and "weights_only" not in err


def test_colorize_names_exercise3s_other_file(tmp_path, capsys):
    torch.save({"format_version": 1, "net_G": {}}, tmp_path / "exercise3_checkpoint.pth")
    err = error_of(capsys, tmp_path / "x.png", "--weights", tmp_path / "exercise3_checkpoint.pth")
    assert "pass generator_weights.pth from the same folder" in err


def test_colorize_keeps_two_sketches_of_one_name_apart(weights, tmp_path, capsys):
    a, b = sketch(tmp_path / "a" / "case.png"), sketch(tmp_path / "b" / "case.png", seed=5)
    out = tmp_path / "out"
    colorize(a, b, "--weights", weights, "--output-dir", out)
    printed = capsys.readouterr().out
    assert f"Coloured {a} -> {out / 'a_case_colorized.png'}\n" in printed
    assert f"Coloured {b} -> {out / 'b_case_colorized.png'}\n" in printed
    first = (out / "a_case_colorized.png").read_bytes()
    assert first != (out / "b_case_colorized.png").read_bytes()
    colorize(a, "--weights", weights, "--output-dir", out)  # alone, it keeps its own name
    colorize(a, b, "--weights", weights, "--output-dir", out)  # a rerun says what it replaces
    assert f"{out / 'a_case_colorized.png'} (replaced the earlier file)" in capsys.readouterr().out
    assert (out / "a_case_colorized.png").read_bytes() == first
    assert sorted(p.name for p in out.iterdir()) == [
        "a_case_colorized.png",
        "b_case_colorized.png",
        "case_colorized.png",
    ]


def test_colorize_refuses_outputs_that_would_clash_or_replace_a_sketch(weights, tmp_path, capsys):
    png, jpg = sketch(tmp_path / "a" / "x.png"), sketch(tmp_path / "a" / "x.jpg")
    err = error_of(capsys, png, jpg, "--weights", weights, "--output-dir", tmp_path)
    assert err == (
        f"{png} and {jpg} would both be written as {tmp_path / 'a_x_colorized.png'}; "
        "rename one of them."
    )
    given = sketch(tmp_path / "y_colorized.png")
    err = error_of(capsys, sketch(tmp_path / "y.png"), given, "--weights", weights)
    assert err == "y_colorized.png is one of the sketches given; choose another --output-dir."
    assert not list(tmp_path.glob("*_colorized_colorized.png"))


def test_colorize_refuses_fifos_and_a_folder_as_grid(weights, tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.png")  # opened, it would wait for a writer forever
    os.mkfifo(tmp_path / "pipe.pth")
    good = sketch(tmp_path / "s.png")
    err = error_of(capsys, tmp_path / "pipe.png", "--weights", weights)
    assert err == (
        f"sketch {tmp_path / 'pipe.png'} is a named pipe (FIFO), not an image file; "
        "pass a PNG or JPEG line drawing."
    )
    err = error_of(capsys, good, "--weights", tmp_path / "pipe.pth")
    assert err == (
        f"--weights {tmp_path / 'pipe.pth'} is a named pipe (FIFO), not a weights file; "
        "pass a generator_weights.pth."
    )
    err = error_of(capsys, good, "--weights", weights, "--grid", tmp_path)
    assert err == (
        f"--grid {tmp_path} is a folder; give a file name, such as {tmp_path / 'comparison.png'}."
    )


def test_colorize_says_when_an_output_name_is_too_long(weights, tmp_path, capsys):
    path = sketch(tmp_path / f"{'s' * 246}.png")  # 250 characters: +"_colorized" is too long
    err = error_of(capsys, path, "--weights", weights, "--output-dir", tmp_path)
    out = tmp_path / f"{'s' * 246}_colorized.png"
    assert err == (
        f"could not write {out} (the name is too long for the file system); use a shorter "
        "name, then run the command again (the images written before it are kept)."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_colorize_on_a_full_disk_is_one_sentence_and_keeps_the_earlier_image(weights, tmp_path):
    path = sketch(tmp_path / "s.png")
    colorize(path, "--weights", weights, "--output-dir", tmp_path)
    before = (tmp_path / "s_colorized.png").read_bytes()

    def full_disk():  # every write to a file fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    command = [sys.executable, "colorize_sketch.py", str(path), "--weights", str(weights)]
    result = subprocess.run(
        command + ["--output-dir", str(tmp_path), "--device", "cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=full_disk,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: could not write {tmp_path / 's_colorized.png'} (the disk is full or the file too "
        "large: File too large); free some space, then run the command again (the images written "
        "before it are kept).\n"
    )
    assert (tmp_path / "s_colorized.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png", "s_colorized.png"]
