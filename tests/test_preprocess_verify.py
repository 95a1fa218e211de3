"""preprocess_anime_sketches.py --verify: it passes what the script wrote and catches swapped,
unpaired, wrongly sized and look-alike folders, and does not take pale colours for sketches."""

import re

import pytest
from PIL import Image

from tests.preprocess_inputs import SIZE, pale_pair, run, swap_folders, write_pairs


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
