"""Sphinx configuration: builds README.rst, the lesson, as the first page, and the pages in docs/
beside it.

    python -m sphinx -W -b html -c docs . _build/html     # then open _build/html/README.html

The source folder is the repository root (so the README's image paths work unchanged);
tests/test_docs.py runs the same build and fails on any warning, and opens every page in Chromium at
a laptop and a phone width. The theme is Furo (requirements-test.txt): a readable column, a sidebar
with every page, a table of contents per page, and on a phone a menu instead of the sidebars.
"""

project = "Pix2Pix Applications"
author = "the module's authors"
copyright = "the module's authors"

extensions = ["sphinx_design"]  # the README's dropdowns (reflection discussions)

root_doc = "README"
source_suffix = {".rst": "restructuredtext"}
include_patterns = ["README.rst", "docs/*.rst"]  # the lesson, and the maintainers' pages beside it
exclude_patterns = [
    "_build",
    "tests",
    ".venv",
    "venv",
    "checkpoints",
    "anime_*",
    "sample_facades",
    "painter",
    "speed",
    "helpers",
    ".git",
    ".pytest_cache",
    "**/node_modules",
]

html_theme = "furo"
html_title = (
    "Pix2Pix Applications"  # the sidebar's heading and the end of every browser tab's title
)
html_short_title = "pix2pix"
html_copy_source = False  # no _sources/ copies of the .rst files: the repository has them
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": True  # left/right arrow keys go to the previous/next page
}
