"""download_pretrained.py when a server (a mirror, a proxy) sends something other than the weights,
or such a file was copied here by hand: refused in one sentence, nothing kept under the final name,
no SHA-256 recorded, and nothing it holds ever run.

The files here are small (ngf=8): every refusal comes before the shape check, or is the shape check.
"""

import io

import numpy as np
import pytest
import torch

from helpers import download
from tests import download_support
from tests.download_support import NAME, Route, assert_fails, run, serve
from tests.official_reference import random_official_state_dict

server = download_support.server  # the module's HTTP server on 127.0.0.1 (a fixture)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_FACTOR", 0.0)


def test_html_page_instead_of_weights(server, tmp_path, capsys):
    page = b"\n<!DOCTYPE html><html><body>Please log in to use this network.</body></html>"
    url = serve(server, "/portal.pth", Route(page, content_type="text/html"))
    assert_fails(capsys, tmp_path, lambda: run(tmp_path, url), "web page", "--url")
    assert list(tmp_path.iterdir()) == []  # bad content is not kept for a resume


class Evil:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_malicious_pickle_is_refused_and_never_runs(server, tmp_path, capsys):
    buffer = io.BytesIO()
    torch.save({"model.model.0.weight": Evil(tmp_path / "proof.txt")}, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=False)  # the file really is malicious when trusted ...
    assert (tmp_path / "proof.txt").exists()

    marker = tmp_path / "pwned.txt"
    buffer = io.BytesIO()
    torch.save({"model.model.0.weight": Evil(marker)}, buffer)
    url = serve(server, "/evil.pth", Route(buffer.getvalue()))
    checkpoints = tmp_path / "checkpoints"
    assert_fails(
        capsys, checkpoints, lambda: run(checkpoints, url), "could run code", "not loaded", "--url"
    )
    assert not marker.exists()  # ... and the downloader never ran it
    assert list(checkpoints.iterdir()) == []


def test_random_bytes_are_a_damaged_file_not_a_threat(server, tmp_path, capsys):
    url = serve(server, "/noise.pth", Route(np.random.default_rng(0).bytes(5000)))
    err = assert_fails(
        capsys, tmp_path, lambda: run(tmp_path, url), "is not a PyTorch weights file", "--url"
    )
    assert "could run code" not in err
    assert list(tmp_path.iterdir()) == []


def test_other_network_is_refused(server, tmp_path, capsys):
    buffer = io.BytesIO()
    torch.save(random_official_state_dict(ngf=8), buffer)  # right keys, wrong --ngf
    url = serve(server, "/ngf8.pth", Route(buffer.getvalue()))
    assert_fails(
        capsys,
        tmp_path,
        lambda: run(tmp_path, url),
        "not the facades_label2photo generator",
        "shape mismatch",
        "--url",
    )
    assert list(tmp_path.iterdir()) == []


def nan_weights(value=float("nan")):
    """The official layout (small) with one NaN: its facades would be black, and exit 0."""
    state_dict = random_official_state_dict(ngf=8)
    state_dict["model.model.1.model.1.weight"].view(-1)[7] = value
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_holding_nan_from_a_mirror_are_refused_and_not_recorded(
    server, tmp_path, capsys, value
):
    url = serve(server, f"/nan_{value}.pth", Route(nan_weights(value)))
    err = assert_fails(capsys, tmp_path, lambda: run(tmp_path, url), "NaN or infinite", "--url")
    assert err == (
        f"error: the file from {url} holds NaN or infinite weights; it was deleted; use the "
        "official URL or a trusted mirror with --url."
    )
    assert list(tmp_path.iterdir()) == []  # no .part, and no .sha256 calling it good


def test_weights_holding_nan_copied_by_hand_are_refused_and_left_alone(tmp_path, capsys):
    data = nan_weights()
    (tmp_path / NAME).write_bytes(data)
    err = assert_fails_keeping(capsys, lambda: run(tmp_path, "http://127.0.0.1:9/unused.pth"))
    assert err == (
        f"error: {tmp_path / NAME} holds NaN or infinite weights; move it away or run "
        "`python download_pretrained.py --force`."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]  # no .sha256 recorded
    assert (tmp_path / NAME).read_bytes() == data  # the user's file, as it was


def assert_fails_keeping(capsys, call):
    with pytest.raises(SystemExit) as exc:
        call()
    assert exc.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]
