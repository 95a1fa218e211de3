"""A broken install is one sentence with the fix: a torchvision built for another torch (what a
CPU-only torch from one index and torchvision from another give) dies at import with "operator
torchvision::nms does not exist", which names neither the package nor the fix."""

import os
import subprocess
import sys

import pytest

from helpers.lesson import ROOT

BROKEN = {
    "mismatch": 'raise RuntimeError("operator torchvision::nms does not exist")',
    "missing": "raise ModuleNotFoundError(\"No module named 'torchvision'\")",
}


@pytest.mark.parametrize("kind", BROKEN)
def test_exercise3_names_a_broken_torchvision_and_the_fix(tmp_path, kind):
    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text(BROKEN[kind] + "\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))  # this torchvision is found first
    result = subprocess.run(
        [sys.executable, "exercise3_train.py", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if kind == "mismatch":
        assert (
            "does not fit torch" in result.stderr
            and "--force-reinstall torch torchvision" in result.stderr
        )
    else:
        assert (
            "torchvision is not installed" in result.stderr and "requirements.txt" in result.stderr
        )


SCRIPTS = [
    "exercise1_observe.py",
    "exercise2_explore.py",
    "colorize_sketch.py",
    "preprocess_anime_sketches.py",
    "download_pretrained.py",
    "facade_painter.py",
    "speed/bench.py",
    "challenges/check.py",
]


@pytest.mark.slow  # a Python with torch per script: half a minute
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_other_script_runs_or_names_the_fix(tmp_path, script):
    """Scripts that never import torchvision work with a broken one; those that do (through
    training/) stop with the one sentence."""
    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text(BROKEN["mismatch"] + "\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, script, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 0:
        assert "usage:" in result.stdout
    else:
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
        assert "--force-reinstall torch torchvision" in result.stderr
