"""download_pretrained.py against a real HTTP server on 127.0.0.1 that this file starts.

The served weights are a random-weight file in the official layout at full size (ngf=64, ~218 MB),
built once per module: the downloader's check accepts only the true unet_256 shapes, so a small
stand-in would (rightly) be refused. Every failure must exit non-zero with one sentence naming the
fix and leave nothing under the final name.
"""

import errno
import hashlib
import io
import os
import socket

import pytest
import torch

import download_pretrained
from facades_generator import create_facades_generator
from helpers import download
from helpers.lesson import ROOT
from tests import download_support
from tests.download_support import NAME, Route, assert_fails, requests_to, run, serve
from tests.official_reference import random_official_state_dict

server = download_support.server  # the module's HTTP server on 127.0.0.1 (a fixture)


@pytest.fixture(scope="module")
def weights():
    """(bytes, state_dict) of a full-size official-layout checkpoint with random values."""
    state_dict = random_official_state_dict(ngf=64, seed=3)
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue(), state_dict


@pytest.fixture(scope="module")
def valid_checkpoints(weights, tmp_path_factory):
    """A folder as a successful download leaves it (weights + sidecar), shared read-only."""
    folder = tmp_path_factory.mktemp("checkpoints")
    (folder / NAME).write_bytes(weights[0])
    (folder / (NAME + ".sha256")).write_text(f"{hashlib.sha256(weights[0]).hexdigest()}  {NAME}\n")
    return folder


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_FACTOR", 0.0)


def test_download_load_rerun_and_force(server, weights, tmp_path, capsys):
    data, state_dict = weights
    # The second request (--force) is cut after 30 MiB; the retry asks for the rest with Range, but
    # this server ignores Range and answers 200 with the whole file: the download must start over.
    cut = 30 << 20
    url = serve(server, "/ok.pth", Route(data, ranges=False, cuts=[None, cut]))
    run(tmp_path, url)
    # one copy, no .part
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME, NAME + ".sha256"]
    assert (tmp_path / NAME).read_bytes() == data  # the downloaded bytes, unchanged
    digest = hashlib.sha256(data).hexdigest()
    assert (tmp_path / (NAME + ".sha256")).read_text() == f"{digest}  {NAME}\n"
    out = capsys.readouterr().out
    assert url in out and str(tmp_path / NAME) in out  # settings printed at start

    net_G = create_facades_generator(tmp_path / NAME)
    assert torch.equal(net_G.down1[0].weight, state_dict["model.model.0.weight"])

    run(tmp_path, url)  # a good file is there: no request at all
    assert len(requests_to(server, "/ok.pth")) == 1
    assert "nothing to download" in capsys.readouterr().out

    run(tmp_path, url, "--force")
    assert requests_to(server, "/ok.pth") == [None, None, f"bytes={cut}-"]
    assert "starting from byte 0" in capsys.readouterr().out
    assert (tmp_path / NAME).read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME, NAME + ".sha256"]


def test_resume_after_cut_in_a_later_run(server, weights, tmp_path, capsys):
    data, _ = weights
    cut = 100 << 20
    url = serve(server, "/cut.pth", Route(data, cuts=[cut]))
    err = assert_fails(
        capsys,
        tmp_path,
        lambda: run(tmp_path, url, "--retries", "0"),
        "run the same command again to resume",
    )
    assert f"{cut:,}" in err
    assert (tmp_path / (NAME + ".part")).stat().st_size == cut  # kept for the next run
    run(tmp_path, url)
    assert requests_to(server, "/cut.pth") == [None, f"bytes={cut}-"]  # answered 206: only the rest
    assert (tmp_path / NAME).read_bytes() == data
    assert not (tmp_path / (NAME + ".part")).exists()


def test_partial_file_of_another_download_is_dropped_and_the_download_starts_over(
    server, weights, tmp_path, capsys
):
    url = serve(server, "/restart.pth", Route(weights[0]))
    # longer: not its beginning
    (tmp_path / (NAME + ".part")).write_bytes(b"z" * (len(weights[0]) + 5000))
    run(tmp_path, url)
    # 416, then all
    assert requests_to(server, "/restart.pth") == [f"bytes={len(weights[0]) + 5000}-", None]
    assert "is not the beginning of" in capsys.readouterr().out
    assert (tmp_path / NAME).read_bytes() == weights[0] and not (
        tmp_path / (NAME + ".part")
    ).exists()


def test_404_is_not_retried(server, tmp_path, capsys):
    url = server.url + "/missing.pth"
    assert_fails(capsys, tmp_path, lambda: run(tmp_path, url), "404", "--url")
    assert len(requests_to(server, "/missing.pth")) == 1
    assert list(tmp_path.iterdir()) == []


def test_500_is_retried_then_fails(server, tmp_path, capsys):
    url = serve(server, "/broken.pth", Route(b"", status=500))
    assert_fails(capsys, tmp_path, lambda: run(tmp_path, url), "500", "after 3 tries", "--url")
    assert len(requests_to(server, "/broken.pth")) == 3  # --retries 2


def test_truncated_body(server, tmp_path, capsys):
    body = bytes(range(256)) * 4096  # 1 MiB sent, 2 MiB promised, every time
    url = serve(server, "/short.pth", Route(body, ranges=False, declared_length=2 * len(body)))
    assert_fails(
        capsys,
        tmp_path,
        lambda: run(tmp_path, url),
        f"stopped at {len(body):,} of {2 * len(body):,}",
    )
    assert len(requests_to(server, "/short.pth")) == 3


def test_connection_refused(tmp_path, capsys):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w.pth"
    assert_fails(
        capsys,
        tmp_path,
        lambda: run(tmp_path, url),
        "refused the connection",
        "check your network",
        f"copy it to {tmp_path / NAME}",
    )


def test_dns_error(tmp_path, capsys, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(SystemExit):
        run(tmp_path, "http://weights.example.invalid/w.pth")
    captured = capsys.readouterr()
    # Each failed try is said at once (offline, the retries would be 30 silent seconds) ...
    retries = [line for line in captured.out.splitlines() if "trying again" in line]
    assert len(retries) == 2 and retries[0].startswith("weights.example.invalid cannot be reached")
    assert "(2 more tries" in retries[0] and "(1 more try," in retries[1] and "Ctrl+C" in retries[0]
    # ... and the last sentence says what to do, the copy-by-hand route included.
    err = captured.err.strip().splitlines()[-1]
    assert (
        "cannot resolve the host name weights.example.invalid" in err
        and "check your network" in err
    )
    assert "on a machine with internet" in err


def failing_open(error):
    """An `open` for the downloader whose files fail to write with `error` (but are created)."""

    class Failing:
        def __init__(self, path, mode):
            self.file = open(path, mode)

        def write(self, data):
            raise error

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    return Failing


def test_disk_full(server, tmp_path, capsys, monkeypatch):
    url = serve(server, "/full.pth", Route(b"x" * (3 << 20)))
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(download, "open", failing_open(disk_full), raising=False)
    assert_fails(capsys, tmp_path, lambda: run(tmp_path, url), "disk is full", "free some space")
    assert list(tmp_path.iterdir()) == []  # the partial file is removed to give the space back


def test_folder_without_write_permission(server, tmp_path, capsys, monkeypatch):
    url = serve(server, "/perm.pth", Route(b"x" * 1000))

    def denied(path, mode="r"):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(download, "open", denied, raising=False)
    assert_fails(capsys, tmp_path, lambda: run(tmp_path, url), "cannot write", "--checkpoint-dir")


def test_checkpoint_dir_that_cannot_be_created(server, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    target = tmp_path / "a_file" / "checkpoints"
    assert_fails(capsys, target, lambda: run(target, server.url + "/never.pth"), "--checkpoint-dir")
    assert requests_to(server, "/never.pth") == []


def test_force_resumes_its_own_partial_download_and_keeps_the_good_files(
    server, weights, valid_checkpoints, tmp_path, capsys
):
    data, _ = weights
    for name in (NAME, NAME + ".sha256"):
        (tmp_path / name).write_bytes((valid_checkpoints / name).read_bytes())
    good = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cut = 50 << 20
    url = serve(server, "/force.pth", Route(data, cuts=[cut]))
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, url, "--force", "--retries", "0")
    assert exc.value.code == 2 and "run the same command again to resume" in capsys.readouterr().err
    # nothing deleted
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in good} == good
    assert (tmp_path / (NAME + ".part")).stat().st_size == cut
    run(tmp_path, url, "--force")  # the same command again: resumes, does not start over
    assert requests_to(server, "/force.pth") == [None, f"bytes={cut}-"]
    assert (tmp_path / NAME).read_bytes() == data and not (tmp_path / (NAME + ".part")).exists()
    assert (tmp_path / (NAME + ".sha256")).read_text().split()[0] == hashlib.sha256(
        data
    ).hexdigest()


def test_read_only_folder_with_good_weights_is_fine(
    valid_checkpoints, tmp_path, capsys, monkeypatch
):
    """No .sha256 can be written (a read-only folder, as on a class's shared machine): say so, and
    succeed."""
    os.link(valid_checkpoints / NAME, tmp_path / NAME)

    def read_only(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(download_pretrained, "atomic_path", read_only)
    run(tmp_path, "http://127.0.0.1:9/unreachable.pth")
    out = capsys.readouterr().out
    assert "cannot record the SHA-256" in out and "ready" in out and "Permission denied" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]


def test_downloaded_files_get_the_users_permissions(server, weights, tmp_path, capsys):
    url = serve(server, "/mode.pth", Route(weights[0]))
    run(tmp_path, url)
    mask = os.umask(0o022)
    os.umask(mask)
    for name in (NAME, NAME + ".sha256"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_sha256_mismatch_is_reported_not_downloaded(server, tmp_path, capsys):
    (tmp_path / NAME).write_bytes(b"changed after the download")
    (tmp_path / (NAME + ".sha256")).write_text(
        f"{hashlib.sha256(b'original').hexdigest()}  {NAME}\n"
    )
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, server.url + "/unused.pth")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "does not match the SHA-256" in err and "--force" in err
    # the user's file is left alone
    assert (tmp_path / NAME).read_bytes() == b"changed after the download"
    assert requests_to(server, "/unused.pth") == []


def test_copied_by_hand_is_checked_offline(weights, valid_checkpoints, tmp_path, capsys):
    # as if copied here by hand, without a sidecar
    os.link(valid_checkpoints / NAME, tmp_path / NAME)
    run(tmp_path, "http://127.0.0.1:9/unreachable.pth")  # no network needed
    assert "passes the check" in capsys.readouterr().out
    assert (tmp_path / (NAME + ".sha256")).read_text().split()[0] == hashlib.sha256(
        weights[0]
    ).hexdigest()

    (tmp_path / NAME).unlink()  # (a hard link: never write through it)
    (tmp_path / NAME).write_bytes(b"<html>saved from a browser</html>")
    (tmp_path / (NAME + ".sha256")).unlink()
    with pytest.raises(SystemExit):
        run(tmp_path, "http://127.0.0.1:9/unreachable.pth")
    assert "--force" in capsys.readouterr().err
    # left for the user
    assert (tmp_path / NAME).read_bytes() == b"<html>saved from a browser</html>"


def test_the_downloads_page_names_the_official_url_and_the_files():
    readme = (ROOT / "docs" / "downloads.rst").read_text()
    assert download_pretrained.OFFICIAL_URL in readme  # the offline instructions must not drift
    assert f"checkpoints/{NAME}" in readme and f"checkpoints/{NAME}.sha256" in readme
