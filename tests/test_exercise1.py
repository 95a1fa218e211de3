"""Exercise 1 end to end, and the README quick start verbatim.

The checkpoint here is a RANDOM-weight file in the official layout (tests/official_reference.py):
it exercises the real loading path and the real script, and its pictures are noise, not results.
It must be full size (ngf=64): create_facades_generator only accepts the real architecture.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import exercise1_observe
import facades_generator
from facades_generator import create_facades_generator, load_label
from helpers.facade_labels import SAMPLE_LABELS_DIR as SAMPLES
from helpers.lesson import ROOT
from helpers.lesson import image_to_tensor
from pix2pix_models import UNetGenerator, translate
from tests.exercise1_support import photo_like, run


def test_default_run_writes_the_grid_of_four_sample_translations(
    checkpoint, tmp_path, capsys, grid_spy, monkeypatch
):
    nets = []

    def keep_net(*args, **kwargs):  # the real loader; we keep its net to check the bottom row
        nets.append(create_facades_generator(*args, **kwargs))
        return nets[-1]

    monkeypatch.setattr(facades_generator, "create_facades_generator", keep_net)
    output = tmp_path / "out" / "exercise1_output.png"
    out = run(["--checkpoint", checkpoint, "--output", output, "--device", "cpu"], capsys)

    assert "device:     cpu, exact fp32 (the official network)" in out.out
    assert f"wrote {output.resolve()}" in out.out
    with Image.open(output) as png:  # four columns of two rows: wide, and big enough to see faces
        assert png.format == "PNG" and 800 <= png.width <= 1400 and 400 <= png.height <= 700
    [grid] = grid_spy
    labels, fakes = (torch.stack(row) for row in grid["rows"])
    assert grid["row_titles"] == ["label (input)", "authors' model"]
    # Four of the 12 samples, spread over the sorted list: the first and the last are among them.
    names = sorted(p.stem for p in SAMPLES.glob("*.png"))
    assert grid["col_titles"] == [names[0], names[4], names[7], names[11]]
    for name, label in zip(grid["col_titles"], labels, strict=True):  # the files' labels, in order
        assert torch.equal(label, load_label(SAMPLES / f"{name}.png"))
    # The bottom row is the exact official network's output for the label above it (checked on the
    # last column alone: with per-image statistics an image's output does not depend on its batch),
    # and the network the script used is the plain fp32 UNetGenerator, nothing swapped in.
    assert type(nets[0]) is UNetGenerator
    assert {p.dtype for p in nets[0].parameters()} == {torch.float32}
    assert torch.allclose(fakes[-1:], translate(nets[0], labels[-1:]), atol=1e-4)
    assert not torch.allclose(fakes[0], fakes[-1], atol=1e-2)  # different labels, different outputs
    assert fakes.shape == (4, 3, 256, 256) and fakes.abs().max() <= 1.0


def test_missing_weights_message(tmp_path, capsys):
    output = tmp_path / "exercise1_output.png"
    with pytest.raises(SystemExit) as exit_info:
        exercise1_observe.main(
            ["--checkpoint", str(tmp_path / "facades_generator.pth"), "--output", str(output)]
        )
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert (
        "python download_pretrained.py" in captured.err and "facades_generator.pth" in captured.err
    )
    # the page with the route and the URL
    assert "offline, follow docs/downloads.rst" in captured.err
    assert captured.err.count("\n") == 1 and captured.err.endswith(".\n")  # one sentence
    assert "Traceback" not in captured.err + captured.out
    assert not output.exists()


def test_corrupt_weights_exit_2(tmp_path, capsys):
    bad = tmp_path / "facades_generator.pth"
    bad.write_text("<html>404 Not Found</html>")
    with pytest.raises(SystemExit) as exit_info:
        exercise1_observe.main(["--checkpoint", str(bad), "--output", str(tmp_path / "o.png")])
    assert exit_info.value.code == 2
    assert "download_pretrained.py" in capsys.readouterr().err


def test_mixed_label_files_skip_the_unreadable_ones(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy
):
    rgb = np.asarray(Image.open(SAMPLES / "shop_street.png").convert("RGB"))
    Image.fromarray(rgb).save(tmp_path / "drawing.png")
    Image.fromarray(rgb).save(tmp_path / "cmp_like.jpg", quality=80)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, :64, 3] = 0  # a transparent strip, as a paint program may leave
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "with_alpha.png")
    (tmp_path / "notes.txt").write_text("not an image")
    output = tmp_path / "grid.png"
    out = run(
        [
            "--labels",
            tmp_path / "drawing.png",
            tmp_path / "cmp_like.jpg",
            tmp_path / "notes.txt",
            tmp_path / "with_alpha.png",
            tmp_path / "missing.png",
            "--checkpoint",
            checkpoint,
            "--output",
            output,
            "--device",
            "cpu",
        ],
        capsys,
    )

    skipped = [line for line in out.out.splitlines() if line.startswith("skipping")]
    assert len(skipped) == 2 and "notes.txt" in skipped[0] and "missing.png" in skipped[1]
    assert output.is_file()
    [grid] = grid_spy
    assert grid["col_titles"] == ["drawing", "cmp_like", "with_alpha"]
    drawing, jpeg, alpha = grid["rows"][0]
    # JPEG noise snapped back to the classes
    assert (jpeg == drawing).all(dim=0).float().mean() > 0.95
    assert torch.equal(alpha[:, :, 64:], drawing[:, :, 64:])


def test_facades_pair_uses_its_right_half_and_shows_the_photo(
    checkpoint, reuse_net, tmp_path, capsys, grid_spy
):
    label = Image.open(SAMPLES / "townhouse_4_floors.png").convert("RGB")
    pair = Image.new("RGB", (512, 256))
    pair.paste(Image.fromarray(photo_like()), (0, 0))
    pair.paste(label, (256, 0))
    pair.save(tmp_path / "pair_0001.jpg", quality=90)  # like the pix2pix facades set: photo | label
    wide = Image.new("RGB", (512, 256))  # 2:1 as well, but a label on both sides: not a pair
    wide.paste(label, (0, 0))
    wide.paste(Image.open(SAMPLES / "narrow_house.png").convert("RGB"), (256, 0))
    wide.save(tmp_path / "wide_label.png")
    output = tmp_path / "pair.png"
    out = run(
        [
            "--labels",
            tmp_path / "pair_0001.jpg",
            tmp_path / "wide_label.png",
            "--checkpoint",
            checkpoint,
            "--output",
            output,
            "--device",
            "cpu",
        ],
        capsys,
    )

    assert (
        "pair_0001.jpg: a facades pair" in out.out
        and "wide_label.png: a facades pair" not in out.out
    )
    [grid] = grid_spy
    assert grid["row_titles"] == ["label (input)", "authors' model", "real photo (target)"]
    (pair_label, wide_label), _, (photo, blank) = grid["rows"]
    assert (pair_label == load_label(label)).all(dim=0).float().mean() > 0.95
    assert torch.equal(wide_label, load_label(wide))  # squeezed to 256x256, not split
    with Image.open(tmp_path / "pair_0001.jpg") as decoded:
        assert torch.equal(photo, image_to_tensor(decoded.crop((0, 0, 256, 256))))
    assert blank is None  # an empty cell: that label has no photo
    assert grid["captions"][0] == ["right half of a pair", "resized from 512x256"]
    assert output.is_file()


def test_unwritable_output_is_one_sentence(checkpoint, reuse_net, tmp_path, capsys):
    (tmp_path / "a_file").write_text("a file, not a folder")
    output = tmp_path / "a_file" / "grid.png"
    with pytest.raises(SystemExit) as exit_info:
        run(
            [
                "--labels",
                SAMPLES / "narrow_house.png",
                "--checkpoint",
                checkpoint,
                "--output",
                output,
            ],
            capsys,
        )
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"cannot write {output}" in err and "Traceback" not in err
    assert "loaded in" not in capsys.readouterr().out  # refused before any work


def test_no_usable_labels_exit_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        exercise1_observe.main(
            [
                "--labels",
                str(tmp_path / "notes.txt"),
                str(tmp_path / "empty"),
                "--output",
                str(tmp_path / "o.png"),
            ]
        )
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and "no usable label images" in captured.err
    assert "notes.txt" in captured.out and "no images" in captured.out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_unavailable_device_is_one_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        exercise1_observe.main(["--device", "cuda", "--output", str(tmp_path / "o.png")])
    assert exit_info.value.code == 2 and "no CUDA GPU" in capsys.readouterr().err


def test_readme_quick_start_runs_verbatim(checkpoint, tmp_path, monkeypatch):
    """The Python block of README's quick start, run as written, in a folder laid out like ROOT."""
    readme = (ROOT / "README.rst").read_text()
    section = readme.split(".. SECTION: quick-start", 1)[1].split(".. SECTION:", 1)[0]
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?: {3}.*)?\n)+)", section)
    assert len(blocks) == 1, "the quick start should hold exactly one Python code block"
    code = "\n".join(line[3:] for line in blocks[0].splitlines())
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "facades_generator.pth").symlink_to(checkpoint)
    (tmp_path / "sample_facades").symlink_to(ROOT / "sample_facades")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["quick_start"])
    exec(compile(code, "README.rst quick start", "exec"), {"__name__": "__main__"})
    written = re.findall(r"""save\(["']([^"']+\.png)["']\)""", code)
    assert written, "the quick start should save its result as a PNG"
    with Image.open(tmp_path / written[-1]) as png:
        assert png.size == (256, 256) and png.mode == "RGB"


def test_fast_flag_runs_a_faster_copy_close_to_the_exact_network(
    checkpoint, random_generator, reuse_net, tmp_path, capsys, grid_spy
):
    """--fast prints what it switched on and stays within its precision's accuracy of the exact
    network; the exact network itself is left as it was (fp32, its own modules)."""
    import speed

    dtype = speed.inference_dtype("cpu")
    out = run(
        [
            "--labels",
            SAMPLES / "narrow_house.png",
            "--checkpoint",
            checkpoint,
            "--output",
            tmp_path / "fast.png",
            "--device",
            "cpu",
            "--fast",
        ],
        capsys,
    )
    assert "device:     cpu, --fast" in out.out and "fast inference on cpu: weights" in out.out
    [grid] = grid_spy
    label, fake = grid["rows"][0][0], grid["rows"][1][0]
    loaded_net = random_generator()
    exact = translate(loaded_net, label[None])[0]
    # bf16: 8 bits of mantissa
    assert (fake - exact).abs().max() < (1e-4 if dtype == torch.float32 else 0.05)
    assert {p.dtype for p in loaded_net.parameters()} == {torch.float32} and type(
        loaded_net
    ) is UNetGenerator


def test_the_exercises_leave_process_wide_settings_alone():
    """Without --fast nothing of the speed layer is even imported: no allocator, cuDNN or TF32
    change."""
    code = (
        "import sys, torch\n"
        "import exercise1_observe, exercise2_explore, facade_painter, facades_generator\n"
        "before = torch.backends.cudnn.benchmark\n"
        "exercise1_observe.parse_args([])\n"
        "speed = [m for m in sys.modules if m == 'speed' or m.startswith('speed.')]\n"
        "assert not speed, 'speed imported'\n"
        "assert torch.backends.cudnn.benchmark == before"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
