"""Paint a facade label map in the browser and watch the pretrained pix2pix generator build the facade.

    python facade_painter.py                       # then open http://127.0.0.1:8000/
    python facade_painter.py --port 8080 --device cpu --checkpoint checkpoints/facades_generator.pth

Writes no files: the page's download buttons save the label and the facade from the browser.
The page is static HTML/CSS/JS in painter/ and uses this small HTTP API:

    GET  /palette.json       the 12 CMP classes and their colours (facades_generator.FACADE_CLASSES)
    GET  /samples.json       names of the shipped labels; GET /samples/NAME.png serves one
    GET  /random[?seed=N]    a random label PNG from helpers/facade_labels.py (its design as JSON in X-Facade-Design)
    GET  /status.json        whether the weights are loaded and, if not, how to get them
    POST /generate           a PNG label as the body -> the generated 256x256 facade as image/png

Without weights the page still loads and says how to fetch them; /generate then answers 503.
"""

import io
import ipaddress
import json
import socket
import threading
import time
import traceback
from dataclasses import asdict, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image, UnidentifiedImageError

from facades_generator import (CLASS_COLORS, DEFAULT_CHECKPOINT, FACADE_CLASSES, SAMPLE_LABELS_DIR,
                               create_facades_generator, load_label, translate)
from helpers.cli import ArgumentParser, LessonError, add_device_argument, choose_device, fail
from helpers.facade_labels import draw_facade, random_design
from helpers.images import tensor_to_image
from pix2pix_models import IMAGE_SIZE

PAGE_DIR = Path(__file__).resolve().parent / "painter"
STATIC_FILES = {  # URL path -> (file in painter/, content type); nothing else on disk is ever served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/painter.css": ("painter.css", "text/css; charset=utf-8"),
    "/painter.js": ("painter.js", "text/javascript; charset=utf-8"),
}
MAX_BODY_BYTES = 4 * 1024 * 1024  # a 256x256 label PNG is a few kB; room for bigger labels that get resized
MAX_PIXELS = 4096 * 4096  # a few kB of PNG can unpack to gigabytes: refuse such images before decoding
MAX_DISCARD_BYTES = 64 * 1024 * 1024  # how much of a refused body we read away so the client sees our answer
ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
# Offline by construction: the browser may load nothing but this server's own files.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'")


class RequestError(Exception):
    """A bad request: the HTTP status and one short sentence for the page to show."""

    def __init__(self, status, message, unread_bytes=0):
        super().__init__(message)
        self.status, self.message = status, message
        self.unread_bytes = unread_bytes  # body bytes still on the wire, to read away after answering


def sample_names():
    """The shipped labels the page may load, by file stem (sample_facades/base/NAME.png)."""
    return sorted(path.stem for path in SAMPLE_LABELS_DIR.glob("*.png"))


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decode_label(body):
    """Request body -> (3, 256, 256) label tensor: any size is resized, any colour snapped to the palette."""
    try:
        image = Image.open(io.BytesIO(body), formats=ACCEPTED_FORMATS)  # reads the header only
        too_big = image.width * image.height > MAX_PIXELS
        if not too_big:
            image.verify()  # reads every chunk and checksum: a PNG cut short fails even if its pixels decode
            image = Image.open(io.BytesIO(body), formats=ACCEPTED_FORMATS)  # verify() used the first one up
            image.load()
    except UnidentifiedImageError:
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not an image; send the label as a PNG.") from None
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        too_big = True
    except Exception as exc:  # Pillow reports damaged files as OSError, SyntaxError, ValueError, EOFError...
        raise RequestError(HTTPStatus.BAD_REQUEST, f"the image is damaged or cut short ({exc}).") from None
    if too_big:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the image has more than 4096x4096 pixels.")
    return load_label(image)


class PainterServer(ThreadingHTTPServer):
    """The HTTP server plus the one generator it shares between request threads."""

    daemon_threads = True  # a stuck client must not keep the process alive after Ctrl+C

    def __init__(self, address, net_G, unavailable_reason=None, quiet=False):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, PainterHandler)
        self.net_G = net_G
        self.unavailable_reason = unavailable_reason  # why net_G is None: shown on the page, sent with 503
        self.quiet = quiet
        # One forward pass at a time: parallel passes would only fight over the same CPU cores, and
        # a queue keeps each request's result its own.
        self.model_lock = threading.Lock()

    def generate(self, label):
        """(3, 256, 256) label -> (PNG bytes of the facade, seconds the forward pass took)."""
        with self.model_lock:
            start = time.perf_counter()
            fake_B = translate(self.net_G, label.unsqueeze(0))[0]  # translate runs under inference_mode
            seconds = time.perf_counter() - start
        return png_bytes(tensor_to_image(fake_B)), seconds


class PainterHandler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0, the default): simple, and plenty for one page."""

    server_version = "FacadePainter/1.0"
    timeout = 30  # seconds a client may stall mid-request before its connection is dropped

    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._send(HTTPStatus.OK, content_type, (PAGE_DIR / name).read_bytes())
        elif path == "/palette.json":
            classes = [{"index": i + 1, "name": name, "rgb": list(rgb)} for i, (name, rgb) in enumerate(FACADE_CLASSES)]
            self._send_json({"size": IMAGE_SIZE, "classes": classes})
        elif path == "/samples.json":
            self._send_json({"samples": sample_names()})
        elif path.startswith("/samples/") and path.endswith(".png") and path[len("/samples/"):-4] in sample_names():
            self._send(HTTPStatus.OK, "image/png", (SAMPLE_LABELS_DIR / path[len("/samples/"):]).read_bytes())
        elif path == "/random":
            self._send_random(parse_qs(url.query).get("seed", [None])[0])
        elif path == "/status.json":
            self._send_json({"ready": self.server.net_G is not None, "message": self.server.unavailable_reason})
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
        else:
            self._send_text(HTTPStatus.NOT_FOUND, f"nothing at {path}; open / for the painter.")

    def do_POST(self):
        try:
            body = self._read_body()  # first, so that a refused request leaves no unread bytes behind
            if urlsplit(self.path).path != "/generate":
                raise RequestError(HTTPStatus.NOT_FOUND, "POST a PNG label to /generate.")
            if self.server.net_G is None:
                raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, self.server.unavailable_reason)
            png, seconds = self.server.generate(decode_label(body))
        except RequestError as exc:
            self._send_text(exc.status, exc.message)
            if exc.unread_bytes:
                self._discard(exc.unread_bytes)
            return
        except Exception as exc:  # a bug, not a bad request: say so, log it, keep serving
            traceback.print_exc()
            self._send_text(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__}).")
            return
        self._send(HTTPStatus.OK, "image/png", png, {"X-Inference-Seconds": f"{seconds:.3f}"})
        if not self.server.quiet:
            print(f"generated a facade in {seconds:.2f} s", flush=True)

    def _read_body(self):
        """The request body, or a RequestError for a missing, malformed or too large Content-Length."""
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the label with a Content-Length header.")
        if not length.strip().isdigit():
            raise RequestError(HTTPStatus.BAD_REQUEST, f"Content-Length {length!r} is not a number of bytes.")
        length = int(length)
        if length > MAX_BODY_BYTES:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"the body is {length} bytes; a label may be at most {MAX_BODY_BYTES} bytes.",
                               unread_bytes=length)
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            body = b""
        if len(body) < length:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body ended before Content-Length bytes arrived.")
        return body

    def _discard(self, length):
        """Read a refused body away (up to a limit): closing with unread data would reset the connection
        and the client would never see our 413."""
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

    def _send_random(self, seed):
        if seed is not None and not seed.isdigit():
            self._send_text(HTTPStatus.BAD_REQUEST, f"seed must be a whole number, not {seed!r}.")
            return
        design = random_design(np.random.default_rng(None if seed is None else int(seed)))
        # Two decimals keep the design short enough to retype (the page shows it as a command).
        design = replace(design, **{k: round(v, 2) for k, v in asdict(design).items() if isinstance(v, float)})
        self._send(HTTPStatus.OK, "image/png", png_bytes(draw_facade(design)),
                   {"X-Facade-Design": json.dumps(asdict(design), separators=(",", ":"))})

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
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away; nothing to tell it

    def log_message(self, format, *args):
        if not self.server.quiet:
            super().log_message(format, *args)


def is_loopback(host):
    """True when only this computer can reach `host` (127.x.x.x, ::1, localhost)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def load_model(checkpoint, device, fast):
    """Load G once, before serving. Returns (net_G, None), or (None, why) so the page can still explain."""
    try:
        net_G = create_facades_generator(checkpoint, device=device)
    except LessonError as exc:
        return None, f"{exc} Then restart facade_painter.py."
    if fast:
        from speed import fast_generator  # opt-in speed (speed/, docs/speed.rst); prints what it switches on
        net_G = fast_generator(net_G, device)
    blank = load_label(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), CLASS_COLORS["background"])).unsqueeze(0)
    translate(net_G, blank)  # the first pass sets up kernels and memory: do it before a student waits
    start = time.perf_counter()
    translate(net_G, blank)
    print(f"Loaded {checkpoint}; one facade takes {time.perf_counter() - start:.2f} s on {device}", flush=True)
    return net_G, None


def main(argv=None):
    parser = ArgumentParser(description="A web page to paint facade labels and generate facades.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, reachable from this computer only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="facades generator weights (default: checkpoints/facades_generator.pth)")
    add_device_argument(parser)
    parser.add_argument("--fast", action="store_true",
                        help="a faster copy of the network (bf16/fp16 where native, CPU kernels); default: exact fp32")
    args = parser.parse_args(argv)

    try:
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    print(f"Facade painter: host {args.host}, port {args.port}, checkpoint {args.checkpoint}, device {device}",
          flush=True)
    try:  # take the port before the slow model load, so a busy port fails at once
        server = PainterServer((args.host, args.port), None)
    except OSError as exc:
        fail(f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another port with --port.")
    server.net_G, server.unavailable_reason = load_model(args.checkpoint, device, args.fast)
    if server.net_G is None:
        print(f"warning: {server.unavailable_reason} The page loads, but cannot generate.", flush=True)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this computer on the network "
              "can use the painter. Use --host 127.0.0.1 to keep it private.", flush=True)
    host, port = server.server_address[:2]
    url_host = f"[{host}]" if ":" in host else host
    print(f"Facade painter running at http://{url_host}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.")
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
