"""Sphinx: `python -m sphinx -W -b html -c docs . _build/html`, then open _build/html/README.html.
The source folder is the repository root, so the README's image paths work unchanged."""

project = "Pix2Pix Applications"
author = copyright = "the module's authors"
extensions = ["sphinx_design"]  # the README's dropdowns
root_doc = "README"
include_patterns = ["README.rst", "docs/*.rst"]
exclude_patterns = ["_build", ".*", "*venv", "anime_*", "checkpoints", "**/node_modules"]  # unread
html_theme = "furo"
html_title = "Pix2Pix Applications"  # the sidebar's heading and every browser tab's title
html_short_title = "pix2pix"
html_copy_source = html_show_sourcelink = False  # the repository has the .rst files
html_theme_options = {"navigation_with_keys": True}  # arrow keys: previous and next page
