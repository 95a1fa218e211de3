"""The download against servers on 127.0.0.1 that misbehave at the HTTP level: redirects (safe,
unsafe, looping), a drip, a gzip-compressed body, one that never answers. fetch() is called
directly, with small bodies and a check that accepts any bytes."""

import re

import pytest

import download_pretrained
from helpers.lesson import LessonError
from tests import download_support
from tests.download_support import Route, serve

server = download_support.server  # the module's HTTP server on 127.0.0.1 (a fixture)
no_backoff = download_support.no_backoff
BODY = bytes(range(256)) * 6144  # 1.5 MiB


def fetch(tmp_path, url, retries=1, timeout=5.0):
    """Download `url` to tmp_path/file.bin -> its bytes (LessonError if it failed)."""
    args = download_pretrained.parse_args(["--retries", str(retries), "--timeout", str(timeout)])
    session = download_pretrained.make_session(retries)
    flags = ("--url", "--checkpoint-dir")
    download_pretrained.fetch(session, url, tmp_path / "file.bin", lambda path: None, args, *flags)
    return (tmp_path / "file.bin").read_bytes()


def test_redirects_on_the_same_host_or_to_https_are_followed(server, tmp_path):
    serve(server, "/data.bin", Route(BODY))
    serve(server, "/moved", Route(status=301, location="/data.bin"))  # relative, same host
    assert fetch(tmp_path, server.url + "/moved") == BODY
    # To https, on another host name: followed, and a failure there names that host.
    port = server.server_address[1]
    url = serve(server, "/to-https", Route(status=302, location=f"https://localhost:{port}/x"))
    with pytest.raises(LessonError, match=f"^localhost:{port} cannot be reached \\(SSLError\\)"):
        fetch(tmp_path, url, retries=0)


@pytest.mark.parametrize(
    "location, why",
    [
        ("http://localhost:{port}/data.bin", "another host over plain http"),
        ("ftp://127.0.0.1/data.bin", "a ftp:// address"),
        ("/loop-b", "a redirect loop"),
    ],
)
def test_unsafe_redirects_and_loops_are_named(server, tmp_path, location, why):
    url = serve(server, "/loop-a", Route(status=302, location=location.format(port=server.port)))
    serve(server, "/loop-b", Route(status=307, location="/loop-a"))
    with pytest.raises(LessonError, match=f"redirects to .*{why}.*--url") as refused:
        fetch(tmp_path, url)
    assert str(refused.value).startswith(server.url) and not list(tmp_path.iterdir())


def test_a_drip_shows_progress_and_is_called_stalled_after_the_timeout(server, tmp_path, capsys):
    url = serve(server, "/drip.bin", Route(BODY[:4096], drip=0.02))  # 50 bytes a second
    with pytest.raises(LessonError) as stalled:
        fetch(tmp_path, url, retries=0, timeout=0.6)
    got = (tmp_path / "file.bin.part").stat().st_size
    assert 5 < got < 1024  # kept, to resume
    assert f"stalled at {got:,} of 4,096 bytes (under 1,024 bytes in 0.6 s)" in str(stalled.value)
    assert "to resume it from" in str(stalled.value)
    counts = re.findall(r"\| *([\d.]+)/4\.00k", capsys.readouterr().err)  # the bar, as it moved
    assert len(set(counts)) > 2 and float(counts[-1]) == got


def test_a_gzip_compressed_body_is_decoded(server, tmp_path):
    assert fetch(tmp_path, serve(server, "/gzip.bin", Route(BODY, gzip=True))) == BODY


def test_a_server_that_never_answers_is_not_answering_not_unreachable(server, tmp_path, capsys):
    url = serve(server, "/silent.bin", Route(silent=True))
    with pytest.raises(LessonError, match=f"^127.0.0.1:{server.port} is not answering"):
        fetch(tmp_path, url, retries=1, timeout=0.5)
    assert "127.0.0.1 is not answering (nothing came within --timeout); trying again" in (
        capsys.readouterr().out
    )
