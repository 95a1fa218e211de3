"""Fixtures shared by several test files."""

import pytest
import torch

from tests.official_reference import random_official_state_dict


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A random-weight checkpoint in the official facades layout (full ngf=64, about 218 MB: the loader
    accepts only the real architecture). Random weights: outputs made with it are never results."""
    path = tmp_path_factory.mktemp("weights") / "random_official_layout.pth"
    torch.save(random_official_state_dict(), path)
    return path
