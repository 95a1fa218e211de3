"""What the download test files share: the HTTP server they start on 127.0.0.1, where each path
serves a Route that says how to misbehave (cut the body, ignore Range, drip, compress, redirect,
say nothing), and running download_pretrained.py against it.

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
    content_type: str = "application/octet-stream"
    ranges: bool = True  # answer Range requests with 206
    cuts: list = field(default_factory=list)  # per request: stop after so many bytes (None: don't)
    declared_length: int = None  # Content-Length to claim instead of the true one
    location: str = None  # with a 3xx status: where to
    drip: float = None  # seconds between single bytes
    gzip: bool = False  # send the body with Content-Encoding: gzip, whatever was asked
    silent: bool = False  # accept the request, then answer nothing


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        route = server.routes.get(self.path)
        if route is not None and route.silent:
            self.connection.settimeout(30)
            self.connection.recv(1)  # until the client gives up and hangs up
            self.close_connection = True
            return
        if route is None or route.status != 200:
            self.send_response(404 if route is None else route.status)
            if route is not None and route.location:
                self.send_header("Location", route.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, start = memoryview(route.body), 0
        if route.gzip:
            body = memoryview(gzip.compress(route.body))
        range_header = self.headers.get("Range")
        if range_header and route.ranges and not route.gzip:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", route.content_type)
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
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def serve(server, path, route):
    server.routes[path] = route
    return server.url + path


def requests_to(server, path):
    return [r for p, r in server.log if p == path]


def run(tmp_path, url, *extra):
    return download_pretrained.main(
        [
            "--checkpoint-dir",
            str(tmp_path),
            "--url",
            url,
            "--retries",
            "2",
            "--timeout",
            "5",
            *extra,
        ]
    )


def assert_fails(capsys, tmp_path, argv_runner, *words):
    """Exit code 2, one `error:` sentence containing `words`, and no file under the final name."""
    with pytest.raises(SystemExit) as exc:
        argv_runner()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and err.endswith(".") and "Traceback" not in err
    for word in words:
        assert word in err, err
    assert not (tmp_path / NAME).exists()
    return err
