"""What every script shares (helpers/lesson.py, helpers/figures.py): the weights reader, the flag
checks, the refusal to overwrite an input, the image decoder, figures that draw any file name, and
scripts that speak one sentence on any console, with a bogus MPLBACKEND or a broken torchvision."""

import argparse
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

import download_pretrained
import exercise2_explore
from helpers.figures import drawable, save_grid
from helpers.lesson import ROOT, LessonError, at_least, open_image, path_arg
from helpers.lesson import choose_device, read_weights, refuse_overwrite, seed_number

SCRIPTS = ["exercise1_observe.py", "exercise2_explore.py", "exercise3_train.py"]
SCRIPTS += ["colorize_sketch.py", "preprocess_anime_sketches.py", "download_pretrained.py"]
SCRIPTS += ["facade_painter.py", "challenges/check.py", "benchmark/bench.py"]


def refusal(path):
    with pytest.raises(LessonError) as exc:
        read_weights(path, "weights", "pass another file")
    return str(exc.value)


def write(path, obj):
    torch.save(obj, path)
    return path


def compressed(path):
    """A 4 MB tensor of zeros in a deflated zip: a small file that unpacks to gigabytes, scaled."""
    stored = write(path.with_suffix(".stored"), {"w": torch.zeros(2**20)})
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            dst.writestr(entry.filename, src.read(entry))
    return path


class Code:
    def __reduce__(self):
        return (os.system, ("true",))


BAD_WEIGHTS = {
    "a folder": (lambda p: p.parent, "is a folder"),
    "missing": (lambda p: p, "does not exist"),
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "empty or cut short"),
    "junk": (lambda p: (p.write_bytes(b"<html>no weights</html>"), p)[1], "not a PyTorch weights"),
    "code": (lambda p: write(p, {"a": Code()}), "could run code"),
    "nan": (lambda p: write(p, {"n": {"b": torch.tensor([1.0, float("nan")])}}), "NaN or inf"),
    "inf": (lambda p: write(p, [torch.tensor([float("inf")])]), "NaN or infinite"),
    "compressed": (compressed, "compressed entries"),
}
if hasattr(os, "mkfifo"):  # torch.load would wait for a writer forever
    BAD_WEIGHTS["a FIFO"] = (lambda p: (os.mkfifo(p), p)[1], "named pipe (FIFO)")


@pytest.mark.parametrize("kind", BAD_WEIGHTS)
def test_weights_are_refused_in_one_sentence(tmp_path, kind):
    make, words = BAD_WEIGHTS[kind]
    message = refusal(make(tmp_path / "w.pth"))
    assert words in message and message.endswith("; pass another file.")


def test_plain_numbers_and_integers_are_not_weights(tmp_path):
    path = write(tmp_path / "w.pth", {"steps": torch.tensor([3]), "history": [float("nan")]})
    assert read_weights(path)["steps"].item() == 3


@pytest.mark.parametrize(
    "kind, text, words",
    [
        (at_least(1), "0", "at least 1"),
        (at_least(0), "1.5", "not a whole number"),
        (at_least(0.0, float), "inf", "at least 0"),
        (at_least(0.0, float, below=1.0), "1", "below 1"),
        (at_least(0.0, float, below=1.0), "nan", "below 1"),
        (at_least(0.0, float, exclusive=True), "0", "above 0"),
        (at_least(0.0, float, exclusive=True), "inf", "above 0"),
        (seed_number, str(2**32), "below 4294967296"),
        (path_arg, "", "empty"),
    ],
)
def test_a_bad_number_or_path_is_one_sentence(kind, text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        kind(text)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_device_pytorch_cannot_see_is_one_sentence():
    with pytest.raises(LessonError, match="sees no cuda device; use auto or cpu"):
        choose_device("cuda")
    assert choose_device("auto") == choose_device("cpu") or torch.backends.mps.is_available()


def test_good_values_pass_and_a_quoted_tilde_is_home():
    assert at_least(0.0, float, below=1.0)("0.5") == 0.5 and seed_number(str(2**32 - 1)) > 0
    assert path_arg("~/run") == Path.home() / "run"


@pytest.mark.parametrize(
    "output, words",
    [
        ("label.png", "inputs"),
        ("./sub/../label.png", "inputs"),
        ("run/generator_weights.pth", "weights file"),
        (ROOT / "sample_facades" / "base" / "new.png", "sample_facades"),
    ],
)
def test_an_output_never_replaces_an_input(tmp_path, monkeypatch, output, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "label.png").write_bytes(b"mine")
    with pytest.raises(LessonError, match=words):
        refuse_overwrite(output, [tmp_path / "label.png"], "--grid")
    refuse_overwrite("grid.png", [tmp_path / "label.png"], "--grid")  # a new name is fine


def test_images_are_read_as_their_exif_orientation_shows_them(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # blue on the left as stored
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    image.save(tmp_path / "phone.jpg", exif=exif)
    shown = open_image(tmp_path / "phone.jpg")
    assert shown.size == (20, 40) and shown.getpixel((10, 2))[2] > 200  # blue on top


def test_figures_draw_any_file_name_without_warnings(tmp_path):
    assert drawable("城市 🏠 façade $x$") == r"\u57ce\u5e02 \U0001f3e0 façade \$x\$"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Glyph missing" is a UserWarning
        save_grid(tmp_path / "g.png", [[torch.zeros(3, 8, 8)]], ["城"], title="🏠.png")
    assert (tmp_path / "g.png").stat().st_size > 0


def refused(capsys, main, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "main, argv, words",
    [
        (exercise2_explore.main, ["--seed", "-1"], "--seed: must be at least 0"),
        (exercise2_explore.main, ["--seed", str(2**63)], "--seed: must be at least 0 and below"),
        (exercise2_explore.main, ["--design", '{"floors": 3.5}'], "floors must be a whole"),
        (exercise2_explore.main, ["--design", '{"seed": -1}'], "seed must be between"),
        (exercise2_explore.main, ["--design", '{"shop_front": "yes"}'], "true or false"),
        (exercise2_explore.main, ["--design", '{"window_width": NaN}'], "between 0 and 1"),
        (exercise2_explore.main, ["--design", "[3]"], "JSON object"),
        (download_pretrained.main, ["--retries", "-1"], "--retries: must be at least 0"),
        (download_pretrained.main, ["--timeout", "nan"], "--timeout"),
        (download_pretrained.main, ["--num-samples", "0"], "--num-samples: must be at least 1"),
        (download_pretrained.main, ["--url", "ftp://example.org/w.pth"], "http://"),
    ],
)
def test_flags_are_refused_before_any_work(tmp_path, capsys, main, argv, words):
    argv += [
        "--output-dir" if main is exercise2_explore.main else "--checkpoint-dir",
        str(tmp_path),
    ]
    assert words in refused(capsys, main, argv)
    assert not list(tmp_path.iterdir())  # nothing made, fetched or written


def run(argv, tmp_path, **env):
    result = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.slow  # a Python with torch per script
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_speaks_on_an_ascii_console(tmp_path, script):
    result = run([script, "--help"], tmp_path, PYTHONIOENCODING="ascii")
    assert result.returncode == 0 and "usage:" in result.stdout


@pytest.mark.slow
def test_a_non_ascii_path_is_printed_escaped(tmp_path):
    label = tmp_path / "étage_城.png"
    argv = ["exercise1_observe.py", "--labels", str(label), "--output", str(tmp_path / "o.png")]
    result = run(argv, tmp_path, PYTHONIOENCODING="ascii")
    assert result.returncode == 2 and "\\xe9tage_\\u57ce" in result.stdout + result.stderr


@pytest.mark.slow
def test_a_bogus_mplbackend_is_named(tmp_path):
    result = run(["exercise1_observe.py", "--help"], tmp_path, MPLBACKEND="bogus")
    assert result.returncode == 2 and "MPLBACKEND=bogus" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


BROKEN = {
    "mismatch": ('raise RuntimeError("operator torchvision::nms does not exist")', "does not fit"),
    "missing": ("raise ModuleNotFoundError(\"No module named 'torchvision'\")", "not installed"),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, kind", [(s, "mismatch") for s in SCRIPTS] + [("exercise3_train.py", "missing")]
)
def test_a_broken_torchvision_is_one_sentence_with_the_fix(tmp_path, script, kind):
    """A torchvision built for another torch (what a CPU-only torch from one index and torchvision
    from another give) dies at import with an error naming neither package nor the fix."""
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text(BROKEN[kind][0] + "\n")
    result = run([script, "--help"], tmp_path, PYTHONPATH=str(tmp_path))
    if result.returncode != 0:  # scripts that never import torchvision just work
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
        assert BROKEN[kind][1] in result.stderr and "pip install" in result.stderr
