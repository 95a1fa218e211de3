"""The facade painter: its HTTP API, its limits, its command line, and the page in headless Chromium
(Playwright). The generator is tiny with random weights: its facades are noise, never results.
`PAINTER_SCREENSHOT=docs/painter.png python -m pytest tests/test_painter.py -k desktop` retakes the
docs' screenshot of the page."""

import base64
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import Mock

import numpy as np
import pytest
import torch
from PIL import Image

import facade_painter
from facades_generator import CLASS_COLORS, FACADE_CLASSES, PALETTE, SAMPLE_LABELS_DIR, load_label
from helpers.facade_labels import FacadeDesign, draw_facade
from helpers.lesson import ROOT, atomic_path, open_image, png_bytes, tensor_to_image
from painter import server as server_module
from painter.server import MAX_BODY_BYTES, PainterServer, names_this_server
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator, translate
from tests.official_reference import random_official_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")


NET_G = UNetGenerator(ngf=8, norm_layer=PerImageBatchNorm2d).eval()


def serving(net_G, reason=None):
    server = PainterServer(("127.0.0.1", 0), net_G, reason)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server():
    yield from serving(NET_G)


@pytest.fixture(scope="module")
def unready():
    args = facade_painter.parse_args(["--checkpoint", "~/no/such/weights.pth"])  # ~ as typed
    yield from serving(*facade_painter.load_model(args, torch.device("cpu")))


HOST = b"Host: 127.0.0.1:PORT\r\n"  # what a browser on this computer sends; PORT: the server's


def raw(server, head):
    """Request bytes as written -> (status, headers, body); status None: an HTTP/0.9 answer."""
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(head.replace(b"PORT", b"%d" % server.server_address[1]))
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    if not data.startswith(b"HTTP/"):
        return None, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), body


def request(path, method=b"GET"):
    return b"%s %s HTTP/1.1\r\n%s\r\n" % (method, path.encode(), HOST)


def get(server, path, method=b"GET"):
    return raw(server, request(path, method))


def upload(body, content_type=b"image/png", path=b"/generate", host=HOST):
    kind = b"Content-Type: %s\r\n" % content_type if content_type else b""
    head = b"POST %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n" % (path, host, kind, len(body))
    return head + body


def post(server, body, content_type=b"image/png"):
    return raw(server, upload(body, content_type))


def decode_png(data):
    return np.asarray(Image.open(io.BytesIO(data), formats=["PNG"]).convert("RGB"))


def sample(name="shop_street"):
    return Image.open(SAMPLE_LABELS_DIR / f"{name}.png").convert("RGB")


def facade(label):  # what the model itself makes of a label, without the server
    return np.asarray(tensor_to_image(translate(NET_G, load_label(label).unsqueeze(0))[0]))


def in_palette(pixels):
    return bool((pixels.reshape(-1, 1, 3) == PALETTE[None]).all(axis=2).any(axis=1).all())


def encoded(image, form, **options):
    image.save(buffer := io.BytesIO(), format=form, **options)
    return buffer.getvalue()


def png_header_only(width, height):
    """A PNG that claims a size and holds no pixels: enough for its header, not for decoding."""

    chunks = (b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0), b"IEND")
    sized = [struct.pack(">I", len(c) - 4) + c + struct.pack(">I", zlib.crc32(c)) for c in chunks]
    return b"\x89PNG\r\n\x1a\n" + b"".join(sized)  # each: length, type, data, CRC


# ---- the HTTP API --------------------------------------------------------------------------------


def test_page_is_served_with_its_data_and_loads_nothing_from_elsewhere(server):
    status, headers, _ = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("index.html", "painter.css", "painter.js"):
        assert not re.search(r"https?://", (ROOT / "painter" / name).read_text()), name
    for path, kind in (("/painter.js", "text/javascript"), ("/painter.css", "text/css")):
        status, headers, _ = get(server, path)
        assert status == 200 and headers["Content-Type"].startswith(kind)
    # the palette and the samples come from the Python modules
    classes = json.loads(get(server, "/palette.json")[2])["classes"]
    assert [(c["name"], tuple(c["rgb"])) for c in classes] == list(FACADE_CLASSES)
    names = json.loads(get(server, "/samples.json")[2])["samples"]
    assert names == sorted(p.stem for p in SAMPLE_LABELS_DIR.glob("*.png")) and len(names) == 12
    status, _, body = get(server, f"/samples/{names[0]}.png")
    assert status == 200 and body == (SAMPLE_LABELS_DIR / f"{names[0]}.png").read_bytes()


def test_random_label_is_a_reproducible_palette_design(server):
    status, headers, body = get(server, "/random?seed=7")
    label = decode_png(body)
    assert status == 200 and label.shape == (256, 256, 3) and in_palette(label)
    design = FacadeDesign.from_spec(headers["X-Facade-Design"])
    assert np.array_equal(label, np.asarray(draw_facade(design)))
    assert get(server, "/random?seed=7")[2] == body


def off_palette(label):
    noise = np.random.default_rng(0).integers(-6, 7, size=(256, 256, 3))  # like JPEG noise
    return png_bytes(Image.fromarray(np.clip(np.asarray(label) + noise, 0, 255).astype(np.uint8)))


UPLOADS = {  # uploads of a label that must give exactly the model's facade of that label
    "png": png_bytes,
    "512x512": lambda label: png_bytes(label.resize((512, 512), Image.NEAREST)),
    "4096x4096, the limit": lambda label: png_bytes(label.resize((4096, 4096), Image.NEAREST)),
    "colours off the palette": off_palette,
    "lossless webp": lambda label: encoded(label, "WEBP", lossless=True),
}


@pytest.mark.parametrize("case", UPLOADS)
def test_generate_returns_the_models_facade_of_the_label(server, case):
    kind = b"image/webp" if "webp" in case else b"image/png"
    status, headers, answer = post(server, UPLOADS[case](sample()), kind)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert np.array_equal(decode_png(answer), facade(sample()))
    assert float(headers["X-Inference-Seconds"]) > 0


@pytest.mark.parametrize("orientation", [1, 6])
def test_jpeg_uploads_are_drafted_and_read_upright(orientation, monkeypatch):
    """A 2048x2048 JPEG decodes at 1/8 scale; EXIF orientation 6 (stored turned a quarter to the
    left: a viewer turns it back) is read as a viewer shows it."""
    label = sample().resize((2048, 2048), Image.NEAREST)
    stored = label.transpose(Image.Transpose.ROTATE_90) if orientation == 6 else label
    exif = Image.Exif()
    exif[0x0112] = orientation
    opened = []
    monkeypatch.setattr(
        server_module, "open_image", lambda *a: opened.append(open_image(*a)) or opened[0]
    )
    read = server_module.decode_label(encoded(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert opened[0].size == (256, 256)
    assert (read == load_label(sample())).all(dim=0).float().mean() > 0.95  # JPEG noise, snapped


GOOD = png_bytes(sample())
GET = b"GET / HTTP/1.1\r\n"
MANY_HEADERS = b"".join(b"X-%d: 1\r\n" % i for i in range(120))
REFUSED = {  # request -> (status, key words of the one sentence); None: an HTTP/0.9 answer
    "not an image": (upload(b"hello, this is not a PNG"), 400, b"the body"),
    "empty body": (upload(b""), 400, b"the body"),
    "truncated PNG": (upload(GOOD[: len(GOOD) // 2]), 400, b"the body"),
    "PNG without its end": (upload(GOOD[:-20]), 400, b"the body"),
    "no pixel data": (upload(png_header_only(4096, 4096)), 400, b"the body"),
    "one pixel over MAX_PIXELS": (upload(png_header_only(4096, 4097)), 413, b"too large"),
    "past Pillow's bomb limit": (upload(png_header_only(20000, 20000)), 413, b"too large"),
    "body over the limit": (upload(b"\x89PNG" + bytes(MAX_BODY_BYTES)), 413, b"at most"),
    "no Content-Length": (b"POST /generate HTTP/1.1\r\n" + HOST + b"\r\n", 411, b"Content-Length"),
    "POST elsewhere": (upload(GOOD, path=b"/elsewhere"), 404, b"/generate"),
    "no Host": (b"GET / HTTP/1.0\r\n\r\n", 400, b"Host"),
    "70 kB header": (GET + b"X-Big: %s\r\n\r\n" % (b"a" * 70_000), 431, b"header is too long"),
    "120 headers": (GET + MANY_HEADERS + b"\r\n", 431, b"too many headers"),
    "70 kB path": (b"GET /%s HTTP/1.1\r\n\r\n" % (b"a" * 70_000), 414, b"request line is too long"),
    "no method": (b"GARBAGE\r\n\r\n", None, b"Bad request syntax"),
    "HTTP/9.9": (b"GET / HTTP/9.9\r\n\r\n", None, b"Invalid HTTP version"),
}
for length in (b"lots", "\u00b2".encode("latin-1"), "\u0663".encode()):  # superscript 2, Arabic 3
    head = b"POST /generate HTTP/1.1\r\n%sContent-Length: %s\r\n\r\n" % (HOST, length)
    REFUSED[f"Content-Length {length}"] = (head, 400, b"Content-Length")
for method in (b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"BREW"):
    REFUSED[method.decode()] = (request("/", method), 405, b"GET, HEAD, POST only")
for seed in ("seven", "%C2%B2", "%D9%A3", "-1", "1e3", "9" * 40, "%00"):
    REFUSED[f"seed {seed}"] = (request(f"/random?seed={seed}"), 400, b"seed must be a whole number")
for path in ("/samples/../facades_generator.py", "/samples/nope.png", "/facade_painter.py"):
    REFUSED[path] = (request(path), 404, b"nothing at")
# DNS rebinding: a page on evil.example points its name at 127.0.0.1 and its script asks us; the
# browser still sends its own name as Host. A cross-site form may only send form or text types.
for host in (b"evil.example", b"evil.example:PORT", b"127.0.0.1:1", b"localhost.evil.example:PORT"):
    REFUSED[f"GET for {host}"] = (GET + b"Host: %s\r\n\r\n" % host, 403, b"answers requests for")
    REFUSED[f"POST for {host}"] = (upload(GOOD, host=b"Host: %s\r\n" % host), 403, b"answers")
for kind in (None, b"application/x-www-form-urlencoded", b"multipart/form-data", b"text/plain"):
    REFUSED[f"Content-Type {kind}"] = (upload(GOOD, kind), 415, b"Content-Type: image/png")


@pytest.mark.parametrize("case", REFUSED)
def test_bad_requests_get_one_sentence_and_the_server_stays_up(server, case):
    head, expected, words = REFUSED[case]
    status, headers, body = raw(server, head)
    assert status == expected and words in body
    assert body.endswith(b".") and b". " not in body and 10 < len(body) < 200 and b"<" not in body
    if status is not None:
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        assert headers.get("Allow", "GET, HEAD, POST") == "GET, HEAD, POST"
    assert get(server, "/status.json")[0] == 200


@pytest.mark.parametrize("path", ["/", "/palette.json", "/nowhere"])
def test_head_gets_the_headers_of_get_and_no_body(server, path):
    status, headers, body = get(server, path, b"HEAD")
    get_status, get_headers, get_body = get(server, path)
    assert (status, body) == (get_status, b"")
    assert headers["Content-Length"] == str(len(get_body))
    assert headers["Content-Type"] == get_headers["Content-Type"]


HOST_NAMES = """Host header        listening on  answered
localhost:8000     127.0.0.1     yes
LOCALHOST          127.0.0.1     yes
[::1]:8000         127.0.0.1     yes
192.168.1.5:8000   192.168.1.5   yes
10.1.2.3:8000      0.0.0.0       yes
evil.example:8000  0.0.0.0       no"""  # an IP literal cannot be rebound; a name can


@pytest.mark.parametrize("header, host, answered", [r.split() for r in HOST_NAMES.splitlines()[1:]])
def test_host_names_follow_the_address_listened_on(header, host, answered):
    assert names_this_server(header, host, 8000) == (answered == "yes")


def test_fifty_posts_at_once_each_get_their_own_facade(server, monkeypatch):
    """They queue at the model; their uploads are decoded by two threads of their own, which bounds
    memory (a 4096x4096 upload decodes to 64 MB; twenty at once took the server to 5 GB)."""
    names, decoders = ["shop_street", "narrow_house"] * 25, set()
    decode = server_module.decode_label

    def spy(body):
        decoders.add(threading.current_thread().name)
        return decode(body)

    monkeypatch.setattr(server_module, "decode_label", spy)
    with ThreadPoolExecutor(len(names)) as pool:
        answers = pool.map(lambda name: post(server, png_bytes(sample(name))), names)
        for name, (status, _, body) in zip(names, answers, strict=True):
            assert status == 200 and np.array_equal(decode_png(body), facade(sample(name)))
    assert len(decoders) <= 2 and all(name.startswith("decode") for name in decoders)


def test_without_weights_the_page_loads_and_generate_says_how_to_get_them(unready):
    assert get(unready, "/")[0] == 200
    status = json.loads(get(unready, "/status.json")[2])
    assert status["ready"] is False and "python download_pretrained.py" in status["message"]
    assert f"no pretrained weights at {Path.home()}" in status["message"]  # ~ is the home folder
    code, _, message = post(unready, GOOD)
    assert code == 503 and b"python download_pretrained.py" in message


def test_weights_holding_nan_are_refused_before_serving(tmp_path):
    state_dict = random_official_state_dict(ngf=8)
    state_dict["model.model.0.weight"].view(-1)[3] = float("nan")
    torch.save(state_dict, tmp_path / "nan.pth")
    args = facade_painter.parse_args(["--checkpoint", str(tmp_path / "nan.pth")])
    net_G, reason = facade_painter.load_model(args, torch.device("cpu"))
    assert net_G is None and "nan.pth" in reason and "NaN" in reason


# ---- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "0.0.0.0"])
def test_an_open_host_is_announced_with_its_address(host, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(PainterServer, "serve_forever", Mock(side_effect=KeyboardInterrupt))
    facade_painter.main(["--host", host, "--port", "0", "--checkpoint", str(tmp_path / "x.pth")])
    out = capsys.readouterr().out
    assert ("listening on 0.0.0.0: anyone" in out) == (host == "0.0.0.0") and "Stopped." in out


@pytest.mark.parametrize("flag", ["--host", "--port"])
def test_an_empty_host_or_a_busy_port_is_one_sentence(flag, server, capsys):
    value = "" if flag == "--host" else str(server.server_address[1])  # the fixture's port
    with pytest.raises(SystemExit) as exit_info:
        facade_painter.main([flag, value, "--checkpoint", "missing.pth"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and flag in err and err.count("\n") == 1


@pytest.mark.slow
def test_command_prints_its_address_serves_and_stops_on_ctrl_c():
    argv = [sys.executable, "facade_painter.py", "--port", "0", "--checkpoint", "missing.pth"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        output = ""
        while "running at" not in output and process.poll() is None:
            output += process.stdout.readline()
        assert "python download_pretrained.py" in output
        url = re.search(r"http://127\.0\.0\.1:\d+/", output).group()
        assert urllib.request.urlopen(url, timeout=30).status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0 and "Stopped." in process.stdout.read()
    finally:
        process.kill()


# ---- the page in a real browser ------------------------------------------------------------------


def open_page(browser, server, width=1280, height=960, **options):
    """The page, ready, and the list its errors will collect in."""
    page = browser.new_page(viewport={"width": width, "height": height}, **options)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    return page, errors


def canvas_image(page):
    data_url = page.evaluate("document.getElementById('label').toDataURL('image/png')")
    return decode_png(base64.b64decode(data_url.split(",", 1)[1]))


def at(page, x, y):
    """Where label pixel (x, y) is on the screen, however large CSS shows the canvas."""
    box = page.get_by_label("Label map").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / 256, box["y"] + (y + 0.5) * box["height"] / 256


def drag(page, x0, y0, x1, y1):
    page.mouse.move(*at(page, x0, y0))
    page.mouse.down()
    page.mouse.move(*at(page, x1, y1), steps=5)
    page.mouse.up()


def generate(page):
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('result').dataset.generation", timeout=6e4
    )


def downloaded(page, button_name):
    with page.expect_download() as info:
        page.get_by_role("button", name=button_name).click()
    return info.value.suggested_filename, decode_png(Path(info.value.path()).read_bytes())


UNNAMED = """() => [...document.querySelectorAll('button, input, select, canvas, img')]
  .filter((el) => !(el.alt || el.getAttribute('aria-label') || el.title || el.labels?.length
    || el.textContent.trim())).map((el) => el.outerHTML)"""  # for screen readers


@pytest.mark.slow
def test_paint_two_classes_and_generate_on_a_desktop(browser, server):
    page, errors = open_page(browser, server, accept_downloads=True)
    if os.environ.get("PAINTER_SCREENSHOT"):
        with atomic_path(os.environ["PAINTER_SCREENSHOT"]) as tmp:
            page.screenshot(path=str(tmp), type="png", full_page=True)
    assert page.evaluate(UNNAMED) == []

    page.get_by_role("button", name="shop", exact=True).click()
    drag(page, 20, 200, 120, 250)  # the rectangle tool, the default
    page.get_by_role("button", name="door", exact=True).click()
    drag(page, 190, 250, 150, 180)  # dragged up and left: corners in any order
    label = canvas_image(page)
    saved_label = Image.fromarray(label)
    assert (label[200:251, 20:121] == CLASS_COLORS["shop"]).all()
    assert (label[180:251, 150:191] == CLASS_COLORS["door"]).all()
    assert in_palette(label), "painting must use exact palette colours, with no antialiased edges"

    page.keyboard.press("b")  # the brush
    assert page.get_by_role("button", name="Brush").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="molding", exact=True).click()
    drag(page, 10, 100, 240, 104)
    brushed = canvas_image(page)
    assert (brushed[102, 30:220] == CLASS_COLORS["molding"]).all() and in_palette(brushed)
    page.keyboard.press("Control+z")
    assert np.array_equal(canvas_image(page), label)

    generate(page)
    name, saved = downloaded(page, "Download label")
    assert name == "facade_label.png" and np.array_equal(saved, label)
    name, saved = downloaded(page, "Download facade")
    assert name == "generated_facade.png" and np.array_equal(saved, facade(saved_label))

    page.get_by_role("button", name="Random facade").click()
    page.wait_for_function("() => !document.getElementById('design-line').hidden")
    spec = re.search(r"--design '(.*)'", page.locator("#design-command").text_content()).group(1)
    assert np.array_equal(canvas_image(page), np.asarray(draw_facade(FacadeDesign.from_spec(spec))))
    page.get_by_label("Sample label").select_option("wide_office")
    page.get_by_role("button", name="Load sample").click()
    page.wait_for_function("() => document.getElementById('status').textContent.includes('wide')")
    assert np.array_equal(canvas_image(page), np.asarray(sample("wide_office")))
    assert errors == []


@pytest.mark.slow
def test_page_fits_a_phone_maps_taps_and_asks_before_leaving(browser, server):
    page, errors = open_page(browser, server, 390, 844, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.get_by_role("button", name="shop", exact=True).tap()
    before = canvas_image(page)
    page.touchscreen.tap(*at(page, 200, 37))  # the rectangle tool: one label pixel
    changed = np.argwhere((canvas_image(page) != before).any(axis=2))
    assert changed.tolist() == [[37, 200]]
    generate(page)
    for element in (page.get_by_label("Label map"), page.locator("#result")):
        box = element.bounding_box()  # the width there is: the screen less the page's margins
        assert 390 - 2 * 16 - 4 <= box["width"] <= 390 and abs(box["height"] - box["width"]) < 1
    asked = []  # a reload (or Back) would throw the painted label away: the browser asks first
    page.on("dialog", lambda dialog: asked.append(dialog.type) or dialog.accept())
    page.reload()
    assert asked == ["beforeunload"] and errors == []


@pytest.mark.slow
def test_page_without_weights_tells_how_to_get_them(browser, unready):
    page, _ = open_page(browser, unready)
    banner = page.get_by_role("alert")
    assert banner.is_visible() and "python download_pretrained.py" in banner.text_content()
    assert page.get_by_role("button", name="Generate", exact=True).is_disabled()
