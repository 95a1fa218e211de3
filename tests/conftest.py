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


@pytest.fixture(scope="module")
def one_thread():
    """For modules of small networks (`pytestmark = pytest.mark.usefixtures("one_thread")`): they run hundreds
    of tiny ops, and on a busy 2-core machine every OpenMP barrier of a 2-thread run waits for a descheduled
    thread (measured: 4 s instead of 0.1 s per step). One thread is enough."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
