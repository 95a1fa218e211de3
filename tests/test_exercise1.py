"""Exercise 1 end to end: the grid of the shipped labels, your own generator's row beside the
authors', facades pairs, odd label files, refused weights and outputs, --fast, the README's quick
start. The checkpoint has RANDOM weights in the official layout: its pictures are noise."""

import os
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import exercise1_observe
from facades_generator import SAMPLE_LABELS_DIR as SAMPLES
from facades_generator import AUTHORS, load_label, open_generator
from helpers.lesson import ROOT, image_to_tensor
from pix2pix_models import UNetGenerator, translate
from tests.exercise1_support import photo_like, refused, run, write_exercise3_weights
from tests.exercise1_support import write_facades_pairs

LABEL = SAMPLES / "narrow_house.png"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_facades_pairs(tmp_path_factory.mktemp("facades") / "val")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a relative --output goes


def test_default_run_draws_four_samples_with_the_exact_network(
    checkpoint, tmp_path, capsys, grid_spy, monkeypatch
):
    nets = []

    def keep_net(*args, **kwargs):  # the real loader; its network checks the bottom row
        nets.append(open_generator(*args, **kwargs)[0])
        return nets[-1], AUTHORS, 256

    monkeypatch.setattr(exercise1_observe, "open_generator", keep_net)
    output = tmp_path / "out" / "exercise1_output.png"
    out = run(["--checkpoint", checkpoint, "--output", output, "--device", "cpu"], capsys).out
    assert "cpu, exact fp32" in out and f"wrote {output.resolve()}" in out
    with Image.open(output) as png:  # four columns of two rows, big enough to see facades
        assert png.format == "PNG" and 800 <= png.width <= 1400 and 400 <= png.height <= 700
    [grid] = grid_spy
    labels, fakes = (torch.stack(row) for row in grid["rows"])
    assert grid["row_titles"] == ["label (input)", "authors' model"]
    names = sorted(p.stem for p in SAMPLES.glob("*.png"))  # spread: the first and last among them
    assert grid["col_titles"] == [names[0], names[4], names[7], names[11]]
    for name, label in zip(grid["col_titles"], labels, strict=True):
        assert torch.equal(label, load_label(SAMPLES / f"{name}.png"))
    # The plain fp32 UNetGenerator made the bottom row (per-image statistics: one column suffices).
    assert type(nets[0]) is UNetGenerator and nets[0].down1[0].weight.dtype == torch.float32
    assert torch.allclose(fakes[-1:], translate(nets[0], labels[-1:]), atol=1e-4)
    assert not torch.allclose(fakes[0], fakes[-1], atol=1e-2)


def test_your_model_gets_a_row_beside_the_authors_and_the_real_photos(
    checkpoint, random_generator, reuse_net, pairs, tmp_path, capsys, grid_spy
):
    # trained at --image-size 512: it translates the labels at 512
    weights = tmp_path / "facades_run" / "generator_weights.pth"
    ours = write_exercise3_weights(weights, epoch=3, image_size=512)
    argv = ["--checkpoint", checkpoint, ours, "--labels", pairs[0].parent, "--output", "both.png"]
    out = run([*argv, "--device", "cpu"], capsys).out
    assert "your model (epoch 3): loaded and translated 3 labels" in out
    [grid] = grid_spy
    assert grid["row_titles"] == [
        "label (input)",
        f"authors' model\n{checkpoint.parent.name}/",
        "your model (epoch 3)\nfacades_run/",
        "real photo (target)",
    ]
    labels, authors, yours, photos = (torch.stack(row) for row in grid["rows"])
    assert yours.shape == (3, 3, 512, 512)
    for path, label, photo in zip(pairs, labels, photos, strict=True):  # right half, left half
        with Image.open(path) as pair:
            assert (label == load_label(pair.crop((256, 0, 512, 256)))).all(0).float().mean() > 0.95
            assert torch.equal(photo, image_to_tensor(pair.crop((0, 0, 256, 256))))
    assert torch.allclose(authors[-1:], translate(random_generator(), labels[-1:]), atol=1e-4)
    at_512 = F.interpolate(labels, size=(512, 512), mode="nearest")
    assert torch.allclose(yours, translate(open_generator(ours)[0], at_512), atol=1e-5)


def test_labels_of_any_kind_and_name_are_drawn(
    checkpoint, reuse_net, pairs, tmp_path, capsys, grid_spy
):
    wide = Image.new("RGB", (512, 256))  # 2:1 like a facades pair, but a label on both sides
    wide.paste(Image.open(SAMPLES / "townhouse_4_floors.png").convert("RGB"), (0, 0))
    wide.paste(Image.open(LABEL).convert("RGB"), (256, 0))
    wide.save(tmp_path / "wide.png")
    Image.open(LABEL).convert("RGB").save(tmp_path / "jpeg.jpg", quality=80)
    Image.fromarray(photo_like()).save(tmp_path / "photo.jpg")
    odd_name = tmp_path / (os.fsdecode(b"fa\xe7ade") + ".png")  # not UTF-8: legal on Linux
    odd_name.write_bytes(LABEL.read_bytes())
    files = [tmp_path / name for name in ("wide.png", "jpeg.jpg", "photo.jpg")] + [odd_name]
    out = run(["--labels", LABEL, pairs[0], *files, "--checkpoint", checkpoint], capsys).out
    assert "1.jpg: a facades pair" in out and "wide.png: a facades pair" not in out
    [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "photo.jpg does not look like a label map" in warning
    [grid] = grid_spy
    assert grid["col_titles"] == ["narrow_house", "1", "wide", "jpeg", "photo", "fa\ufffdade"]
    assert grid["captions"][0][:3] == ["", "right half of a pair", "resized from 512x256"]
    drawn, _, wide_label, jpeg, _, odd = grid["rows"][0]
    assert torch.equal(wide_label, load_label(wide)) and grid["rows"][2][2] is None  # no photo
    assert (jpeg == drawn).all(dim=0).float().mean() > 0.95 and torch.equal(odd, drawn)


@pytest.mark.skipif(sys.platform != "linux", reason="named pipes and /dev/zero as on Linux")
@pytest.mark.parametrize(
    "name, make, words",
    [
        ("notes.txt", lambda path: path.write_text("not an image"), "not an image"),
        ("missing.png", None, "does not exist"),
        ("pipe.png", os.mkfifo, "named pipe"),  # read, it would wait for a writer forever
        ("loop.png", lambda path: path.symlink_to(path), "symbolic link loop"),
        ("gone.png", lambda path: path.symlink_to(path.parent / "x"), "broken symbolic link"),
        ("/dev/zero", None, "a device"),
    ],
)
def test_an_unreadable_label_is_skipped_with_one_sentence(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy, name, make, words
):
    odd = tmp_path / name
    if make:
        make(odd)
    out = run(["--labels", odd, LABEL, "--checkpoint", checkpoint, "--output", "g.png"], capsys)
    [skipped] = [line for line in out.out.splitlines() if line.startswith("skipping")]
    assert str(odd) in skipped and words in skipped
    assert grid_spy[0]["col_titles"] == ["narrow_house"]


def test_no_usable_labels_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args = ["--labels", tmp_path / "empty", "--output", tmp_path / "o.png"]
    assert "no usable label images" in refused(exercise1_observe.main, args, capsys)


# The reader's own refusals (NaN, a FIFO, code in the pickle) are tests/test_lesson.py's.
@pytest.mark.parametrize(
    "saved, words",
    [
        (None, ["no pretrained weights", "download_pretrained.py", "docs/downloads.rst"]),
        ("<html>404</html>", ["is not a PyTorch weights file", "pass a generator's weights file"]),
        (
            {"format_version": 1, "net_G": {}},
            ["exercise3_train.py's checkpoint", "pass generator_"],
        ),
    ],
    ids=["missing", "html", "ex3 checkpoint"],
)
def test_weights_it_cannot_run_are_refused_in_one_sentence(tmp_path, capsys, saved, words):
    weights = tmp_path / "weights.pth"
    if isinstance(saved, str):
        weights.write_text(saved)
    elif saved is not None:
        torch.save(saved, weights)
    args = ["--checkpoint", weights, "--output", tmp_path / "o.png"]
    err = refused(exercise1_observe.main, args, capsys)
    assert str(weights) in err and all(word in err for word in words), err
    assert "delete it" not in err  # a file the user named is theirs to keep
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    "output, words",
    [
        ("grid.gif", "does not end in a figure format"),
        ("grid.png.txt", "does not end in a figure format"),
        ("a_file/grid.png", "cannot write"),
        ("my_label.png", "my_label.png"),  # the label it reads
        ("run/generator_weights.pth", "generator_weights.pth"),
        (SAMPLES / "shop_street.png", "shop_street.png"),
    ],
)
def test_an_output_that_would_replace_or_fail_is_refused_before_any_work(
    tmp_path, capsys, output, words
):
    (tmp_path / "a_file").write_text("a file, not a folder")
    (tmp_path / "my_label.png").write_bytes(LABEL.read_bytes())
    before = {p: p.read_bytes() for p in [tmp_path / "my_label.png", *SAMPLES.iterdir()]}
    args = ["--labels", "my_label.png", "--output", output, "--checkpoint", "never_read.pth"]
    err = refused(exercise1_observe.main, args, capsys)
    assert words in err and "no pretrained weights" not in err  # refused before reading weights
    assert before == {p: p.read_bytes() for p in before}


@pytest.mark.parametrize(
    "output, flags, magic, about",
    [("g.jpg", [], b"\xff\xd8", ".pth)"), ("g.pdf", ["--dropout"], b"%PDF", ".pth, dropout on)")],
)
def test_the_grid_is_written_as_named_and_its_title_says_the_weights_and_dropout(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy, output, flags, magic, about
):
    run(["--labels", LABEL, "--checkpoint", checkpoint, "--output", output, *flags], capsys)
    assert (tmp_path / output).read_bytes().startswith(magic)
    assert grid_spy[0]["title"] == f"Exercise 1: facade labels -> pix2pix ({checkpoint.stem}{about}"


def test_fast_runs_a_faster_copy_close_to_the_exact_network(
    checkpoint, random_generator, reuse_net, tmp_path, capsys, grid_spy
):
    import speed

    args = ["--labels", LABEL, "--checkpoint", checkpoint, "--output", tmp_path / "fast.png"]
    out = run([*args, "--device", "cpu", "--fast"], capsys).out
    assert "cpu, --fast" in out and "fast inference on cpu" in out
    [grid] = grid_spy
    label, fake = grid["rows"][0][0], grid["rows"][1][0]
    exact = translate(random_generator(), label[None])[0]
    bf16 = speed.inference_dtype("cpu") != torch.float32  # bf16: 8 bits of mantissa
    assert (fake - exact).abs().max() < (0.05 if bf16 else 1e-4)
    assert random_generator().down1[0].weight.dtype == torch.float32  # left as it was


@pytest.mark.slow
def test_the_exercises_leave_process_wide_settings_alone():
    """Without --fast the speed layer is not even imported: no allocator, cuDNN or TF32 change."""
    code = (
        "import sys, torch\n"
        "import exercise1_observe, exercise2_explore, colorize_sketch, facades_generator\n"
        "exercise1_observe.parse_args([])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'speed'], 'speed imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_readme_quick_start_runs_verbatim(checkpoint, tmp_path, monkeypatch):
    """The Python block of README's quick start, run as written, in a folder laid out like ROOT."""
    readme = (ROOT / "README.rst").read_text()
    section = readme.split(".. SECTION: quick-start", 1)[1].split(".. SECTION:", 1)[0]
    [block] = re.findall(r"\.\. code-block:: python\n\n((?:(?: {3}.*)?\n)+)", section)
    code = "\n".join(line[3:] for line in block.splitlines())
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "facades_generator.pth").symlink_to(checkpoint)
    (tmp_path / "sample_facades").symlink_to(ROOT / "sample_facades")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["quick_start"])
    exec(compile(code, "README.rst quick start", "exec"), {"__name__": "__main__"})
    [written] = re.findall(r"""save\(["']([^"']+\.png)["']\)""", code)[-1:]
    with Image.open(tmp_path / written) as png:
        assert png.size == (256, 256) and png.mode == "RGB"


def test_the_facades_route_of_docs_training_from_pairs_to_exercise1(tmp_path, capsys, grid_spy):
    """docs/training.rst's facades route: pairs preprocessed, found READY, trained on for one tiny
    epoch, and that run's generator_weights.pth gets its row in Exercise 1."""
    import exercise3_train
    import preprocess_anime_sketches

    for split, count in (("train", 4), ("val", 2)):
        write_facades_pairs(tmp_path / "facades" / split, count, seed=count)
    preprocess_anime_sketches.main(["--input", "facades", "--output", "processed"])
    preprocess_anime_sketches.main(["--output", "processed", "--verify"])
    assert "label -> photo" in capsys.readouterr().out
    tiny = ["--epochs", "1", "--ngf", "8", "--ndf", "8", "--val-images", "2", "--device", "cpu"]
    exercise3_train.main(["--data", "processed", "--quick", *tiny, "--output-dir", "run"])
    weights = tmp_path / "run" / "generator_weights.pth"
    run(["--checkpoint", weights, "--labels", "facades/val", "--output", "ex1.png"], capsys)
    [grid] = grid_spy
    assert grid["row_titles"] == ["label (input)", "your model (epoch 1)", "real photo (target)"]
    labels, yours, _ = (torch.stack(row) for row in grid["rows"])
    assert torch.allclose(yours, translate(open_generator(weights)[0], labels), atol=1e-5)
