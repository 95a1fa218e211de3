"""download_pretrained.py against a real HTTP server on 127.0.0.1 that this file starts, serving
weights in the official layout that the tests build (conftest's random `checkpoint`, full size:
the check accepts only the true unet_256 shapes). Every failure exits 2 with one sentence naming
the fix and leaves nothing under the final name."""

import errno
import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch
from filelock import FileLock

import download_pretrained
from facades_generator import create_facades_generator
from helpers.lesson import ROOT, new_file_mode
from tests import download_support
from tests.download_support import NAME, Route, refused, requests_to, run, serve
from tests.official_reference import random_official_state_dict

server = download_support.server  # the module's HTTP server on 127.0.0.1 (a fixture)
no_backoff = download_support.no_backoff
SIDECAR, LOCK, PART = NAME + ".sha256", NAME + ".lock", NAME + ".part"
UNREACHABLE = "http://127.0.0.1:9/unused.pth"


@pytest.fixture(scope="module")
def official(checkpoint):
    return checkpoint.read_bytes()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def saved(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue()


def test_download_load_rerun_and_force(server, official, checkpoint, tmp_path, capsys):
    # --force's request is cut after 30 MiB and this server ignores Range: it starts over.
    cut = 30 << 20
    url = serve(server, "/ok.pth", Route(official, ranges=False, cuts=[None, cut]))
    run(tmp_path, url)
    assert files(tmp_path) == [NAME, LOCK, SIDECAR]
    assert (tmp_path / NAME).read_bytes() == official
    assert (tmp_path / SIDECAR).read_text() == f"{sha256(official)}  {NAME}\n"
    for name in (NAME, SIDECAR):
        assert (tmp_path / name).stat().st_mode & 0o777 == new_file_mode()
    assert url in capsys.readouterr().out  # the settings are printed
    net_G = create_facades_generator(tmp_path / NAME)
    expected = torch.load(checkpoint, weights_only=True)["model.model.0.weight"]
    assert torch.equal(net_G.down1[0].weight, expected)

    run(tmp_path, url)  # a good file is there: no request at all
    assert len(requests_to(server, "/ok.pth")) == 1
    assert "nothing to download" in capsys.readouterr().out

    run(tmp_path, url, "--force")
    assert requests_to(server, "/ok.pth") == [None, None, f"bytes={cut}-"]
    assert "starting from byte 0" in capsys.readouterr().out
    assert (tmp_path / NAME).read_bytes() == official and files(tmp_path) == [NAME, LOCK, SIDECAR]


@pytest.mark.parametrize("force", [False, True])
def test_a_cut_download_resumes_in_the_next_run(server, official, tmp_path, capsys, force):
    """--force too resumes its own partial file, and keeps the old files until the new passes."""
    if force:
        (tmp_path / NAME).write_bytes(b"old")
        (tmp_path / SIDECAR).write_text(f"{sha256(b'old')}  {NAME}\n")
    cut, path = 100 << 20, f"/cut{force}.pth"
    url = serve(server, path, Route(official, cuts=[cut]))
    flags = ["--force"] if force else []
    err = refused(capsys, lambda: run(tmp_path, url, "--retries", "0", *flags), "to resume")
    assert f"{cut:,}" in err and (tmp_path / PART).stat().st_size == cut
    assert (tmp_path / NAME).exists() == (tmp_path / SIDECAR).exists() == force  # kept
    run(tmp_path, url, *flags)
    assert requests_to(server, path) == [None, f"bytes={cut}-"]  # 206: only the rest
    assert (tmp_path / NAME).read_bytes() == official and PART not in files(tmp_path)
    assert (tmp_path / SIDECAR).read_text().split()[0] == sha256(official)


def test_a_partial_file_of_another_download_is_dropped(server, official, tmp_path, capsys):
    url = serve(server, "/restart.pth", Route(official))
    (tmp_path / PART).write_bytes(b"z" * (len(official) + 5000))  # longer: not its beginning
    run(tmp_path, url)
    assert requests_to(server, "/restart.pth") == [f"bytes={len(official) + 5000}-", None]
    assert "is not the beginning of" in capsys.readouterr().out
    assert (tmp_path / NAME).read_bytes() == official and PART not in files(tmp_path)


BODY = bytes(range(256)) * 4096  # 1 MiB


@pytest.mark.parametrize(
    "path, route, words, tries",
    [
        ("/missing.pth", None, ["404", "--url"], 1),  # not retried: a 404 will not change
        ("/500.pth", Route(status=500), ["500", "after 3 tries", "--url"], 3),
        (
            "/short.pth",
            Route(BODY, ranges=False, declared_length=2 * len(BODY)),
            [f"stopped at {len(BODY):,} of {2 * len(BODY):,}", "start over"],
            3,
        ),
    ],
    ids=["404", "500", "short"],
)
def test_a_failing_server_is_named(server, tmp_path, capsys, path, route, words, tries):
    url = serve(server, path, route) if route else server.url + path
    refused(capsys, lambda: run(tmp_path, url), *words)
    assert len(requests_to(server, path)) == tries
    assert files(tmp_path) == [LOCK]  # no partial file that no server can resume


def test_connection_refused_and_unknown_host(tmp_path, capsys, monkeypatch):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    words = ["refused the connection", "check your network", f"copy it to {tmp_path / NAME}"]
    refused(capsys, lambda: run(tmp_path, f"http://127.0.0.1:{port}/w.pth"), *words)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(SystemExit):
        run(tmp_path, "http://weights.example.invalid/w.pth")
    out, err = capsys.readouterr()
    # each failed try is said at once (offline, the retries would be 30 silent seconds) ...
    tries = [line for line in out.splitlines() if "trying again" in line]
    assert len(tries) == 2 and "(2 more tries" in tries[0] and "(1 more try," in tries[1]
    assert tries[0].startswith("weights.example.invalid cannot be resolved") and "Ctrl+C" in out
    # ... and the last sentence says what to do, the copy by hand included.
    assert "weights.example.invalid cannot be resolved" in err and "with internet" in err


@pytest.mark.parametrize(
    "error, words",
    [
        (OSError(errno.ENOSPC, "No space left on device"), ["disk is full", "free some space"]),
        (PermissionError(errno.EACCES, "Permission denied"), ["could not write", "Permission"]),
    ],
    ids=["full", "denied"],
)
def test_a_write_that_fails_is_named(server, tmp_path, capsys, monkeypatch, error, words):
    url = serve(server, "/write.pth", Route(b"x" * (3 << 20)))

    class Failing:  # the file is created, every write fails
        def __init__(self, path, mode):
            self.file = open(path, mode)

        def write(self, data):
            raise error

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(download_pretrained, "open", Failing, raising=False)
    refused(capsys, lambda: run(tmp_path, url), *words)
    assert NAME not in files(tmp_path)
    assert (PART in files(tmp_path)) == (error.errno == errno.EACCES)  # full: space given back


def test_checkpoint_dir_that_cannot_be_created(server, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    target = tmp_path / "a_file" / "checkpoints"
    refused(capsys, lambda: run(target, server.url + "/never.pth"), "--checkpoint-dir")
    assert requests_to(server, "/never.pth") == []


def test_read_only_folder_with_good_weights_is_fine(official, tmp_path, capsys, monkeypatch):
    """No .sha256 can be written (a class's shared machine): say so, and succeed."""
    (tmp_path / NAME).write_bytes(official)

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(download_pretrained, "atomic_path", read_only)
    monkeypatch.setattr(FileLock, "acquire", read_only)
    run(tmp_path, UNREACHABLE)
    out = capsys.readouterr().out
    assert "cannot record the SHA-256" in out and "Permission denied" in out and "ready" in out
    assert files(tmp_path) == [NAME]


def test_sha256_mismatch_is_reported_not_downloaded(server, tmp_path, capsys):
    (tmp_path / NAME).write_bytes(b"changed after the download")
    (tmp_path / SIDECAR).write_text(f"{sha256(b'original')}  {NAME}\n")
    refused(capsys, lambda: run(tmp_path, server.url + "/unused.pth"), "SHA-256", "--force")
    assert (tmp_path / NAME).read_bytes() == b"changed after the download"  # left alone
    assert requests_to(server, "/unused.pth") == []


def nan_weights(value=float("nan")):
    """The official layout (small) with one NaN: its facades would be black, and exit 0."""
    state_dict = random_official_state_dict(ngf=8)
    state_dict["model.model.1.model.1.weight"].view(-1)[7] = value
    return saved(state_dict)


def test_copied_by_hand_is_checked_offline(official, tmp_path, capsys):
    (tmp_path / NAME).write_bytes(official)
    run(tmp_path, UNREACHABLE)  # no network needed
    assert "passes the check" in capsys.readouterr().out
    assert (tmp_path / SIDECAR).read_text().split()[0] == sha256(official)
    for data, words in [(b"<html>from a browser</html>", []), (nan_weights(), ["NaN"])]:
        (tmp_path / NAME).write_bytes(data)
        (tmp_path / SIDECAR).unlink(missing_ok=True)
        refused(capsys, lambda: run(tmp_path, UNREACHABLE), str(tmp_path / NAME), "--force", *words)
        assert (tmp_path / NAME).read_bytes() == data and SIDECAR not in files(tmp_path)


class Evil:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize(
    "content, words",
    [
        (lambda tmp: b"\n<!DOCTYPE html><html>Please log in.</html>", ["web page"]),
        (lambda tmp: saved({"model.model.0.weight": Evil(tmp / "pwned")}), ["could run code"]),
        (lambda tmp: os.urandom(5000), ["is not a PyTorch weights file"]),
        (lambda tmp: saved(random_official_state_dict(ngf=8)), ["not the facades", "shape"]),
        (lambda tmp: nan_weights(), ["NaN or infinite"]),
        (lambda tmp: nan_weights(float("inf")), ["NaN or infinite"]),
    ],
    ids=["html", "pickle", "noise", "ngf8", "nan", "inf"],
)
def test_served_content_that_is_not_the_weights_is_refused(
    server, tmp_path, capsys, content, words
):
    """Refused, deleted (a resume would append to it), no SHA-256 recorded, nothing it holds run."""
    folder = tmp_path / "checkpoints"
    url = serve(server, "/bad.pth", Route(content(tmp_path)))
    refused(capsys, lambda: run(folder, url), f"the file from {url}", *words, "--url")
    assert files(folder) == [LOCK] and not (tmp_path / "pwned").exists()


def test_a_second_download_at_once_refuses(server, official, tmp_path, capsys):
    with FileLock(str(tmp_path / LOCK)):  # as another run holds it
        refused(capsys, lambda: run(tmp_path, server.url + "/busy.pth"), "another", "wait")
    assert requests_to(server, "/busy.pth") == [] and files(tmp_path) == [LOCK]


@pytest.mark.slow
def test_two_processes_at_once_one_downloads_the_served_bytes(server, official, tmp_path):
    gate = threading.Event()
    url = serve(server, "/gated.pth", Route(official, gate=gate))
    argv = [sys.executable, "download_pretrained.py", "--checkpoint-dir", str(tmp_path / "c")]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen([*argv, "--url", url], cwd=ROOT, stdout=log, stderr=log)
    try:
        while not requests_to(server, "/gated.pth"):  # the first holds the lock and waits
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.1)
        second = subprocess.run([*argv, "--url", url], cwd=ROOT, capture_output=True, text=True)
    finally:
        gate.set()
    assert second.returncode == 2 and "another download_pretrained.py" in second.stderr
    assert "Traceback" not in second.stderr and first.wait(120) == 0
    assert (tmp_path / "c" / NAME).read_bytes() == official
    assert (tmp_path / "c" / SIDECAR).read_text().split()[0] == sha256(official)


@pytest.mark.parametrize(
    "flag, value, words",
    [
        ("--timeout", "1e308", ["below 3600"]),
        ("--url", "http://127.0.0.1:99999/x", ["malformed", "port"]),
    ],
)
def test_flags_that_would_fail_later_are_refused_first(tmp_path, capsys, flag, value, words):
    argv = ["--checkpoint-dir", str(tmp_path / "c"), flag, value]
    refused(capsys, lambda: download_pretrained.main(argv), flag, *words)
    assert not (tmp_path / "c").exists()


def test_a_quoted_tilde_is_the_home_folder(tmp_path, monkeypatch, official, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / NAME).write_bytes(official)
    download_pretrained.main(["--checkpoint-dir", "~/w", "--url", UNREACHABLE])
    assert SIDECAR in files(tmp_path / "w") and not (ROOT / "~").exists()


def test_the_downloads_page_names_the_official_url_and_the_files():
    page = (ROOT / "docs" / "downloads.rst").read_text()
    assert download_pretrained.OFFICIAL_URL in page  # the offline instructions must not drift
    assert f"checkpoints/{NAME}" in page and f"checkpoints/{SIDECAR}" in page
