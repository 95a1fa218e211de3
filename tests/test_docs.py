"""The lesson builds as a Sphinx page, with the exact command the README gives, and without a warning."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_builds_with_sphinx_without_warnings(tmp_path):
    # The README's command, `python -m sphinx -W -b html -c docs . _build/html`, with the output (and
    # Sphinx's doctree cache) in a temporary folder so the test leaves the repository as it was.
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-b", "html", "-c", "docs", ".",
                             str(tmp_path / "html"), "-d", str(tmp_path / "doctrees")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "WARNING" not in result.stderr, result.stderr
    page = (tmp_path / "html" / "README.html").read_text(encoding="utf-8")
    assert "Pix2Pix Applications" in page
    for figure in ("unet.png", "patchgan.png", "conditional_vs_unconditional.png"):
        assert (tmp_path / "html" / "_images" / figure).is_file(), figure  # the README shows it
