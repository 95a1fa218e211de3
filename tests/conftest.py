"""Fixtures shared by several test files."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from facades_generator import create_facades_generator
from tests.exercise1_support import reuse_network, spy_on_grid
from tests.exercise3_support import write_pairs
from tests.official_reference import random_official_state_dict


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A random-weight checkpoint in the official facades layout (full ngf=64, about 218 MB: the
    loader accepts only the real architecture). Random weights: outputs made with it are never
    results."""
    path = tmp_path_factory.mktemp("weights") / "random_official_layout.pth"
    torch.save(random_official_state_dict(), path)
    return path


@pytest.fixture(scope="session")
def random_generator(checkpoint):
    """create_facades_generator(checkpoint, **protocol) on the random-weight checkpoint, read once
    per protocol for the whole session: random_generator() is the default network,
    random_generator(dropout=True) the paper's stochastic one. Tests share these networks, so a
    test must leave them as it found them (no hooks left behind, weights untouched)."""
    loaded = {}

    def create(**protocol):
        key = tuple(sorted(protocol.items()))
        if key not in loaded:
            loaded[key] = create_facades_generator(checkpoint, **protocol)
        return loaded[key]

    return create


@pytest.fixture
def reuse_net(checkpoint, random_generator, monkeypatch):
    """Exercise 1 gets the session's generator instead of re-reading the 218 MB file (for tests
    about labels; the default run loads it for real)."""
    reuse_network(checkpoint, random_generator, monkeypatch)


@pytest.fixture
def grid_spy(monkeypatch):
    """What Exercise 1 puts in its grid, call by call (the figure is still saved)."""
    return spy_on_grid(monkeypatch)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Exercise 3's tiny preprocessed set: 3 training pairs and 2 validation pairs of 64x64
    images."""
    root = tmp_path_factory.mktemp("ex3") / "anime_processed"
    write_pairs(root, "train", ["a", "b", "c"])
    write_pairs(root, "val", ["v1", "v2"], seed=1)
    return root


@pytest.fixture(scope="module")
def one_thread():
    """For modules of small networks (`pytestmark = pytest.mark.usefixtures("one_thread")`): they
    run hundreds of tiny ops, and on a busy 2-core machine every OpenMP barrier of a 2-thread run
    waits for a descheduled thread (measured: 4 s instead of 0.1 s per step). One thread is
    enough."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Debian's Chromium, headless, as root, with nothing fetched from the network (tests/test_painter.py
# and tests/test_docs.py drive it through Playwright; no browser download).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _skip_or_fail(reason):
    if os.environ.get("PAINTER_BROWSER_REQUIRED"):  # set by .ci/run: CI must not skip this quietly
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail(
            "playwright is not installed (python -m pip install -r requirements-test.txt)"
        )
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        _skip_or_fail("Chromium is not installed (on Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
