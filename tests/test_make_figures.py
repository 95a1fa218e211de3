"""docs/make_figures.py draws the concept diagrams from facts it measures on the real networks."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from docs import make_figures
from facades_generator import PALETTE
from helpers.lesson import ROOT

FIGURES = ROOT / "docs" / "figures"


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, make_figures.main(["--output-dir", str(out)])


def test_every_figure_is_written_at_the_size_of_the_committed_one(drawn):
    out, result = drawn
    names = sorted(path.name for path in out.iterdir())  # and no temporary file left behind
    assert names == sorted(path.name for path in result["files"])
    assert names == ["conditional_vs_unconditional.png", "palette.png", "patchgan.png", "unet.png"]
    for name in names:
        with Image.open(out / name) as new, Image.open(FIGURES / name) as old:
            assert new.size == old.size, name


def test_the_palette_chart_shows_the_palette(drawn):
    for chart in (Image.open(drawn[0] / "palette.png"), Image.open(FIGURES / "palette.png")):
        swatch, rgb = chart.height // len(PALETTE), chart.convert("RGB")
        centres = [rgb.getpixel((1.5 * swatch, (i + 0.5) * swatch)) for i in range(len(PALETTE))]
        assert np.array_equal(np.array(centres), PALETTE)


def test_unet_shapes_are_those_of_unet_256(drawn):
    shapes = drawn[1]["unet"]
    assert shapes["down1"] == ((3, 256, 256), (64, 128, 128))
    encoder = [shapes[f"down{k}"][1] for k in range(2, 9)]
    assert encoder[:3] == [(128, 64, 64), (256, 32, 32), (512, 16, 16)]
    assert encoder[3:] == [(512, 8, 8), (512, 4, 4), (512, 2, 2), (512, 1, 1)]
    assert shapes["up1"] == ((512, 1, 1), (512, 2, 2))  # the bottleneck alone: no skip there
    assert shapes["up2"][0] == (1024, 2, 2)  # cat([d7, u1])
    assert shapes["up7"] == ((256, 64, 64), (64, 128, 128))
    assert shapes["final"] == ((128, 128, 128), (3, 256, 256))


def test_patchgan_output_is_30x30_and_each_logit_sees_70x70(drawn):
    facts = drawn[1]["patchgan"]
    assert facts["input"] == (6, 256, 256)
    strided = [(64, 128, 128), (128, 64, 64), (256, 32, 32)]
    assert facts["conv_shapes"] == strided + [(512, 31, 31), (1, 30, 30)]
    assert facts["output"] == (1, 30, 30) and facts["field"] == (70, 70)
    # Three stride-2 layers: neighbouring logits look 8 pixels apart; padding shifts the grid by 23.
    row, col = make_figures.PROBE_LOGIT
    assert facts["box"][:2] == (8 * row - 23, 8 * col - 23)


def test_receptive_field_shrinks_at_the_border():
    facts = make_figures.patchgan_facts(row=0, col=0)
    assert facts["box"][:2] == (0, 0)
    assert facts["field"] == (70 - 23, 70 - 23)  # the rest of the 70x70 window is zero padding


@pytest.mark.slow  # the variable is read as matplotlib loads: a fresh process
def test_a_bogus_mplbackend_is_named_in_one_sentence(tmp_path):
    command = [sys.executable, "docs/make_figures.py", "--output-dir", str(tmp_path)]
    env = os.environ | {"MPLBACKEND": "bogus"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "MPLBACKEND=bogus" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []
