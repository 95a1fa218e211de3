"""The facade painter's HTTP server: the page's static files and the small API behind it.

    GET  /palette.json     the 12 CMP classes and their colours (facades_generator.py)
    GET  /samples.json     names of the shipped labels; GET /samples/NAME.png serves one
    GET  /random[?seed=N]  a random label PNG, its design as JSON in the X-Facade-Design header
    GET  /status.json      whether the weights are loaded and, if not, how to get them
    POST /generate         a label image as the body -> the 256x256 facade as image/png

Every refusal is a 4xx with one plain-text sentence. facade_painter.py starts it (docs/painter.rst).
"""

import contextlib
import ipaddress
import json
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from facades_generator import FACADE_CLASSES, SAMPLE_LABELS_DIR, load_label
from helpers.facade_labels import CHOICES, FacadeDesign, draw_facade
from helpers.lesson import LessonError, ImageTooLarge, open_image, png_bytes, tensor_to_image
from pix2pix_models import IMAGE_SIZE, translate

PAGE_DIR = Path(__file__).resolve().parent
STATIC_FILES = {  # URL path -> (file in painter/, content type); nothing else on disk is served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/painter.css": ("painter.css", "text/css; charset=utf-8"),
    "/painter.js": ("painter.js", "text/javascript; charset=utf-8"),
}
SAMPLES = sorted(path.stem for path in SAMPLE_LABELS_DIR.glob("*.png"))  # served by name only
CLASSES = [{"index": i, "name": n, "rgb": c} for i, (n, c) in enumerate(FACADE_CLASSES, 1)]
MAX_BODY_BYTES = 4 * 1024 * 1024  # a 256x256 label PNG is a few kB; room for larger labels
ACCEPTED_FORMATS = ("PNG", "WEBP", "JPEG", "BMP", "GIF")  # decoded by content, whatever the header
# A cross-site <form> can only send form or text bodies, and a script that sends an image type
# needs a CORS preflight, which this server never grants: so no other web site can post here.
UPLOAD_TYPES = ("image/png", "image/webp", "image/jpeg", "image/bmp", "image/gif")
MAX_SEED = 2**63 - 1  # numpy's default_rng takes any non-negative int; cap the digits a query sends
# A 4096x4096 upload (MAX_PIXELS) decodes to 48-64 MB: twenty decoded at once took the server from
# 1.3 to 5 GB. So uploads are decoded in two threads of their own, not by the request threads (that
# also bounds the memory each thread's allocator keeps: 360 MB more with a semaphore instead).
DECODER = ThreadPoolExecutor(2, thread_name_prefix="decode")
METHODS = "GET, HEAD, POST"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
TEXT = "text/plain; charset=utf-8"
REFUSALS = {  # http.server's own refusals, before any do_<METHOD>: by its message, or its status
    HTTPStatus.REQUEST_URI_TOO_LONG: "the request line is too long (over 65,536 bytes)",
    "Line too long": "a header is too long (over 65,536 bytes)",
    "Too many headers": "there are too many headers (over 100)",
}
SAFE_HEADERS = {  # on every answer. The CSP: the page may load nothing but this server's files.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
}


def random_design(rng):
    """A plausible random facade: the "random facade" button's."""
    return FacadeDesign(
        floors=int(rng.integers(2, 7)),
        windows_per_floor=int(rng.integers(2, 7)),
        window_width=float(rng.uniform(0.35, 0.65)),
        window_height=float(rng.uniform(0.4, 0.65)),
        irregular=float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.8)])),
        door=str(rng.choice(CHOICES["door"][:3])),
        balconies=str(rng.choice(CHOICES["balconies"])),
        shop_front=bool(rng.random() < 0.5),
        moldings=bool(rng.random() < 0.8),
        cornice=bool(rng.random() < 0.8),
        blinds=float(rng.choice([0.0, 0.3, 0.7])),
        pillars=bool(rng.random() < 0.3),
        seed=int(rng.integers(0, 2**31)),
    )


def ip_address(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:  # a host name: it may resolve to anything
        return None


def is_loopback(host):
    """True when only this computer can reach `host` (127.x.x.x, ::1, localhost)."""
    return host == "localhost" or getattr(ip_address(host), "is_loopback", False)


def names_this_server(header, host, port):
    """True if a Host header names the server on host:port: the defence against DNS rebinding (a
    page points its own name at 127.0.0.1; the browser still sends that name). A loopback server
    also answers to its loopback names; one on 0.0.0.0 to those and any IP, which cannot rebind."""
    try:
        url = urlsplit(f"//{header.strip()}")  # name or name:port, IPv6 in brackets
        name, named_port = url.hostname, url.port
    except ValueError:  # a port that is not a number
        return False
    everywhere = getattr(ip_address(host), "is_unspecified", False)
    names = {host.lower()} | (LOOPBACK_NAMES if everywhere or is_loopback(host) else set())
    return named_port in (None, port) and (name in names or everywhere and bool(ip_address(name)))


class RequestError(Exception):
    """A bad request: (HTTP status, one sentence for the page[, body bytes still on the wire])."""


def decode_label(body):
    """Request body -> (3, 256, 256) label, by every script's decoder (a JPEG drafted to 256)."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    try:
        image = open_image(body, "the body", "send the label as a PNG", ACCEPTED_FORMATS, size)
    except ImageTooLarge as exc:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc)) from None
    except LessonError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
    # 16-bit and float grey are scaled as a whole; other modes convert pixel by pixel: shrink first
    if not image.mode.startswith(("I", "F")):
        image = image.resize(size, Image.NEAREST)
    return load_label(image)


def random_label(seed):
    """/random: (content type, PNG of a random label, its design as a header); `seed` a query."""
    if seed is not None and not (seed.isascii() and seed.isdigit() and int(seed) <= MAX_SEED):
        message = f"seed must be a whole number from 0 to {MAX_SEED}, not {seed[:40]!r}."
        raise RequestError(HTTPStatus.BAD_REQUEST, message)
    design = random_design(np.random.default_rng(None if seed is None else int(seed)))
    # Two decimals keep the design short enough to retype (the page shows it as a command).
    rounded = {k: round(v, 2) for k, v in asdict(design).items() if isinstance(v, float)}
    design = replace(design, **rounded)
    spec = json.dumps(asdict(design), separators=(",", ":"))
    return "image/png", png_bytes(draw_facade(design)), {"X-Facade-Design": spec}


class PainterServer(ThreadingHTTPServer):
    """The HTTP server plus the one generator it shares between request threads."""

    daemon_threads = True  # a stuck client must not keep the process alive after Ctrl+C
    request_queue_size = 64  # a burst of connections waits its turn instead of being reset

    def __init__(self, address, net_G, unavailable_reason=None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, PainterHandler)  # a busy port: server_close(), then OSError
        self.host, (bound, self.port) = address[0], self.server_address[:2]  # port 0: a free one
        self.url = f"http://{f'[{bound}]' if ':' in bound else bound}:{self.port}/"
        self.net_G, self.unavailable_reason = net_G, unavailable_reason  # why net_G is None
        self.model_lock = threading.Lock()


class PainterHandler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0, the default): simple, and plenty for one page."""

    timeout = 30  # seconds a client may stall mid-request before its connection is dropped

    def do_GET(self):  # and HEAD: the same headers, no body (_send)
        self._answer(self._get)

    do_HEAD = do_GET

    def do_POST(self):
        self._answer(self._generate)

    def _answer(self, route):
        """Send what `route(url)` returns with 200, a RequestError as its status and sentence."""
        try:
            self._send(HTTPStatus.OK, *route(urlsplit(self.path)))
        except RequestError as exc:
            status, message, *unread = exc.args
            self._send(status, TEXT, message.encode())
            if unread:  # read the refused body away (to a limit): closing on it resets the link
                self.connection.settimeout(2)
                remaining = min(unread[0], 64 * 1024 * 1024)
                with contextlib.suppress(OSError):
                    while remaining > 0 and (chunk := self.rfile.read(min(65536, remaining))):
                        remaining -= len(chunk)
        except Exception as exc:  # a bug, not a bad request: say so, log it, keep serving
            traceback.print_exc()
            self._send(500, TEXT, f"internal error ({type(exc).__name__}).".encode())

    def _get(self, url):
        self._check_host()
        path, sample = url.path, url.path.removeprefix("/samples/").removesuffix(".png")
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            return content_type, (PAGE_DIR / name).read_bytes()
        if path == f"/samples/{sample}.png" and sample in SAMPLES:
            return "image/png", (SAMPLE_LABELS_DIR / f"{sample}.png").read_bytes()
        if path == "/random":
            return random_label(parse_qs(url.query).get("seed", [None])[0])
        status = {"ready": self.server.net_G is not None, "message": self.server.unavailable_reason}
        routes = {"/palette.json": {"classes": CLASSES}, "/samples.json": {"samples": SAMPLES}}
        routes["/status.json"] = status
        if path not in routes:
            raise RequestError(HTTPStatus.NOT_FOUND, f"nothing at {path}; open / for the painter.")
        return "application/json", json.dumps(routes[path]).encode()

    def _generate(self, url):
        body = self._read_body()  # first: a refused request leaves no unread bytes behind
        self._check_host()
        if url.path != "/generate":
            raise RequestError(HTTPStatus.NOT_FOUND, "POST a PNG label to /generate.")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in UPLOAD_TYPES:
            message = f"send the label as Content-Type: image/png, not {content_type or 'none'!r}."
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, message)
        if self.server.net_G is None:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, self.server.unavailable_reason)
        label = DECODER.submit(decode_label, body).result()
        with self.server.model_lock:  # one pass at a time: parallel ones fight over the cores
            start = time.perf_counter()
            fake_B = translate(self.server.net_G, label.unsqueeze(0))  # (1, 3, 256, 256)
            seconds = time.perf_counter() - start
        png = png_bytes(tensor_to_image(fake_B))
        return "image/png", png, {"X-Inference-Seconds": f"{seconds:.3f}"}

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
        self._send(code, TEXT, f"{text}.".encode(), headers)

    def _read_body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header.")
        if not (length.strip().isascii() and length.strip().isdigit()):  # "²".isdigit() is True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"Content-Length {length!r}: not a number.")
        length, body = int(length), b""
        if length > MAX_BODY_BYTES:
            message = f"the body is {length} bytes; a label may be at most {MAX_BODY_BYTES} bytes."
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message, length)
        with contextlib.suppress(TimeoutError):
            body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body is shorter than Content-Length.")
        return body

    def _check_host(self):
        host, url = self.headers.get("Host"), self.server.url
        if host is None:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"send a Host header; open {url}.")
        if not names_this_server(host, self.server.host, self.server.port):
            message = f"this painter answers requests for {url} only, not for Host {host[:80]!r}"
            raise RequestError(HTTPStatus.FORBIDDEN, f"{message}; open {url} in your browser.")

    def _send(self, status, content_type, body, headers=None):
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the browser went away
            self.send_response(status)
            headers = {"Content-Type": content_type, "Content-Length": len(body), **(headers or {})}
            for key, value in {**SAFE_HEADERS, **headers}.items():
                self.send_header(key, str(value))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
