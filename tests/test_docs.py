"""The site builds with the README's command and no warning, and every page reads on a laptop and
on a phone in headless Chromium. `DOCS_SCREENSHOTS=/tmp/site python -m pytest tests/test_docs.py`
also saves a full-page screenshot of every page at both sizes there."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.lesson import ROOT

pytestmark = pytest.mark.slow  # builds the site and opens every page in Chromium

PAGES = ["README"] + [f"docs/{p.stem}" for p in sorted((ROOT / "docs").glob("*.rst"))]
VIEWPORTS = {"laptop": (1366, 768), "phone": (390, 844)}  # CSS pixels: a small laptop, an iPhone


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`python -m sphinx -W -b html -c docs . _build/html`, built into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "sphinx", "-W", "-b", "html", "-c", "docs", "."]
    command += [str(out / "html"), "-d", str(out / "doctrees")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr[-4000:]
    return out / "html"


def test_every_page_and_the_readmes_figures_are_built(site):
    assert "Pix2Pix Applications" in (site / "README.html").read_text(encoding="utf-8")
    for figure in ("unet.png", "patchgan.png", "conditional_vs_unconditional.png"):
        assert (site / "_images" / figure).is_file(), figure
    assert [name for name in PAGES if not (site / f"{name}.html").is_file()] == []


# Every image loaded in full (lazy ones too); then the page's width, each image's natural and shown
# width, and what sticks out of the window without a scroll box of its own inside the article (a
# wide table or code block may scroll in its own box; the page must not scroll sideways).
LAYOUT = """async () => {
  await Promise.all([...document.images].map((img) => {
    img.loading = 'eager';
    return img.decode().catch(() => null);
  }));
  const images = [...document.images].map((img) => ({
    src: img.getAttribute('src'), natural: img.naturalWidth,
    shown: img.getBoundingClientRect().width}));
  const article = document.querySelector('article');
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const sticking = [...article.querySelectorAll('*')].filter((el) => {
    if (el.getBoundingClientRect().right <= window.innerWidth + 1) return false;
    for (let up = el.parentElement; up && up !== article; up = up.parentElement) {
      if (scrolls(up)) return false;
    }
    return true;
  }).map((el) => el.tagName.toLowerCase() + ': ' + (el.textContent || '').trim().slice(0, 60));
  return {scrollWidth: document.documentElement.scrollWidth, images, sticking};
}"""


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_every_page_fits_the_window_and_shows_its_images_in_chromium(site, browser, viewport):
    width, height = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors, problems = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    shots = os.environ.get("DOCS_SCREENSHOTS")
    for name in PAGES:
        page.goto((site / f"{name}.html").as_uri())
        layout = page.evaluate(LAYOUT)
        if layout["scrollWidth"] > width + 1:
            problems.append(f"{name}: {layout['scrollWidth']} px wide in a {width} px window")
        problems += [f"{name}: sticks out: {what}" for what in layout["sticking"][:5]]
        for image in layout["images"]:
            if image["natural"] == 0 or image["shown"] > width:
                problems.append(f"{name}: {image['src']} not loaded or wider than the window")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            shot = Path(shots) / f"{name.replace('/', '_')}_{viewport}.png"
            page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert problems == [] and errors == [], "\n".join(problems + errors)
