"""Sphinx configuration: builds README.rst, the lesson, as the first page, and the pages in docs/ beside it.

    python -m sphinx -W -b html -c docs . _build/html     # then open _build/html/README.html

The source folder is the repository root (so the README's image paths work unchanged); tests/test_docs.py
runs the same build and fails on any warning.
"""

project = "Pix2Pix Applications"
author = "the module's authors"
copyright = "the module's authors"

extensions = ["sphinx_design"]  # the README's dropdowns (reflection discussions)

root_doc = "README"
source_suffix = {".rst": "restructuredtext"}
include_patterns = ["README.rst", "docs/*.rst"]  # the lesson, and the maintainers' pages beside it
exclude_patterns = ["_build", "tests", ".venv", "venv", "checkpoints", "anime_*", "sample_facades",
                    "painter", "speed", "helpers", ".git", ".pytest_cache", "**/node_modules"]

html_theme = "alabaster"
html_title = project
html_theme_options = {"page_width": "1240px", "sidebar_width": "220px", "body_max_width": "none"}  # wide code
html_sidebars = {"**": ["localtoc.html", "searchbox.html"]}  # one page: its own table of contents
pygments_style = "sphinx"
