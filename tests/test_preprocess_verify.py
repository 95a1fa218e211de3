"""preprocess_anime_sketches.py --verify: it passes what the script wrote and catches swapped,
unpaired, wrongly sized and look-alike folders, and does not take pale colours for sketches; it
counts pairs as training does (a folder or FIFO named x.png is none) and tells label maps beside
photos (the pix2pix facades) from a swapped anime set."""

import os
import re

import pytest
from PIL import Image

from helpers.anime_demo import draw_demo_pair
from tests.preprocess_inputs import SIZE, facade_pair, pale_pair, run, swap_folders, write_pairs


def test_verify_passes_then_catches_a_swapped_split(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b", "c"])
    run(capsys, "--input", src, "--output", out)
    assert run(capsys, "--output", out, "--verify").rstrip().endswith("Status: READY for training")

    swap_folders(out / "train")
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--output", out, "--verify")
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "look swapped" in captured.out and "Status: NOT READY" in captured.out
    assert "Status: READY for training" not in captured.out


def test_verify_catches_unpaired_and_wrong_size(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b", "c"])
    run(capsys, "--input", src, "--output", out)
    (out / "train/colors/b.png").unlink()
    Image.new("RGB", (SIZE + 1, SIZE), "white").save(out / "train/sketches/c.png")
    with pytest.raises(SystemExit):
        run(capsys, "--output", out, "--verify")
    text = capsys.readouterr().out
    assert "sketches/b.png has no partner" in text and "expected RGB 32x32" in text
    assert "Status: READY for training" not in text


def test_verify_accepts_pale_colour_images_and_still_catches_a_swap(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "train").mkdir(parents=True)
    for i in range(4):
        pale_pair(i).save(src / "train" / f"pale{i}.png")
    assert (
        run(capsys, "--input", src, "--output", out).rstrip().endswith("Status: READY for training")
    )
    verified = run(capsys, "--output", out, "--verify")
    spread = [
        float(x)
        for x in re.findall(r"colour spread sketches ([\d.]+), colors ([\d.]+)", verified)[0]
    ]
    assert spread[0] < 0.005 and 0.015 < spread[1] < 0.03  # greyscale sketches, pale colours
    swap_folders(out / "train")
    with pytest.raises(SystemExit):
        run(capsys, "--output", out, "--verify")
    assert "look swapped" in capsys.readouterr().out


def test_verify_refuses_two_folders_of_the_same_kind(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b"])
    run(capsys, "--input", src, "--output", out)
    for name in ("a", "b"):  # sketches where the colours should be: nothing tells the folders apart
        (out / "train" / "colors" / f"{name}.png").write_bytes(
            (out / "train" / "sketches" / f"{name}.png").read_bytes()
        )
    with pytest.raises(SystemExit):
        run(capsys, "--output", out, "--verify")
    assert "look alike" in capsys.readouterr().out


def not_ready(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, *argv)
    out = capsys.readouterr().out
    assert exit_info.value.code == 2 and "Status: NOT READY" in out
    return out


def test_verify_counts_pairs_as_training_does(tmp_path, capsys):
    """A folder or a FIFO named x.png is no image (training skips it; reading a FIFO would wait
    forever), and an image of 2x1 pixels is no picture: each is named and the set is NOT READY."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b"])
    run(capsys, "--input", src, "--output", out)
    for kind in ("sketches", "colors"):
        (out / "train" / kind / "zz.png").mkdir()
        os.mkfifo(out / "train" / kind / "ff.png")
        Image.new("RGB", (2, 1), "white").save(out / "train" / kind / "tiny.png")
    text = not_ready(capsys, "--output", out, "--verify")
    for kind in ("sketches", "colors"):
        folder = out / "train" / kind
        assert f"{folder / 'zz.png'} is a folder, not an image file (training skips it)" in text
        assert f"{folder / 'ff.png'} is a named pipe (FIFO), not an image file" in text
        assert f"{folder / 'tiny.png'}: is RGB 2x1, expected RGB {SIZE}x{SIZE}" in text
    assert "train: 3 pairs" in text  # a, b and tiny: what training would read


def test_a_size_below_the_minimum_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--output", tmp_path, "--verify", "--size", "16")
    assert exit_info.value.code == 2
    assert "argument --size: must be at least 32, not 16" in capsys.readouterr().err


def test_facades_label_maps_are_ready_and_a_swapped_anime_set_is_not(tmp_path, capsys):
    """Facades pairs (photo LEFT, label RIGHT, as the pix2pix set has them) are split like the
    Kaggle pairs: their label maps land in sketches/, which is more colourful than colors/. That is
    a label -> photo set, READY; colour pictures in sketches/ beside line art in colors/ is not."""
    facades, anime = tmp_path / "facades", tmp_path / "anime"
    (facades / "train").mkdir(parents=True)
    (anime / "train").mkdir(parents=True)
    for i in range(3):
        facade_pair(i).save(facades / "train" / f"{i}.jpg")
        draw_demo_pair(0, i).save(anime / "train" / f"{i}.png")
    for source in (facades, anime):
        text = run(capsys, "--input", source, "--output", tmp_path / f"{source.name}_out")
        assert text.rstrip().endswith("Status: READY for training")
    text = run(capsys, "--output", tmp_path / "facades_out", "--verify")
    assert "train: sketches/ looks like label maps (saturated colours) and colors/ like " in text
    assert "a label -> photo set such as facades" in text
    swap_folders(tmp_path / "anime_out" / "train")
    text = not_ready(capsys, "--output", tmp_path / "anime_out", "--verify")
    assert "look swapped" in text and "label maps" not in text
