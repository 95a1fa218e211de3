"""A broken install is one sentence with the fix: a torchvision built for another torch (what a
CPU-only torch from one index and torchvision from another give) dies at import with "operator
torchvision::nms does not exist", which names neither the package nor the fix."""

import os
import subprocess
import sys

import pytest

from helpers.files import ROOT

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
