"""helpers/download.py against servers that misbehave at the HTTP level, on 127.0.0.1: redirects
(safe, unsafe, looping), a 1-byte-per-second drip, a Content-Length larger than the body, a server
that ignores Range, a gzip-compressed body, and one that never answers. Each download either ends
with the right bytes or stops with one sentence that names the host and what happened.

fetch() is called directly, with small bodies and a check that accepts any bytes.
"""

import re

import pytest

from helpers import download
from helpers.lesson import LessonError
from tests import download_support
from tests.download_support import Route, requests_to, serve

server = download_support.server  # the module's HTTP server on 127.0.0.1 (a fixture)
BODY = bytes(range(256)) * 6144  # 1.5 MiB
OFFLINE = "copy it here by hand"


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_FACTOR", 0.0)


def fetch(tmp_path, url, retries=1, timeout=5.0):
    """Download `url` to tmp_path/file.bin -> its bytes (LessonError if it failed)."""
    final = tmp_path / "file.bin"
    session = download.make_session(retries)
    download.fetch(
        session,
        url,
        final,
        lambda path, url: None,
        timeout=timeout,
        retries=retries,
        url_flag="--url",
        dir_flag="--checkpoint-dir",
        offline=OFFLINE,
    )
    return final.read_bytes()


def test_redirects_on_the_same_host_or_to_https_are_followed(server, tmp_path):
    serve(server, "/data.bin", Route(BODY))
    serve(server, "/moved", Route(status=301, location="/data.bin"))  # relative, same host
    assert fetch(tmp_path, server.url + "/moved") == BODY
    # To https, on another host name: followed, and a failure there names that host.
    port = server.server_address[1]
    url = serve(server, "/to-https", Route(status=302, location=f"https://localhost:{port}/x"))
    with pytest.raises(LessonError, match=f"^cannot reach localhost:{port} \\(SSLError\\)"):
        fetch(tmp_path, url, retries=0)


@pytest.mark.parametrize(
    "location, why",
    [
        ("http://localhost:{port}/data.bin", "another host over plain http, which is not followed"),
        ("ftp://127.0.0.1/data.bin", "a ftp:// address, which this script cannot fetch"),
        ("/loop-b", "an address it came from: a redirect loop"),
    ],
)
def test_unsafe_redirects_and_loops_are_named(server, tmp_path, location, why):
    location = location.format(port=server.server_address[1])
    url = serve(server, "/loop-a", Route(status=302, location=location))
    serve(server, "/loop-b", Route(status=307, location="/loop-a"))
    with pytest.raises(LessonError) as refused:
        fetch(tmp_path, url)
    target = location if "//" in location else server.url + "/loop-a"
    start = server.url + ("/loop-b" if location == "/loop-b" else "/loop-a")
    assert str(refused.value) == (
        f"{start} redirects to {target}, {why}; give the file's own address with --url."
    )
    assert not list(tmp_path.iterdir())


def test_a_drip_shows_progress_and_is_called_stalled_after_the_timeout(server, tmp_path, capsys):
    url = serve(server, "/drip.bin", Route(BODY[:4096], drip=0.02))  # 50 bytes a second
    with pytest.raises(LessonError) as stalled:
        fetch(tmp_path, url, retries=0, timeout=0.6)
    got = (tmp_path / "file.bin.part").stat().st_size
    assert 5 < got < 1024  # kept, to resume
    assert str(stalled.value) == (
        f"the download of {url} stalled at {got:,} of 4,096 bytes (under 1,024 bytes in 0.6 s); "
        f"run the same command again to resume it from {tmp_path / 'file.bin.part'}."
    )
    counts = re.findall(r"\| *([\d.]+)/4\.00k", capsys.readouterr().err)  # the bar, as it moved
    assert len(set(counts)) > 2 and float(counts[-1]) == got


def test_a_body_shorter_than_its_length_keeps_every_byte_it_got(server, tmp_path):
    """A server that ignores Range: each try starts over, none loses its last bytes, and the end
    does not promise a resume that cannot happen."""
    route = Route(BODY, ranges=False, declared_length=2 * len(BODY))
    url = serve(server, "/short.bin", route)
    with pytest.raises(LessonError) as short:
        fetch(tmp_path, url, retries=2)
    host = f"127.0.0.1:{server.server_address[1]}"
    assert str(short.value) == (
        f"the download of {url} stopped at {len(BODY):,} of {2 * len(BODY):,} bytes on each of "
        f"3 tries, and {host} cannot resume one; run the same command again to start over, or "
        f"{OFFLINE}."
    )
    assert requests_to(server, "/short.bin") == [None, f"bytes={len(BODY)}-", None]
    assert not list(tmp_path.iterdir())  # no partial file that no server can resume


def test_a_server_that_ignores_range_is_restarted_cleanly(server, tmp_path, capsys):
    url = serve(server, "/norange.bin", Route(BODY, ranges=False, cuts=[len(BODY) - 1000]))
    assert fetch(tmp_path, url, retries=1) == BODY
    assert requests_to(server, "/norange.bin") == [None, f"bytes={len(BODY) - 1000}-"]
    assert "cannot resume a download (it ignores Range requests); starting from byte 0" in (
        capsys.readouterr().out
    )


def test_a_gzip_compressed_body_is_decoded(server, tmp_path):
    url = serve(server, "/gzip.bin", Route(BODY, gzip=True))
    assert fetch(tmp_path, url) == BODY
    assert len(requests_to(server, "/gzip.bin")) == 1


def test_a_server_that_never_answers_is_not_answering_not_unreachable(server, tmp_path, capsys):
    url = serve(server, "/silent.bin", Route(silent=True))
    with pytest.raises(LessonError) as silent:
        fetch(tmp_path, url, retries=1, timeout=0.5)
    host = f"127.0.0.1:{server.server_address[1]}"
    assert str(silent.value) == (
        f"{host} is not answering (nothing came within --timeout); try again later, give a "
        f"mirror with --url, or {OFFLINE}."
    )
    assert "127.0.0.1 is not answering (nothing within the timeout); trying again" in (
        capsys.readouterr().out
    )
