"""The facade painter's HTTP server: the page's static files and the small API behind it.

    GET  /palette.json     the 12 CMP classes and their colours (facades_generator.py)
    GET  /samples.json     names of the shipped labels; GET /samples/NAME.png serves one
    GET  /random[?seed=N]  a random label PNG (helpers/facade_labels.py), its design as JSON in
                           the X-Facade-Design header
    GET  /status.json      whether the weights are loaded and, if not, how to get them
    POST /generate         a label image as the body (Content-Type image/png) -> the 256x256
                           facade as image/png

Only requests addressed to this server are answered: the Host header must name the address it
listens on (painter/hosts.py), so a web page that rebinds its own DNS name to 127.0.0.1 gets 403;
and uploads must say they are images, which a cross-site form cannot (it may only send form or
text bodies), so such a post gets 415. Every bad request, other method (405) or oversized header
gets a 4xx and one plain-text sentence. At most DECODE_SLOTS uploads are decoded at once, each
shrunk to the 256x256 the label needs as soon as it is decoded, so memory stays bounded however
many arrive together. facade_painter.py is the command that starts it.
"""

import json
import socket
from concurrent.futures import ThreadPoolExecutor
import threading
import time
import traceback
from dataclasses import asdict, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from facades_generator import load_label
from helpers.lesson import LessonError
from helpers.facade_labels import SAMPLE_LABELS_DIR, draw_facade, random_design
from facades_generator import FACADE_CLASSES
from helpers.lesson import ImageTooLarge, open_image, png_bytes, tensor_to_image
from painter.hosts import accepted_host_names, host_matches, url_host
from pix2pix_models import IMAGE_SIZE, translate

PAGE_DIR = Path(__file__).resolve().parent  # index.html, painter.css, painter.js
STATIC_FILES = {  # URL path -> (file in painter/, content type); nothing else on disk is served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/painter.css": ("painter.css", "text/css; charset=utf-8"),
    "/painter.js": ("painter.js", "text/javascript; charset=utf-8"),
}
PALETTE_JSON = {
    "size": IMAGE_SIZE,
    "classes": [
        {"index": i + 1, "name": n, "rgb": list(c)} for i, (n, c) in enumerate(FACADE_CLASSES)
    ],
}
MAX_BODY_BYTES = 4 * 1024 * 1024  # a 256x256 label PNG is a few kB; room for larger labels
MAX_DISCARD_BYTES = 64 * 1024 * 1024  # what a refused body may be read away of (see _discard)
ACCEPTED_FORMATS = ("PNG", "WEBP", "JPEG", "BMP", "GIF")  # decoded by content, whatever the header
# Content types a cross-site <form> cannot send (it may only send form or text bodies), so a web
# page the student visits cannot post to /generate; and a script that sends any of them needs a
# CORS preflight, which this server never grants.
UPLOAD_TYPES = ("image/png", "image/webp", "image/jpeg", "image/bmp", "image/gif")
MAX_SEED = 2**63 - 1  # numpy's default_rng takes any non-negative int; cap the digits a query sends
# Uploads decoded at the same time. A 4096x4096 upload (MAX_PIXELS) decodes to 48-64 MB, and twenty
# at once took the server from 1.3 to 5 GB; the rest wait their turn, as they do for the model.
DECODE_SLOTS = 2
METHODS = "GET, HEAD, POST"
# Modes whose conversion to RGB is pixel by pixel, so a nearest-neighbour shrink first changes
# nothing (16-bit grey is scaled by its maximum: that one is converted whole).
POINTWISE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")
# http.server's own refusals, which come before any do_<METHOD>: by its message, or its status.
REFUSALS = {
    HTTPStatus.REQUEST_URI_TOO_LONG: "the request line is too long (over 65,536 bytes)",
    "Line too long": "a header is too long (over 65,536 bytes)",
    "Too many headers": "there are too many headers (over 100)",
}
# Offline by construction: the browser may load nothing but this server's own files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


class RequestError(Exception):
    """A bad request: the HTTP status and one short sentence for the page to show."""

    def __init__(self, status, message, unread_bytes=0):
        super().__init__(message)
        self.status, self.message = status, message
        self.unread_bytes = unread_bytes  # body bytes still on the wire, read away after answering


def sample_names():
    """The shipped labels the page may load, by file stem (sample_facades/base/NAME.png)."""
    return sorted(path.stem for path in SAMPLE_LABELS_DIR.glob("*.png"))


def decode_label(body):
    """Request body -> (3, 256, 256) label tensor: any size is resized, any colour snapped to the
    palette. The decoder and its size limit are every script's: helpers.lesson.open_image; a JPEG
    is decoded at the smallest scale that still gives 256x256 (Pillow's draft mode)."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    try:
        image = open_image(
            body, "the body", "send the label as a PNG", ACCEPTED_FORMATS, draft_size=size
        )
    except ImageTooLarge as exc:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc)) from None
    except LessonError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
    if image.mode in POINTWISE_MODES:  # the pixels load_label's nearest-neighbour resize keeps
        image = image.resize(size, Image.NEAREST)
    return load_label(image)


class PainterServer(ThreadingHTTPServer):
    """The HTTP server plus the one generator it shares between request threads."""

    daemon_threads = True  # a stuck client must not keep the process alive after Ctrl+C
    request_queue_size = 64  # a burst of connections waits its turn instead of being reset

    def __init__(self, address, net_G, unavailable_reason=None, quiet=False):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        # Uploads are decoded by DECODE_SLOTS threads of their own, not by the request threads:
        # that bounds the pixels in memory at once, and also the memory the C allocator keeps
        # for later in each thread that once decoded (measured: 360 MB more with a semaphore).
        self.decoder = ThreadPoolExecutor(DECODE_SLOTS, thread_name_prefix="decode")
        super().__init__(address, PainterHandler)  # a busy port: server_close(), then OSError
        host, port = self.server_address[:2]  # port 0 has become a free port
        self.url = f"http://{url_host(host)}:{port}/"
        self.host_names = accepted_host_names(address[0])  # what a Host header may name
        self.net_G = net_G
        self.unavailable_reason = unavailable_reason  # why net_G is None: on the page, with 503
        self.quiet = quiet
        # One forward pass at a time: parallel passes would only fight over the same CPU cores,
        # and a queue keeps each request's result its own.
        self.model_lock = threading.Lock()

    def server_close(self):
        super().server_close()
        self.decoder.shutdown(wait=False, cancel_futures=True)

    def generate(self, label):
        """(3, 256, 256) label -> (PNG bytes of the facade, seconds the forward pass took)."""
        with self.model_lock:
            start = time.perf_counter()
            fake_B = translate(self.net_G, label.unsqueeze(0))  # (1, 3, 256, 256), inference mode
            seconds = time.perf_counter() - start
        return png_bytes(tensor_to_image(fake_B)), seconds


class PainterHandler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0, the default): simple, and plenty for one page."""

    server_version = "FacadePainter/1.0"
    timeout = 30  # seconds a client may stall mid-request before its connection is dropped

    def do_GET(self):  # and HEAD: the same headers, no body (_send)
        if not self._host_is_ours():
            return
        url = urlsplit(self.path)
        path = url.path
        sample = path.removeprefix("/samples/").removesuffix(".png")
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._send(HTTPStatus.OK, content_type, (PAGE_DIR / name).read_bytes())
        elif path == "/palette.json":
            self._send_json(PALETTE_JSON)
        elif path == "/samples.json":
            self._send_json({"samples": sample_names()})
        elif path == f"/samples/{sample}.png" and sample in sample_names():
            png = (SAMPLE_LABELS_DIR / f"{sample}.png").read_bytes()
            self._send(HTTPStatus.OK, "image/png", png)
        elif path == "/random":
            self._send_random(parse_qs(url.query).get("seed", [None])[0])
        elif path == "/status.json":
            ready = self.server.net_G is not None
            self._send_json({"ready": ready, "message": self.server.unavailable_reason})
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
        else:
            self._send_text(HTTPStatus.NOT_FOUND, f"nothing at {path}; open / for the painter.")

    do_HEAD = do_GET

    def do_POST(self):
        try:
            body = self._read_body()  # first: a refused request leaves no unread bytes behind
            if not self._host_is_ours():
                return
            if urlsplit(self.path).path != "/generate":
                raise RequestError(HTTPStatus.NOT_FOUND, "POST a PNG label to /generate.")
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type not in UPLOAD_TYPES:
                raise RequestError(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    f"send the label with Content-Type: image/png (not {content_type or 'none'!r}),"
                    " e.g. curl -H 'Content-Type: image/png'.",
                )
            if self.server.net_G is None:
                raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, self.server.unavailable_reason)
            label = self.server.decoder.submit(decode_label, body).result()
            png, seconds = self.server.generate(label)
        except RequestError as exc:
            self._send_text(exc.status, exc.message)
            if exc.unread_bytes:
                self._discard(exc.unread_bytes)
            return
        except Exception as exc:  # a bug, not a bad request: say so, log it, keep serving
            traceback.print_exc()
            message = f"internal error ({type(exc).__name__})."
            self._send_text(HTTPStatus.INTERNAL_SERVER_ERROR, message)
            return
        self._send(HTTPStatus.OK, "image/png", png, {"X-Inference-Seconds": f"{seconds:.3f}"})
        if not self.server.quiet:
            print(f"generated a facade in {seconds:.2f} s", flush=True)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a malformed request line, a 70 kB header, a method with no
        do_<METHOD>) as one plain-text sentence like every other answer, not its HTML page."""
        self.close_connection = True
        headers = {"Connection": "close"}
        if code == HTTPStatus.NOT_IMPLEMENTED:  # PUT, DELETE, OPTIONS (no CORS preflight) ...
            code, headers["Allow"] = HTTPStatus.METHOD_NOT_ALLOWED, METHODS
            text = f"the painter answers {METHODS} only, not {self.command[:20]!r}"
        else:
            text = REFUSALS.get(message or code) or f"{HTTPStatus(code).phrase} ({message[:80]})"
        self._send(code, "text/plain; charset=utf-8", f"{text}.".encode(), headers)

    def _read_body(self):
        """The request body; RequestError for a missing, malformed or too large Content-Length."""
        length = self.headers.get("Content-Length")
        if length is None:
            message = "send the label with a Content-Length header."
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, message)
        if not (length.strip().isascii() and length.strip().isdigit()):  # "²".isdigit() is True
            message = f"Content-Length {length!r} is not a number of bytes."
            raise RequestError(HTTPStatus.BAD_REQUEST, message)
        length = int(length)
        if length > MAX_BODY_BYTES:
            message = f"the body is {length} bytes; a label may be at most {MAX_BODY_BYTES} bytes."
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message, unread_bytes=length)
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            body = b""
        if len(body) < length:
            message = "the body ended before Content-Length bytes arrived."
            raise RequestError(HTTPStatus.BAD_REQUEST, message)
        return body

    def _discard(self, length):
        """Read a refused body away (up to a limit): closing with unread data would reset the
        connection, and the client would never see our 413."""
        self.connection.settimeout(2)
        remaining = min(length, MAX_DISCARD_BYTES)
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(65536, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _host_is_ours(self):
        """True if the Host header names this server (painter/hosts.py); else answer 403, or 400
        without a Host header, and return False."""
        host = self.headers.get("Host")
        port = self.server.server_address[1]
        if host is not None and host_matches(host, self.server.host_names, port):
            return True
        url = self.server.url
        if host is None:
            self._send_text(HTTPStatus.BAD_REQUEST, f"send a Host header; the painter is at {url}.")
        else:
            message = f"this painter answers requests for {url} only, not for Host {host[:80]!r}"
            self._send_text(HTTPStatus.FORBIDDEN, f"{message}; open {url} in your browser.")
        return False

    def _send_random(self, seed):
        if seed is not None and not (seed.isascii() and seed.isdigit() and int(seed) <= MAX_SEED):
            message = f"seed must be a whole number from 0 to {MAX_SEED}, not {seed[:40]!r}."
            self._send_text(HTTPStatus.BAD_REQUEST, message)
            return
        design = random_design(np.random.default_rng(None if seed is None else int(seed)))
        # Two decimals keep the design short enough to retype (the page shows it as a command).
        rounded = {k: round(v, 2) for k, v in asdict(design).items() if isinstance(v, float)}
        design = replace(design, **rounded)
        spec = json.dumps(asdict(design), separators=(",", ":"))
        self._send(
            HTTPStatus.OK, "image/png", png_bytes(draw_facade(design)), {"X-Facade-Design": spec}
        )

    def _send_json(self, payload):
        self._send(HTTPStatus.OK, "application/json", json.dumps(payload).encode())

    def _send_text(self, status, message):
        self._send(status, "text/plain; charset=utf-8", message.encode())

    def _send(self, status, content_type, body, headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away; nothing to tell it

    def log_message(self, format, *args):
        if not self.server.quiet:
            super().log_message(format, *args)
