"""Exercise 3's training: recipe.py (the paper's recipe and one step), data.py (pairs -> batches),
run.py (one run's folder, files, settings, messages and figures)."""

from helpers.lesson import check_torchvision

check_torchvision()  # a torchvision built for another torch: one sentence with the fix, not a trace
