"""Exercise 3's training: recipe.py (one step), data.py (the batches), run.py (the run)."""

from helpers.lesson import check_torchvision

check_torchvision()  # a torchvision built for another torch: one sentence with the fix, not a trace
