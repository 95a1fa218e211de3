"""What the download tests share: an HTTP server on 127.0.0.1 where each path serves a Route that
says how to misbehave, and running download_pretrained.py against it in-process.

    server = download_support.server  # in a test module: the module's server, a fixture
"""

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import download_pretrained

NAME = "facades_generator.pth"


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
    silent: bool = False  # accept the request, then answer nothing
    gate: threading.Event = None  # answer only once the test sets it


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.log.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path, Route(status=404))
        if route.gate:
            route.gate.wait(60)
        if route.silent:
            self.connection.settimeout(30)
            self.connection.recv(1)  # until the client gives up and hangs up
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        start = int((self.headers.get("Range") or "bytes=0-")[6:].split("-")[0])
        if not route.ranges or route.gzip:
            start = 0
        if route.status != 200 or (start and start >= len(body)):
            status = 416 if route.status == 200 else route.status
            self.send_response(status)
            if route.location:
                self.send_header("Location", route.location)
            if status == 416:
                self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if route.gzip:
            self.send_header("Content-Encoding", "gzip")
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

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.log = {}, []
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
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
    """Exit status 2 and one last `error:` sentence holding `words` (after any progress bar)."""
    with pytest.raises(SystemExit) as exc:
        call()
    err = capsys.readouterr().err
    line = err.rsplit("\r", 1)[-1].strip().splitlines()[-1]
    assert exc.value.code == 2 and "Traceback" not in err
    assert line.startswith("error: ") and line.endswith("."), line
    for word in words:
        assert word in line, line
    return line
