"""preprocess_anime_sketches.py: both layouts, which half is which, odd and hostile inputs, resume,
--demo, --verify and its flags; the input never changed, one sentence for each refusal."""

import hashlib
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import preprocess_anime_sketches as prep
from helpers.facade_labels import draw_facade
from painter.server import random_design
from helpers.lesson import ROOT
from preprocessing.demo import draw_demo_pair

SIZE = 32  # output side: tiny, the logic does not depend on it


def make_pair(seed, height=48, pale=False):
    """A 2:1 pair like Kaggle's: colour LEFT (saturated, or pale as some Kaggle pictures: spread
    0.027, 15% white), two black lines on white RIGHT."""
    rng = np.random.default_rng(seed)
    colour = np.full((height, height, 3), (230, rng.integers(0, 120), 0), np.uint8)
    colour[height // 2 :, :, 2] = 200  # a magenta lower half
    if pale:
        colour[:] = np.add((236, 230, 229), rng.integers(0, 3, (height, height, 1)))
        colour[: height * 15 // 100] = 255
    sketch = np.full((height, height, 3), 255, np.uint8)
    sketch[height // 3, :] = sketch[:, rng.integers(4, height - 4)] = 0
    return Image.fromarray(np.concatenate([colour, sketch], axis=1))


def write_pairs(folder, names, seed=0, **kind):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        make_pair(seed + i, **kind).save(folder / f"{name}.png")


def hashes(root):  # every file under `root`, hidden ones too: any change shows
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def run(capsys, *argv, code=None):
    """main() at SIZE, in this process -> what it printed (with stderr's one line if it exits)."""
    argv = ["--size", str(SIZE), "--workers", "1", *map(str, argv)]
    if code is None:
        prep.main(argv)
        return capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        prep.main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == code and err.count("\n") == 1 and "Traceback" not in err
    return out + err


def spread(path):  # the mean gap between a pixel's largest and smallest channel
    return np.ptp(np.asarray(Image.open(path), dtype=int), axis=2).mean()


@pytest.mark.parametrize(
    "layout", ["data/ with val/", "flat", "EXIF-turned .png", "EXIF-turned .jpg"]
)
def test_each_layout_splits_colour_left_sketch_right(tmp_path, capsys, layout):
    """Kaggle's data/ or a flat train/; a pair stored 48x96, "rotate 90°" in EXIF, is 96x48."""
    src, out, val = tmp_path / "in", tmp_path / "out", layout.startswith("data")
    train = src / "data/train" if val else src / "train"
    write_pairs(train, ["1", "2", "3"])
    if val:
        write_pairs(src / "data/val", ["10"], seed=5)
    if "EXIF" in layout:
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: turn 90° clockwise to view
        (train / "1.png").unlink()
        make_pair(0).rotate(90, expand=True).save(train / f"1{layout[-4:]}", exif=exif)
    before = hashes(src)
    text = run(capsys, "--input", src, "--output", out, "--workers", 999)
    assert f"Found {3 + val} images" in text and f"Sketch images: {3 + val}" in text
    assert ("holds out 5%" in text) != val and (out / "val").exists() == val
    assert f"more than the {len(os.sched_getaffinity(0))} cores" in text  # --workers capped
    assert text.rstrip().endswith("Status: READY for training")
    for name in ["1", "2", "3"]:
        colour, sketch = (out / "train" / kind / f"{name}.png" for kind in ("colors", "sketches"))
        assert Image.open(colour).size == (SIZE, SIZE) and Image.open(sketch).mode == "RGB"
        assert spread(colour) > 100 and spread(sketch) < 8
    assert hashes(src) == before  # the input untouched, nothing added


def test_odd_inputs_are_skipped_or_converted_one_line_each(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    folder = src / "train"
    write_pairs(folder, ["good1", "good2"])
    good = (folder / "good1.png").read_bytes()
    (folder / "notes.txt").write_text("not an image")
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "corrupt.png").write_bytes(good[:60] + bytes(20) + good[80:])  # the CRC fails
    Image.new("RGB", (48, 48), "red").save(folder / "square.png")
    make_pair(0).resize((2, 1)).save(folder / "tiny.png")  # 2:1, but no picture
    Image.new("1", (6000, 3000)).save(folder / "bomb.png")  # 2 kB of PNG, 18 M pixels
    os.mkfifo(folder / "pipe.png")  # opened, it would wait for a writer forever
    (folder / "folder.png").mkdir()
    os.symlink(folder / "loop.png", folder / "loop.png")
    os.symlink(folder / "nowhere.png", folder / "broken.png")
    pair = make_pair(7)
    rgba = pair.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.repeat([255, 0], 48)[None].repeat(48, 0).astype(np.uint8)))
    rgba.save(folder / "rgba.png")  # the sketch half fully transparent: it must come out white
    palette = pair.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(folder / "palette.png", transparency=palette.getpixel((0, 0)))
    pair.convert("L").save(folder / "grey.png")
    Image.fromarray(np.asarray(pair.convert("L"), np.uint16) * 257).save(folder / "grey16.png")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    before = hashes(src)
    lines = run(capsys, "--input", src, "--output", out).splitlines()
    for name in ["notes.txt", "truncated", "corrupt", "square", "tiny", "bomb", "pipe", "folder"]:
        assert sum(line.startswith("skipped") and name in line for line in lines) == 1, name
    for name, words in [("square", "48x48: not a 2:1"), ("bomb", "large"), ("broken", "broken")]:
        assert any(name in line and words in line for line in lines), name
    for name in ("rgba", "palette", "grey.png", "grey16"):
        assert sum(line.startswith("converted") and name in line for line in lines) == 1, name
    assert "6 written (4 converted), 0 already done, 10 skipped" in "\n".join(lines)  # loop too
    assert hashes(src) == before
    colors, sketches = out / "train/colors", out / "train/sketches"
    names = ["good1", "good2", "grey", "grey16", "palette", "rgba"]
    assert sorted(p.stem for p in sketches.iterdir()) == names
    assert np.asarray(Image.open(sketches / "rgba.png")).min() == 255  # transparent -> white
    grey16, grey = (np.asarray(Image.open(colors / n), int) for n in ["grey16.png", "grey.png"])
    assert np.abs(grey16 - grey).max() <= 1  # 16-bit scaled to 8 bits, not clipped
    assert np.asarray(Image.open(colors / "palette.png"))[0, 0].min() >= 250  # tRNS -> white


def test_a_rerun_skips_finished_pairs_and_completes_an_interrupted_one(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", [f"p{i}" for i in range(5)])
    run(capsys, "--input", src, "--output", out)
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*.png")}
    assert "0 written (0 converted), 5 already done" in run(capsys, "--input", src, "--output", out)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stamps} == stamps
    for name in ("colors/p1.png", "colors/p3.png", "sketches/p4.png"):  # as a killed run leaves
        (out / "train" / name).unlink()
    (out / "train/colors/.x1y2.part").write_bytes(b"half a PNG")
    assert "3 written (0 converted), 2 already done" in run(capsys, "--input", src, "--output", out)
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert files == {p: data for p, (_, data) in stamps.items()}  # no temporary file left


@pytest.mark.parametrize("layout", ["missing", "no train", "empty", "too deep"])
def test_a_missing_dataset_says_how_to_get_it(tmp_path, capsys, layout):
    src = tmp_path / "in"
    folder = {"no train": src, "empty": src / "data/train", "too deep": src / "a/data/train"}
    if layout in folder:
        folder[layout].mkdir(parents=True)
        write_pairs(folder[layout], ["1"] if layout == "too deep" else [])
    err = run(capsys, "--input", src, "--output", tmp_path / "out", code=2)
    assert "Kaggle" in err and "--demo" in err and str(src) in err
    assert (f"--input {src / 'a'}" in err) == (layout == "too deep")


def test_demo_writes_kaggle_pairs_the_same_with_any_workers_and_once(tmp_path, capsys):
    def demo(name, seed, workers=1):
        folders = ["--input", tmp_path / name, "--output", tmp_path / f"{name}_out"]
        text = run(capsys, "--demo", 6, "--seed", seed, *folders, "--workers", workers)
        return text, {p.relative_to(tmp_path / name): h for p, h in hashes(tmp_path / name).items()}

    text, first = demo("a", 0, workers=2)
    assert "Wrote 6 demo pairs (5 train, 1 val)" in text and "Status: READY for training" in text
    assert demo("b", 0)[1] == first  # the same seed: the same bytes, however many workers
    other = demo("c", 1)[1]
    assert other.keys() == first.keys() and all(other[k] != first[k] for k in first)
    pair = np.asarray(Image.open(tmp_path / "a/val/demo_00005.png"), dtype=int)
    assert pair.shape == (512, 1024, 3) and (np.ptp(pair[:, 512:], axis=2) == 0).all()  # grey
    text, again = demo("a", 0)  # the same command again rewrites nothing
    assert "0 written (0 converted), 6 already done" in text and again == first


@pytest.mark.parametrize("there", ["real data", "another demo set", "real pairs out", "a marker"])
def test_demo_never_writes_over_other_data(tmp_path, capsys, there):
    folders = ["--input", tmp_path / "in", "--output", tmp_path / "out"]
    if there == "real data":
        write_pairs(tmp_path / "in/train", ["1"])
    elif there == "another demo set":
        run(capsys, "--demo", 2, "--seed", 1, *folders)
    elif there == "real pairs out":
        write_pairs(tmp_path / "out/train/colors", ["1"])
    else:  # a marker and no pair, as a run stopped at once leaves: that blocks nothing
        (tmp_path / "in/train").mkdir(parents=True)
        (tmp_path / "in/DEMO_SET.txt").write_text("Synthetic pairs written by `... --seed 5`.\n")
        assert "Wrote 2 demo pairs" in run(capsys, "--demo", 2, *folders)
        return
    before = hashes(tmp_path)
    assert "not " in run(capsys, "--demo", 2, *folders, code=2)
    assert hashes(tmp_path) == before


def test_two_inputs_of_one_name_keep_both_pairs_and_a_clash_left_is_named(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "train").mkdir(parents=True)
    for seed, name in enumerate(["a.png", "a.jpg", "b.png"]):
        make_pair(seed).save(src / "train" / name, quality=95)
    assert "3 written" in run(capsys, "--input", src, "--output", out)
    names = sorted(p.name for p in (out / "train/colors").iterdir())
    assert names == ["a_jpg.png", "a_png.png", "b.png"]
    make_pair(0).save(src / "train/a_png.png")  # where a.png now goes
    err = run(capsys, "--input", src, "--output", out, code=2)
    assert "a_png.png" in err and "rename one" in err


def test_pairs_deleted_or_named_too_long_are_skipped(tmp_path, capsys, monkeypatch):
    """At the usual limit of 255 bytes, 246 characters are written, 251 + "_png" are too many."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["x" * 246, "y" * 251, "gone"])
    make_pair(9).save(src / "train" / f"{'y' * 251}.jpg")
    write_pairs(src / "val", ["v"])
    real = prep.process_pair

    def deleting_gone_first(job):  # as another program might, after the listing
        if job[0].stem == "gone":
            job[0].unlink()
        return real(job)

    monkeypatch.setattr(prep, "process_pair", deleting_gone_first)
    text = run(capsys, "--input", src, "--output", out)
    assert "gone.png: was deleted while preprocessing ran" in text
    assert text.count("is too long for the file system") == 2
    assert "2 written (0 converted), 0 already done, 3 skipped" in text
    assert not list(out.rglob(".*"))  # no temporary file left


def test_a_write_failing_in_a_worker_process_is_one_sentence(tmp_path, capsys):
    write_pairs(tmp_path / "in/train", ["a", "b", "c"])
    (tmp_path / "out/train/colors/b.png").mkdir(parents=True)  # a folder where a file must go
    argv = ["--input", tmp_path / "in", "--output", tmp_path / "out", "--workers", 2]
    err = run(capsys, *argv, code=2)
    assert f"could not write {tmp_path / 'out/train/colors/b.png'}" in err and "again" in err


@pytest.mark.parametrize(
    "flag, value",
    [("--seed", "-1"), ("--seed", "4294967296"), ("--seed", "1.5"), ("--size", "16")]
    + [("--size", "1000000000"), ("--demo", "0"), ("--demo", "100001"), ("--workers", "0")],
)
def test_a_flag_out_of_range_is_refused_before_any_work(tmp_path, capsys, flag, value):
    err = run(capsys, "--demo", 2, "--input", tmp_path / "in", flag, value, code=2)
    assert f"argument {flag}: " in err and not (tmp_path / "in").exists()


@pytest.mark.parametrize("output", ["a_file/out", "in", "~/out"])
def test_an_output_refused_or_under_tilde(tmp_path, capsys, monkeypatch, output):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    write_pairs(tmp_path / "in/train", ["a"])
    (tmp_path / "home").mkdir()
    (tmp_path / "a_file").write_text("a file where a folder should be")
    before = hashes(tmp_path / "in")
    if output == "~/out":
        assert "Status: READY" in run(capsys, "--input", "~/../in", "--output", output)
        assert (tmp_path / "home/out/train/colors/a.png").is_file()
        assert not (tmp_path / "~").exists()
    else:
        assert "--output" in run(capsys, "--input", "in", "--output", output, code=2)
    assert hashes(tmp_path / "in") == before


@pytest.mark.slow
def test_a_full_disk_is_one_sentence_even_on_an_ascii_console_and_keeps_finished_pairs(tmp_path):
    def no_file_may_grow():  # in the child: every write fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the signal kills the process

    src, out = tmp_path / "données", tmp_path / "é"
    write_pairs(src / "train", ["a", "b"])
    command = [sys.executable, "preprocess_anime_sketches.py", "--input", src, "--output", out]
    command += ["--size", str(SIZE), "--workers", "1"]
    options = dict(cwd=ROOT, capture_output=True, env=dict(os.environ, PYTHONIOENCODING="ascii"))
    first = subprocess.run(command, **options)
    assert first.returncode == 0 and b"donn\\xe9es" in first.stdout  # escaped, not a traceback
    before = hashes(out)
    write_pairs(src / "train", ["c"], seed=7)
    result = subprocess.run(command, preexec_fn=no_file_may_grow, **options)
    assert result.returncode == 2 and result.stderr.count(b"\n") == 1
    assert b"\\xe9/train/colors/c.png (the disk is full" in result.stderr
    assert hashes(out) == before  # a and b as they were, no c, no temporary file


def swap_folders(split):  # sketches/ <-> colors/: the mistake --verify must catch
    for old, new in [("sketches", "tmp"), ("colors", "sketches"), ("tmp", "colors")]:
        (split / old).rename(split / new)


@pytest.fixture
def made(tmp_path, capsys):  # anime_processed/ made from three pairs, READY
    write_pairs(tmp_path / "in/train", ["a", "b", "c"])
    run(capsys, "--input", tmp_path / "in", "--output", tmp_path / "out")
    return tmp_path / "out"


def test_verify_passes_a_made_set_then_catches_a_swapped_split(made, capsys):
    assert run(capsys, "--output", made, "--verify").rstrip().endswith("Status: READY for training")
    swap_folders(made / "train")
    text = run(capsys, "--output", made, "--verify", code=2)
    assert "look swapped" in text and "Status: NOT READY" in text


def test_verify_names_strays_wrong_sizes_and_entries_that_are_no_image(made, capsys):
    """A folder or a FIFO named x.png is no image: training skips it, reading a FIFO never ends."""
    (made / "train/colors/b.png").unlink()
    Image.new("RGB", (SIZE + 1, SIZE), "white").save(made / "train/sketches/c.png")
    for kind in prep.KINDS:
        (made / "train" / kind / "zz.png").mkdir()
        os.mkfifo(made / "train" / kind / "ff.png")
    text = run(capsys, "--output", made, "--verify", code=2)
    assert "sketches/b.png has no partner" in text and "c.png is RGB 33x32" in text
    for kind in prep.KINDS:
        assert f"{kind}/zz.png is a folder" in text and f"{kind}/ff.png is a named pipe" in text
    assert "train: 2 pairs" in text  # a and c: what training would read


def test_verify_accepts_pale_colours_and_refuses_two_folders_alike(tmp_path, made, capsys):
    write_pairs(tmp_path / "pale/train", ["p1", "p2", "p3"], pale=True)
    text = run(capsys, "--input", tmp_path / "pale", "--output", tmp_path / "pale_out")
    assert "colour spread sketches 0.000, colors 0.02" in text and "Status: READY" in text
    for name in ("a", "b", "c"):  # sketches where the colours should be
        sketch = made / "train/sketches" / f"{name}.png"
        (made / "train/colors" / sketch.name).write_bytes(sketch.read_bytes())
    assert "look alike" in run(capsys, "--output", made, "--verify", code=2)


def test_verify_tells_label_maps_beside_photos_from_a_swapped_anime_set(tmp_path, capsys):
    """Facades pairs (photo LEFT, label map RIGHT, JPEG) split as Kaggle's put saturated label maps
    in sketches/: READY, a label -> photo set; colour pictures beside line art are a swap."""
    rng = np.random.default_rng(0)
    for name in ("facades", "anime"):
        (tmp_path / name / "train").mkdir(parents=True)
    for i in range(3):
        label = np.asarray(draw_facade(random_design(rng), size=128), dtype=float)
        photo = 0.3 * label + 0.7 * np.array([150, 120, 100]) + rng.normal(0, 14, label.shape)
        photo += np.linspace(-25, 25, 128)[:, None, None]  # dull, noisy, lit from above
        pair = np.concatenate([np.clip(photo, 0, 255), label], axis=1).astype(np.uint8)
        Image.fromarray(pair).save(tmp_path / f"facades/train/{i}.jpg", quality=90)
        draw_demo_pair(0, i).save(tmp_path / f"anime/train/{i}.png")
    for name in ("facades", "anime"):
        run(capsys, "--input", tmp_path / name, "--output", tmp_path / f"{name}_out")
    text = run(capsys, "--output", tmp_path / "facades_out", "--verify")
    assert "label maps" in text and "Status: READY" in text
    swap_folders(tmp_path / "anime_out/train")
    text = run(capsys, "--output", tmp_path / "anime_out", "--verify", code=2)
    assert "look swapped" in text and "label maps" not in text
