"""preprocess_anime_sketches.py: both input layouts, orientation, bad inputs, resume, names, --demo
(tests/test_preprocess_verify.py: --verify)."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import preprocess_anime_sketches as prep
from tests.preprocess_inputs import SIZE, make_pair, run, tree_hashes, write_pairs


def looks_like_colour(path):
    a = np.asarray(Image.open(path), dtype=int)
    return (a.max(axis=2) - a.min(axis=2)).mean() > 100


def looks_like_sketch(path):
    a = np.asarray(Image.open(path), dtype=int)
    return (a.max(axis=2) - a.min(axis=2)).max() < 8 and (a.min(axis=2) > 200).mean() > 0.5


def test_kaggle_layout_orientation_and_summary(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "data" / "train", ["1", "2", "3"])
    write_pairs(src / "data" / "val", ["10"], seed=5)
    before = tree_hashes(src)
    text = run(capsys, "--input", src, "--output", out)
    assert "Found 4 images to process" in text and "(train: 3, val: 1)" in text
    assert "Sketch images: 4" in text and "Color images: 4" in text
    assert text.rstrip().endswith("Status: READY for training")
    for split, names in (("train", ["1", "2", "3"]), ("val", ["10"])):
        for kind in ("colors", "sketches"):
            assert sorted(p.stem for p in (out / split / kind).iterdir()) == names
        for name in names:  # the LEFT half is the colour image, the RIGHT half the sketch
            colour = out / split / "colors" / f"{name}.png"
            sketch = out / split / "sketches" / f"{name}.png"
            assert Image.open(colour).size == (SIZE, SIZE) and Image.open(colour).mode == "RGB"
            assert looks_like_colour(colour) and looks_like_sketch(sketch)
    assert tree_hashes(src) == before  # input untouched, nothing added


def test_flat_layout_without_val_makes_no_val(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b"])
    text = run(capsys, "--input", src, "--output", out)
    assert "Found 2 images to process" in text and "holds out 5%" in text
    assert not (out / "val").exists()
    assert len(list((out / "train" / "sketches").glob("*.png"))) == 2
    assert "Status: READY for training" in text


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_bad_inputs_are_skipped_or_converted_one_line_each(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    folder = src / "train"
    write_pairs(folder, ["good1", "good2"])
    good = (folder / "good1.png").read_bytes()
    (folder / "notes.txt").write_text("not an image")
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[60:80] = bytes(20)  # inside the image data: the CRC check fails
    (folder / "corrupt.png").write_bytes(bytes(corrupt))
    Image.new("RGB", (48, 48), "red").save(folder / "square.png")
    # A decompression bomb: the header claims 30000x15000 (450 M pixels); PIL refuses to decode it.
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 15000, 8, 2, 0, 0, 0))
    data = png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
    bomb = b"\x89PNG\r\n\x1a\n" + header + data + png_chunk(b"IEND", b"")
    (folder / "bomb.png").write_bytes(bomb)
    pair = make_pair(7)
    alpha = np.zeros((48, 96), np.uint8)
    alpha[:, :48] = 255  # colour half opaque, sketch half fully transparent: must come out white
    rgba = pair.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(folder / "rgba.png")
    palette = pair.convert("P", palette=Image.Palette.ADAPTIVE)  # exact colours, no dithering
    top_left = palette.getpixel((0, 0))
    palette.save(folder / "palette.png", transparency=top_left)  # that colour is transparent
    pair.convert("L").save(folder / "grey.png")
    grey16 = (np.asarray(pair.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "grey16.png")
    assert Image.open(folder / "grey16.png").mode.startswith("I")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    before = tree_hashes(src)

    text = run(capsys, "--input", src, "--output", out)
    lines = text.splitlines()
    for name in ("notes.txt", "truncated.png", "corrupt.png", "square.png", "bomb.png"):
        assert sum(line.startswith("skipped") and name in line for line in lines) == 1, name
    assert any("bomb.png" in line and "decompression bomb" in line for line in lines)
    assert any("square.png" in line and "48x48 is not a 2:1 pair" in line for line in lines)
    for name in ("rgba.png", "palette.png", "grey.png", "grey16.png"):
        assert sum(line.startswith("converted") and name in line for line in lines) == 1, name
    assert "6 written (4 converted), 0 already done, 5 skipped" in text
    assert "Sketch images: 6" in text and "Status: READY for training" in text
    assert tree_hashes(src) == before
    sketches = out / "train" / "sketches"
    written = ["good1", "good2", "grey", "grey16", "palette", "rgba"]
    assert sorted(p.stem for p in sketches.iterdir()) == written
    assert np.asarray(Image.open(sketches / "rgba.png")).min() == 255  # transparent -> white
    colors = out / "train" / "colors"
    assert looks_like_colour(colors / "rgba.png")
    grey16_out = np.asarray(Image.open(colors / "grey16.png"), dtype=int)
    grey8_out = np.asarray(Image.open(colors / "grey.png"), dtype=int)
    assert np.abs(grey16_out - grey8_out).max() <= 1  # 16-bit scaled to 8-bit, not clipped to white
    assert np.asarray(Image.open(colors / "palette.png"))[0, 0].min() >= 250  # tRNS -> white


def test_rerun_skips_finished_pairs_and_resume_completes(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", [f"p{i}" for i in range(5)])
    run(capsys, "--input", src, "--output", out)
    files = sorted(out.rglob("*.png"))
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}

    text = run(capsys, "--input", src, "--output", out)
    assert "0 written (0 converted), 5 already done" in text
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == stamps

    # As if a run had been interrupted: two colour images and one sketch missing.
    for name in ("colors/p1.png", "colors/p3.png", "sketches/p4.png"):
        (out / "train" / name).unlink()
    (out / "train/colors/.p1.png.x1y2.part").write_bytes(b"half a PNG")  # left by a killed worker
    text = run(capsys, "--input", src, "--output", out)
    assert "3 written (0 converted), 2 already done" in text
    assert "Status: READY for training" in text
    assert sorted(out.rglob("*.png")) == files
    assert all(stamps[p][1] == p.read_bytes() for p in files)
    assert not list(out.rglob(".*"))  # no temp files left behind


@pytest.mark.parametrize("layout", ["missing", "no-train", "empty"])
def test_missing_or_empty_dataset_says_how_to_get_it(tmp_path, capsys, layout):
    src = tmp_path / "in"
    if layout != "missing":
        src.mkdir()
    if layout == "empty":
        (src / "data" / "train").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--input", src, "--output", tmp_path / "out")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Kaggle" in err and "--demo" in err and str(src) in err


def test_demo_is_kaggle_format_and_deterministic(tmp_path, capsys):
    def demo(name, *seed, workers=1):
        folders = ["--input", tmp_path / name, "--output", tmp_path / f"{name}_out"]
        text = run(capsys, "--demo", 6, *seed, *folders, "--workers", workers)
        return text, tree_hashes(tmp_path / name)

    text, first = demo("a", "--seed", 0, workers=2)
    assert "Wrote 6 demo pairs (5 train, 1 val)" in text and "Status: READY for training" in text
    assert demo("b", "--seed", 0)[1] == first  # same seed: the same bytes, however many workers
    other = demo("c", "--seed", 1)[1]
    assert other.keys() == first.keys()
    assert all(other[k] != first[k] for k in first if k.suffix == ".png")

    pair = Image.open(tmp_path / "a" / "val" / "demo_00005.png")
    assert pair.size == (1024, 512) and pair.mode == "RGB"
    colour = np.asarray(pair.crop((0, 0, 512, 512)), dtype=int)
    sketch = np.asarray(pair.crop((512, 0, 1024, 512)), dtype=int)
    assert (sketch.max(axis=2) == sketch.min(axis=2)).all()  # greyscale stored as RGB
    assert (sketch.min(axis=2) > 200).mean() > 0.7 and (sketch < 60).any()  # black lines on white
    assert (colour.max(axis=2) - colour.min(axis=2)).mean() > 60  # a coloured picture

    # The same command again (the default seed is 0) rewrites nothing: every pair stays done.
    text, again = demo("a")
    assert "0 written (0 converted), 6 already done" in text
    assert again == first


def test_demo_refuses_a_folder_with_real_data(tmp_path, capsys):
    src = tmp_path / "in"
    write_pairs(src / "train", ["1"])
    before = tree_hashes(src)
    with pytest.raises(SystemExit) as exit_info:
        prep.main(["--demo", "3", "--input", str(src), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "not a demo set" in capsys.readouterr().err
    assert tree_hashes(src) == before


def test_demo_refuses_to_mix_two_demo_sets(tmp_path, capsys):
    folders = ["--input", tmp_path / "in", "--output", tmp_path / "out"]
    run(capsys, "--demo", 2, *folders)
    before = tree_hashes(tmp_path / "in")
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--demo", 2, "--seed", 1, *folders)
    assert exit_info.value.code == 2 and "holds another demo set" in capsys.readouterr().err
    assert tree_hashes(tmp_path / "in") == before


def test_two_inputs_with_one_name_keep_both_pairs(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "train").mkdir(parents=True)
    make_pair(1).save(src / "train" / "a.png")
    make_pair(2).save(src / "train" / "a.jpg", quality=95)
    make_pair(3).save(src / "train" / "b.png")
    text = run(capsys, "--input", src, "--output", out)
    assert "3 written" in text and "already done" in text
    names = sorted(p.name for p in (out / "train" / "colors").iterdir())
    assert names == ["a_jpg.png", "a_png.png", "b.png"]
    assert "0 written" in run(capsys, "--input", src, "--output", out)  # a re-run finds both done


def test_a_clash_left_after_renaming_is_named(tmp_path, capsys):
    src = tmp_path / "in"
    (src / "train").mkdir(parents=True)
    for name in ("a.png", "a.jpg", "a_png.png"):  # a_png.png is also where a.png would go
        make_pair(0).save(src / "train" / name)
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--input", src, "--output", tmp_path / "out")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "would both be written as a_png.png" in err and "rename one" in err


def test_an_impossible_output_folder_is_refused_before_any_work(tmp_path, capsys):
    src = tmp_path / "in"
    write_pairs(src / "train", ["a"])
    (tmp_path / "a_file").write_text("a file where a folder should be")
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--input", src, "--output", tmp_path / "a_file" / "out")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "cannot write into --output" in err and "Traceback" not in err
