"""download_pretrained.py against an HTTP server on 127.0.0.1 that this file starts, each path a
Route that says how to misbehave; it serves conftest's random `checkpoint` in the official layout
(full size: only true unet_256 shapes pass) and small archives laid out like CMP's. A failure exits
2 with one sentence naming the fix and leaves nothing under the final name."""

import argparse
import errno
import gzip
import hashlib
import io
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import Mock

import numpy as np
import pytest
import torch
from filelock import FileLock
from PIL import Image

import download_pretrained
from facades_generator import PALETTE, create_facades_generator
from helpers.lesson import ROOT, LessonError, new_file_mode
from tests.official_reference import random_official_state_dict

NAME, ZIP = "facades_generator.pth", "CMP_facade_DB_base.zip"
SIDECAR, LOCK, PART = NAME + ".sha256", NAME + ".lock", NAME + ".part"
UNREACHABLE = "http://127.0.0.1:9/unused.pth"
BODY = bytes(range(256)) * 4096  # 1 MiB
BOMB = b"\0" * (17 << 20)  # 17 MB of zeros: 17 kB deflated


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    ranges: bool = True  # answer Range requests with 206
    cuts: list = field(default_factory=list)  # per request: stop after so many bytes (None: don't)
    declared_length: int = None  # Content-Length to claim instead of the true one
    location: str = None  # with a 3xx status: where to
    drip: float = None  # seconds between single bytes
    gzip: bool = False  # send the body with Content-Encoding: gzip, whatever was asked
    gate: threading.Event = None  # answer only once the test sets it (never: a silent server)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.log.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path, Route(status=404))
        if route.gate and not route.gate.wait(30):
            return  # a silent server: the client gives up first
        body = gzip.compress(route.body) if route.gzip else route.body
        asked = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0])
        start = asked if route.ranges and not route.gzip else 0
        if route.status != 200 or (start and start >= len(body)):
            self.send_response(416 if route.status == 200 else route.status)
            self.send_header("Location", route.location or "")
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Encoding", "gzip" if route.gzip else "identity")
        self.send_header("Content-Length", str(route.declared_length or len(body) - start))
        self.end_headers()
        cut = route.cuts.pop(0) if route.cuts else None
        end = len(body) if cut is None else min(len(body), start + cut)
        step = 1 if route.drip else 1 << 20
        try:
            for offset in range(start, end, step):
                self.wfile.write(body[offset : min(end, offset + step)])
                if route.drip:
                    self.wfile.flush()
                    time.sleep(route.drip)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up (the disk-full and stall tests do)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.log = {}, []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.port = httpd.server_address[1]
    httpd.url = f"http://127.0.0.1:{httpd.port}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download_pretrained, "BACKOFF_FACTOR", 0.0)


def serve(server, path, route):
    server.routes[path] = route
    return server.url + path


def requests_to(server, path):
    return [r for p, r in server.log if p == path]


def run(folder, url, *extra):
    argv = ["--checkpoint-dir", str(folder), "--url", url, "--retries", "2", "--timeout", "5"]
    return download_pretrained.main([*argv, *extra])


def refused(capsys, call, *words):
    """Exit status 2, a last `error:` sentence holding `words` -> (that sentence, stdout)."""
    with pytest.raises(SystemExit) as exc:
        call()
    out, err = capsys.readouterr()
    line = err.rsplit("\r", 1)[-1].strip().splitlines()[-1]
    assert exc.value.code == 2 and "Traceback" not in err
    assert line.startswith("error: ") and line.endswith("."), line
    for word in words:
        assert word in line, line
    return line, out


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
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in (NAME, SIDECAR)} == {new_file_mode()}
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
    cut, path, flags = 100 << 20, f"/cut{force}.pth", ["--force"] * force
    url = serve(server, path, Route(official, cuts=[cut]))
    err, _ = refused(capsys, lambda: run(tmp_path, url, "--retries", "0", *flags), "to resume")
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


@pytest.mark.parametrize(
    "path, route, words, tries",
    [
        ("/missing.pth", None, ["404", "--url"], 1),  # not retried: a 404 will not change
        ("/500.pth", Route(status=500), ["500", "after 3 tries", "--url"], 3),
        ("/short.pth", Route(BODY, ranges=False, declared_length=2 << 20), ["1,048,576 of"], 3),
    ],
    ids=["404", "500", "short"],
)
def test_a_failing_server_is_named(server, tmp_path, capsys, path, route, words, tries):
    url = serve(server, path, route) if route else server.url + path
    refused(capsys, lambda: run(tmp_path, url), *words)
    assert len(requests_to(server, path)) == tries
    assert files(tmp_path) == [LOCK]  # no partial file that no server can resume


@pytest.mark.parametrize(
    "where, why", [("port", "refused the connection"), ("silent", "is not answering"), ("dns", "")]
)
def test_unreachable_server_named_at_each_try(server, tmp_path, capsys, monkeypatch, where, why):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/w.pth"
    if where == "silent":
        url = serve(server, "/silent.pth", Route(gate=threading.Event()))  # never answers
    if where == "dns":
        url, why = "http://weights.example.invalid/w.pth", "cannot be resolved"
        monkeypatch.setattr(socket, "getaddrinfo", Mock(side_effect=socket.gaierror(-2, "no")))
    fix = ["check your network", f"copy it to {tmp_path / NAME}"]  # the copy by hand included
    _, out = refused(capsys, lambda: run(tmp_path, url, "--timeout", "0.5"), why, *fix)
    # each failed try is said at once (offline, the retries would be 30 silent seconds)
    tries = [line for line in out.splitlines() if "trying again" in line]
    assert len(tries) == 2 and why in tries[0] and "(2 more tries" in tries[0]
    assert "(1 more try," in tries[1] and "Ctrl+C" in tries[1]


@pytest.mark.parametrize(
    "error, words",
    [
        (OSError(errno.ENOSPC, "No space left on device"), ["disk is full", "free some space"]),
        (PermissionError(errno.EACCES, "Permission denied"), ["could not write", "Permission"]),
    ],
    ids=["full", "denied"],
)
def test_a_write_that_fails_is_named(server, tmp_path, capsys, monkeypatch, error, words):
    monkeypatch.setattr(download_pretrained, "write_body", Mock(side_effect=error))  # after open
    refused(capsys, lambda: run(tmp_path, serve(server, "/write.pth", Route(BODY))), *words)
    assert files(tmp_path) == ([LOCK, PART] if error.errno == errno.EACCES else [LOCK])


def test_checkpoint_dir_that_cannot_be_created(server, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    target = tmp_path / "a_file" / "checkpoints"
    refused(capsys, lambda: run(target, server.url + "/never.pth"), "--checkpoint-dir")
    assert requests_to(server, "/never.pth") == []


def test_read_only_folder_with_good_weights_is_fine(official, tmp_path, capsys, monkeypatch):
    """No .sha256 can be written (a class's shared machine): say so, and succeed."""
    (tmp_path / NAME).write_bytes(official)

    read_only = Mock(side_effect=PermissionError(errno.EACCES, "Permission denied"))
    monkeypatch.setattr(download_pretrained, "atomic_path", read_only)
    monkeypatch.setattr(FileLock, "acquire", read_only)
    run(tmp_path, UNREACHABLE)
    out = capsys.readouterr().out
    assert "cannot record the SHA-256" in out and "Permission denied" in out and "ready" in out
    assert files(tmp_path) == [NAME]


def nan_weights(value=float("nan")):
    """The official layout (small) with one NaN: its facades would be black, and exit 0."""
    state_dict = random_official_state_dict(ngf=8)
    state_dict["model.model.1.model.1.weight"].view(-1)[7] = value
    return saved(state_dict)


def test_weights_already_here_are_checked_offline_and_left_alone(official, tmp_path, capsys):
    (tmp_path / NAME).write_bytes(official)  # copied by hand: checked, then recorded
    run(tmp_path, UNREACHABLE)  # no network needed
    assert "passes the check" in capsys.readouterr().out
    assert (tmp_path / SIDECAR).read_text().split()[0] == sha256(official)
    changed = (b"changed after the download", "does not match the SHA-256")
    cases = [changed, (b"<html>from a browser</html>", "not a PyTorch"), (nan_weights(), "NaN")]
    for data, why in cases:
        (tmp_path / NAME).write_bytes(data)
        refused(capsys, lambda: run(tmp_path, UNREACHABLE), str(tmp_path / NAME), why, "--force")
        assert (tmp_path / NAME).read_bytes() == data  # the user's file, as it was
        (tmp_path / SIDECAR).unlink(missing_ok=True)  # next: files copied by hand


class Evil:
    """Unpickling this runs code: it marks the module."""

    def __reduce__(self):
        return exec, ("import download_pretrained; download_pretrained.PWNED = True",)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\n<!DOCTYPE html><html>Please log in.</html>", ["web page"]),
        (saved({"model.model.0.weight": Evil()}), ["could run code"]),
        (np.random.default_rng(0).bytes(5000), ["is not a PyTorch weights file"]),
        (saved(random_official_state_dict(ngf=8)), ["not the facades", "shape"]),
        (nan_weights(), ["NaN or infinite"]),
        (nan_weights(float("inf")), ["NaN or infinite"]),
    ],
    ids=["html", "pickle", "noise", "ngf8", "nan", "inf"],
)
def test_content_that_is_not_the_weights_is_refused(server, tmp_path, capsys, content, words):
    """Refused, deleted (a resume would append to it), no SHA-256 recorded, nothing it holds run."""
    url = serve(server, "/bad.pth", Route(content))
    refused(capsys, lambda: run(tmp_path, url), f"the file from {url}", *words, "--url")
    assert files(tmp_path) == [LOCK] and not hasattr(download_pretrained, "PWNED")


def test_a_second_download_at_once_refuses(server, tmp_path, capsys):
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
    [("--timeout", "1e308", ["below 3600"]), ("--url", "http://h:99999/x", ["malformed", "port"])],
)
def test_flags_that_would_fail_later_are_refused_first(tmp_path, capsys, flag, value, words):
    argv = ["--checkpoint-dir", str(tmp_path / "c"), flag, value]
    refused(capsys, lambda: download_pretrained.main(argv), flag, *words)
    assert not (tmp_path / "c").exists()


def test_a_quoted_tilde_is_the_home_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / NAME).write_bytes(b"x")  # with its SHA-256: checked, not loaded
    (tmp_path / SIDECAR).write_text(f"{sha256(b'x')}  {NAME}\n")
    download_pretrained.main(["--checkpoint-dir", "~", "--url", UNREACHABLE])
    assert f"{tmp_path / NAME} matches its SHA-256" in capsys.readouterr().out


def fetch(tmp_path, url, retries=0, timeout=5.0):
    """fetch() itself, of small bodies, with a check that takes any bytes -> the bytes."""
    args = argparse.Namespace(retries=retries, timeout=timeout)
    session, flags = download_pretrained.make_session(retries), ("--url", "--checkpoint-dir")
    download_pretrained.fetch(session, url, tmp_path / "file.bin", lambda path: None, args, *flags)
    return (tmp_path / "file.bin").read_bytes()


@pytest.mark.parametrize(
    "location, why",
    [
        ("/data.bin", None),  # relative, on the same host: followed (and gzip decoded)
        ("https://localhost:{port}/x", "^localhost:{port} cannot be reached .SSL"),  # followed
        ("http://localhost:{port}/data.bin", "another host over plain http"),
        ("ftp://127.0.0.1/data.bin", "a ftp:// address"),
        ("/loop-b", "more than 10 times in a row .a loop"),
    ],
)
def test_redirects_are_followed_only_to_https_or_on_the_same_host(server, tmp_path, location, why):
    serve(server, "/data.bin", Route(BODY, gzip=True))
    url = serve(server, "/loop-a", Route(status=302, location=location.format(port=server.port)))
    serve(server, "/loop-b", Route(status=307, location="/loop-a"))
    if why is None:
        assert fetch(tmp_path, url) == BODY
    else:
        with pytest.raises(LessonError, match=why.format(port=server.port)):
            fetch(tmp_path, url)


def test_a_drip_shows_progress_and_is_called_stalled_after_the_timeout(server, tmp_path, capsys):
    url = serve(server, "/drip.bin", Route(BODY[:4096], drip=0.02))  # 50 bytes a second
    with pytest.raises(LessonError) as stalled:
        fetch(tmp_path, url, timeout=0.6)
    got = (tmp_path / "file.bin.part").stat().st_size
    assert 5 < got < 1024  # kept, to resume
    assert f"stalled (under 1,024 bytes in 0.6 s) at {got:,} of 4,096" in str(stalled.value)
    counts = re.findall(r"\| *([\d.]+)/4\.00k", capsys.readouterr().err)  # the bar, as it moved
    assert len(set(counts)) > 2 and float(counts[-1]) == got


def test_the_downloads_page_names_the_official_url_and_the_files():
    page = (ROOT / "docs" / "downloads.rst").read_text()
    assert download_pretrained.OFFICIAL_URL in page  # the offline instructions must not drift
    assert f"checkpoints/{NAME}" in page and f"checkpoints/{SIDECAR}" in page


def png(image, format="PNG"):
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def cmp_zip(first=None, second=None):
    """An archive laid out like CMP_facade_DB_base.zip: base/cmp_bNNNN.png (label) and .jpg
    (photo), three of them; `first` and `second` replace the bytes of those labels."""
    rng = np.random.default_rng(0)
    index = rng.integers(1, 13, size=(40, 30), dtype=np.uint8)  # class 1..12 per pixel, not square
    index[0, 0], index[0, 1] = 3, 12
    p_mode = Image.fromarray(index)
    p_mode.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tolist())  # to be ignored
    labels = [first or png(p_mode), second or png(Image.fromarray(index[::-1])), png(p_mode)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, label in enumerate(labels):
            archive.writestr(f"base/cmp_b000{i + 1}.png", label)
            archive.writestr(f"base/cmp_b000{i + 1}.jpg", b"\xff\xd8 a photo")
    return buffer.getvalue(), index


@pytest.fixture
def samples(server, tmp_path, monkeypatch):
    """Runs --samples alone (the weights step is tested above) against a path of the server."""
    monkeypatch.setattr(download_pretrained, "ensure_weights", lambda *args: None)
    folder = str(tmp_path / "cmp")

    def call(path, *extra):
        argv = ["--samples", "--samples-url", server.url + path, "--samples-dir", folder, *extra]
        return run(tmp_path / "checkpoints", UNREACHABLE, *argv)

    return call


def test_samples_from_a_local_zip(samples, server, tmp_path, capsys):
    data, index = cmp_zip()
    serve(server, "/cmp.zip", Route(data))
    samples("/cmp.zip", "--num-samples", "2")
    folder = tmp_path / "cmp"
    assert files(folder) == [
        ZIP,
        ZIP + ".lock",
        "cmp_b0001.png",
        "cmp_b0002.png",
    ]  # --num-samples 2
    first = np.asarray(Image.open(folder / "cmp_b0001.png"))
    expected = PALETTE[np.asarray(Image.fromarray(index).resize((256, 256), Image.NEAREST)) - 1]
    assert first.shape == (256, 256, 3) and (first == expected).all()  # k is PALETTE[k - 1]
    second = np.asarray(Image.open(folder / "cmp_b0002.png"))
    assert (second[-1, 0] == PALETTE[3 - 1]).all()  # the L-mode copy is flipped upside down

    samples("/cmp.zip", "--num-samples", "2")  # the archive is not fetched twice
    assert len(requests_to(server, "/cmp.zip")) == 1
    assert "nothing to download" in capsys.readouterr().out


@pytest.mark.parametrize(
    "data, why",
    [
        (b"<html>moved</html>", "a web page"),
        (cmp_zip(BOMB)[0], "base/cmp_b0001.png would unpack to over 16 MB"),
        (cmp_zip(png(Image.new("L", (30, 40), 3), "JPEG"))[0], "cmp_b0001.png is not an image"),
        (cmp_zip(png(Image.new("RGB", (30, 40))))[0], "cmp_b0001.png is not a 12-class index"),
        (b"PK\3\4" + bytes(100), "not a zip file"),
    ],
    ids=["html", "bomb", "jpeg", "colour", "damaged"],
)
def test_an_archive_that_cannot_be_used_is_not_kept(samples, server, tmp_path, capsys, data, why):
    """A page, a bomb, a JPEG named .png (its noise would change classes), a colour image: refused
    as it arrives, so a rerun downloads again instead of failing on the kept archive every time."""
    url = serve(server, "/bad.zip", Route(data))
    refused(capsys, lambda: samples("/bad.zip"), url, why, "--samples-url")
    assert files(tmp_path / "cmp") == [ZIP + ".lock"]


def test_a_bad_archive_kept_from_before_is_named_not_unpacked(samples, server, tmp_path, capsys):
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / ZIP).write_bytes(cmp_zip(BOMB)[0])
    words = [str(tmp_path / "cmp" / ZIP), "would unpack to over 16 MB", "delete it"]
    refused(capsys, lambda: samples("/never.zip"), *words)
    assert requests_to(server, "/never.zip") == []


def test_a_damaged_label_is_skipped_with_its_reason(samples, server, tmp_path, capsys):
    serve(server, "/damaged.zip", Route(cmp_zip(second=png(Image.new("L", (30, 40), 3))[:60])[0]))
    samples("/damaged.zip", "--num-samples", "3")
    out = capsys.readouterr().out
    assert "skipped 1 label(s) that could not be used, e.g. base/cmp_b0002.png" in out
    assert files(tmp_path / "cmp") == [ZIP, ZIP + ".lock", "cmp_b0001.png", "cmp_b0003.png"]
