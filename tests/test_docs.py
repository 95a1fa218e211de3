"""The site: the lesson and the docs/ pages build with the exact command the README gives, without a
warning, and every page reads on a laptop and on a phone in headless Chromium.

    DOCS_SCREENSHOTS=/tmp/site python -m pytest tests/test_docs.py -k chromium

also saves a full-page screenshot of every page at both sizes into that folder, to look at.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the site and opens every page in Chromium


ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README"] + [f"docs/{p.stem}" for p in sorted((ROOT / "docs").glob("*.rst"))]
# A laptop (the most common small laptop screen) and a phone (the width of current iPhones), in
# CSS pixels.
VIEWPORTS = {"laptop": (1366, 768), "phone": (390, 844)}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The README's command, `python -m sphinx -W -b html -c docs . _build/html`, with the output
    (and Sphinx's doctree cache) in a temporary folder so the test leaves the repository as it was.
    """
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-b",
            "html",
            "-c",
            "docs",
            ".",
            str(out / "html"),
            "-d",
            str(out / "doctrees"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out / "html", result


def test_readme_builds_with_sphinx_without_warnings(site):
    html, result = site
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "WARNING" not in result.stderr, result.stderr
    page = (html / "README.html").read_text(encoding="utf-8")
    assert "Pix2Pix Applications" in page
    for figure in ("unet.png", "patchgan.png", "conditional_vs_unconditional.png"):
        assert (html / "_images" / figure).is_file(), figure  # the README shows it
    for name in PAGES:
        assert (html / f"{name}.html").is_file(), f"{name}.rst was not built"


# Every image loaded in full (lazy ones too), then what the checks need. Wide tables and code
# blocks may scroll inside their own boxes; the page itself must not become wider than the window.
LAYOUT = """async () => {
  await Promise.all([...document.images].map((img) => {
    img.loading = 'eager';
    return img.decode().catch(() => null);
  }));
  const images = [...document.images].map((img) => ({
    src: img.getAttribute('src'), natural: img.naturalWidth,
    shown: img.getBoundingClientRect().width}));
  // Content that sticks out of the window without a scroll box of its own (a table's or a code
  // block's, inside the article) is cut off, widens the page, or makes the whole column scroll
  // sideways (Furo's content area on a phone is such a scroll box, and must not have to scroll).
  const article = document.querySelector('article');
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const sticking = [...article.querySelectorAll('*')].filter((el) => {
    if (el.getBoundingClientRect().right <= window.innerWidth + 1) return false;
    for (let up = el.parentElement; up && up !== article; up = up.parentElement) {
      if (scrolls(up)) return false;
    }
    return true;
  }).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ': '
         + (el.textContent || '').trim().slice(0, 60));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          images, sticking};
}"""


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_every_page_fits_the_window_and_shows_its_images_in_chromium(site, browser, viewport):
    html, result = site
    assert result.returncode == 0, "the site did not build (see the test above)"
    width, height = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    shots = os.environ.get("DOCS_SCREENSHOTS")
    problems = []
    for name in PAGES:
        page.goto((html / f"{name}.html").as_uri())
        layout = page.evaluate(LAYOUT)
        if layout["scrollWidth"] > layout["innerWidth"] + 1:
            problems.append(
                f"{name}: the page is {layout['scrollWidth']} px wide in a {width} px window"
            )
        problems += [f"{name}: sticks out of the window: {what}" for what in layout["sticking"][:5]]
        for image in layout["images"]:
            if image["natural"] == 0:
                problems.append(f"{name}: {image['src']} did not load")
            if image["shown"] > width:
                problems.append(
                    f"{name}: {image['src']} is shown {image['shown']:.0f} px wide "
                    f"in a {width} px window"
                )
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(Path(shots) / f"{name.replace('/', '_')}_{viewport}.png"), full_page=True
            )
    page.close()
    assert problems == [], "\n".join(problems)
    assert errors == [], errors
