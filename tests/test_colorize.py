"""colorize_sketch.py colours sketches and loses nothing: bad sketches and weights, two sketches of
one name, an output that would replace a sketch or the weights, a folder as --grid, a name too
long, a full disk. An untrained narrow generator (ngf 8) stands in for Exercise 3's."""

import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import colorize_sketch
from helpers.lesson import ROOT
from tests.exercise1_support import refused, write_exercise3_weights
from tests.official_reference import random_official_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")  # small networks (tests/conftest.py says why)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_exercise3_weights(tmp_path_factory.mktemp("run") / "generator_weights.pth")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --output-dir is the current folder


def sketch(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = np.full((64, 64), 255, np.uint8)
    lines[10 + seed, :] = lines[:, 20 + seed] = 0
    Image.fromarray(lines).save(path)
    return path


def colorize(*argv):
    colorize_sketch.main([*map(str, argv)])


def error_of(*argv, capsys):
    return refused(colorize_sketch.main, argv, capsys)


def test_a_grid_compares_runs_against_the_targets_of_preprocessed_pairs(
    weights, tmp_path, monkeypatch
):
    for folder in ("sketches", "colors"):
        sketch(tmp_path / "val" / folder / "a.png", seed=2 if folder == "colors" else 0)
    other = write_exercise3_weights(tmp_path / "other" / "generator_weights.pth", seed=1)
    grids, save_grid = [], colorize_sketch.save_grid
    monkeypatch.setattr(
        colorize_sketch, "save_grid", lambda *a, **k: grids.append(k) or save_grid(*a, **k)
    )
    colorize(tmp_path / "val" / "sketches", "--weights", weights, other, "--grid", "g.png")
    assert (tmp_path / "g.png").is_file()
    [grid] = grids  # rows: the sketch, two runs, the target
    assert [caption[0][:13] for caption in grid["captions"][1:3]] == ["L1 to target "] * 2


@pytest.mark.parametrize(
    "content, problem",
    [("empty", "is empty"), ("cut", "is damaged or cut short"), ("bomb", "is too large")],
)
def test_a_bad_sketch_is_refused_in_one_sentence(weights, tmp_path, capsys, content, problem):
    path = tmp_path / "sketch.png"
    if content == "bomb":
        Image.new("L", (12000, 12000)).save(path)
    elif content == "cut":
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path)
        path.write_bytes(path.read_bytes()[:3000])  # a download cut short
    else:
        path.write_bytes(b"")
    assert f"sketch {path} {problem}" in error_of(path, "--weights", weights, capsys=capsys)
    assert not list(tmp_path.glob("*_colorized.png"))


# The refusals every script shares (a checkpoint, NaN, a FIFO) are tested once elsewhere.
@pytest.mark.parametrize("authors", [False, True], ids=["junk", "authors"])
def test_weights_that_are_no_sketch_generator_are_refused(tmp_path, capsys, authors):
    path = tmp_path / "w.pth"
    if authors:
        torch.save(random_official_state_dict(), path)
    else:
        path.write_bytes(b"random bytes \x00\x01\x02" * 50)
    err = error_of(sketch(tmp_path / "s.png"), "--weights", path, capsys=capsys)
    words = "holds the authors' facades model" if authors else "is not a PyTorch weights file"
    assert words in err and "weights_only" not in err and "delete it" not in err


def test_two_sketches_of_one_name_are_kept_apart_and_a_rerun_says_what_it_replaces(
    weights, tmp_path, capsys
):
    a, b = sketch(tmp_path / "a" / "case.png"), sketch(tmp_path / "b" / "case.png", seed=5)
    out = tmp_path / "out"
    colorize(a, b, "--weights", weights, "--output-dir", out)
    printed = capsys.readouterr().out
    for name in ("a", "b"):
        assert f"-> {out / f'{name}_case_colorized.png'}\n" in printed
    first = (out / "a_case_colorized.png").read_bytes()
    assert first != (out / "b_case_colorized.png").read_bytes()
    colorize(a, "--weights", weights, "--output-dir", out)  # alone, it keeps its own name
    colorize(a, b, "--weights", weights, "--output-dir", out)
    assert "a_case_colorized.png (replaced the earlier file)" in capsys.readouterr().out
    assert (out / "a_case_colorized.png").read_bytes() == first
    names = ["a_case_colorized.png", "b_case_colorized.png", "case_colorized.png"]
    assert sorted(p.name for p in out.iterdir()) == names


@pytest.mark.parametrize(
    "sketches, flags, words",
    [
        (["s.png"], ["--grid", "s.png"], "--grid s.png"),  # the sketch itself
        (["s.png"], ["--grid", "WEIGHTS"], "generator_weights.pth"),  # the trained generator
        (["s.png"], ["--grid", "."], "is a folder"),
        (["more/s.png", "more/s.jpg"], [], "would both be written as"),
        (["s.png", "s_colorized.png"], [], "s_colorized.png"),  # an output that is a sketch given
        (["s.png"], ["--output-dir", "a_file"], "cannot write a_file"),
    ],
)
def test_an_output_that_would_replace_an_input_or_fail_is_refused_first(
    weights, tmp_path, capsys, sketches, flags, words
):
    for name in ("s.png", "more/s.png", "more/s.jpg", "s_colorized.png"):
        sketch(tmp_path / name)
    (tmp_path / "a_file").write_text("a file, not a folder")
    before = {p: p.read_bytes() for p in [weights, *tmp_path.rglob("*.*")]}
    flags = [str(weights) if flag == "WEIGHTS" else flag for flag in flags]
    assert words in error_of(*sketches, "--weights", weights, *flags, capsys=capsys)
    assert before == {p: p.read_bytes() for p in [weights, *tmp_path.rglob("*.*")]}


def test_a_name_too_long_for_the_file_system_is_one_sentence(weights, tmp_path, capsys):
    path = sketch(tmp_path / f"{'s' * 246}.png")  # 250 characters: +"_colorized" is too long
    err = error_of(path, "--weights", weights, capsys=capsys)
    assert "the name is too long for the file system" in err and "run the command again" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.slow
def test_a_full_disk_is_one_sentence_and_keeps_the_earlier_image(weights, tmp_path):
    path = sketch(tmp_path / "s.png")
    colorize(path, "--weights", weights)
    before = (tmp_path / "s_colorized.png").read_bytes()

    def full_disk():  # every write to a file fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    command = [sys.executable, "colorize_sketch.py", str(path), "--weights", str(weights)]
    result = subprocess.run(
        [*command, "--output-dir", str(tmp_path), "--device", "cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=full_disk,
        timeout=300,
    )
    assert result.returncode == 2 and "the disk is full" in result.stderr
    assert "images written before it are kept" in result.stderr
    assert (tmp_path / "s_colorized.png").read_bytes() == before
