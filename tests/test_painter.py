"""The facade painter: its HTTP API with good and bad inputs, concurrent requests, the no-weights
mode, the real command line, and the page end to end in headless Chromium driven by Playwright.

The generator here has random weights in the official layout (tests/official_reference.py): its
facades are noise, but it computes exactly what the real model computes, so latency and the
request -> model -> response path are real. Never show its output as a result.

    PAINTER_SCREENSHOT=docs/painter.png python -m pytest tests/test_painter.py -k chromium

also saves the README's screenshot of the page (taken before Generate is pressed).
"""

import base64
import http.client
import io
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facade_painter
from facades_generator import load_label
from helpers.facade_labels import SAMPLE_LABELS_DIR, FacadeDesign, draw_facade
from facades_generator import CLASS_COLORS, FACADE_CLASSES, PALETTE
from helpers.lesson import ROOT, atomic_path
from helpers.lesson import MAX_PIXELS, ImageTooLarge, png_bytes, tensor_to_image
from painter import hosts
from painter import server as painter_server
from pix2pix_models import translate


@pytest.fixture(scope="module")
def net_G(random_generator):
    return random_generator()


def start_server(net_G, reason=None):
    server = painter_server.PainterServer(("127.0.0.1", 0), net_G, reason, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def server(net_G):
    server = start_server(net_G)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server_without_weights(tmp_path_factory):
    missing = tmp_path_factory.mktemp("empty") / "missing.pth"
    args = facade_painter.parse_args(["--checkpoint", str(missing)])
    net_G, reason = facade_painter.load_model(args, torch.device("cpu"))
    assert net_G is None
    server = start_server(None, reason)
    yield server
    server.shutdown()
    server.server_close()


def base_url(server):
    return server.url


def request(server, method, path, body=None, content_type="image/png"):
    """A request as a browser on this computer sends it (http.client adds Host: 127.0.0.1:PORT)."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=120)
    try:
        headers = {"Content-Type": content_type} if method == "POST" and content_type else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def raw_request(server, head):
    """Send hand-written request bytes (for headers http.client would fix) -> (status, body)."""
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.split(b"\r\n\r\n", 1)[1]


def decode_png(data):
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


_expected = {}


def expected_facade(net_G, name="shop_street"):
    """What the model itself makes of a shipped label, computed without the server (once each)."""
    if name not in _expected:
        _expected[name] = model_facade(net_G, sample(name))
    return _expected[name]


def model_facade(net_G, image):
    return np.asarray(tensor_to_image(translate(net_G, load_label(image).unsqueeze(0))[0]))


def sample(name="shop_street"):
    return Image.open(SAMPLE_LABELS_DIR / f"{name}.png").convert("RGB")


def in_palette(pixels):
    return bool((pixels.reshape(-1, 1, 3) == PALETTE[None]).all(axis=2).any(axis=1).all())


# ---- the HTTP API --------------------------------------------------------------------------------


def test_page_is_served_and_loads_nothing_from_elsewhere(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    html = body.decode()
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"(https?:)?//", ref), f"index.html loads {ref} from another site"
    for name in ("index.html", "painter.css", "painter.js"):
        text = (ROOT / "painter" / name).read_text()
        assert "http://" not in text and "https://" not in text, (
            f"painter/{name} names an outside URL"
        )
    for path, kind in (("/painter.js", "text/javascript"), ("/painter.css", "text/css")):
        status, headers, _ = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind)


def test_palette_and_samples_come_from_the_python_modules(server):
    status, _, body = request(server, "GET", "/palette.json")
    assert status == 200
    classes = json.loads(body)["classes"]
    assert [(c["name"], tuple(c["rgb"])) for c in classes] == list(FACADE_CLASSES)
    names = json.loads(request(server, "GET", "/samples.json")[2])["samples"]
    assert names == sorted(p.stem for p in SAMPLE_LABELS_DIR.glob("*.png")) and len(names) == 12
    for name in names[:3]:
        status, headers, body = request(server, "GET", f"/samples/{name}.png")
        assert status == 200 and body == (SAMPLE_LABELS_DIR / f"{name}.png").read_bytes()
    for path in (
        "/samples/../facades_generator.py",
        "/samples/nope.png",
        "/facade_painter.py",
        "/checkpoints/",
    ):
        assert request(server, "GET", path)[0] == 404


def test_random_label_is_a_reproducible_palette_design(server):
    status, headers, body = request(server, "GET", "/random?seed=7")
    assert status == 200 and headers["Content-Type"] == "image/png"
    label = decode_png(body)
    assert label.shape == (256, 256, 3) and in_palette(label)
    design = FacadeDesign.from_spec(headers["X-Facade-Design"])
    assert np.array_equal(label, np.asarray(draw_facade(design)))
    assert request(server, "GET", "/random?seed=7")[2] == body
    assert request(server, "GET", "/random?seed=seven")[0] == 400


def test_generate_returns_the_models_facade(server, net_G):
    status, headers, body = request(server, "POST", "/generate", png_bytes(sample()))
    assert status == 200 and headers["Content-Type"] == "image/png"
    facade = decode_png(body)
    assert facade.shape == (256, 256, 3)
    assert np.array_equal(facade, expected_facade(net_G))
    assert float(headers["X-Inference-Seconds"]) > 0


def test_wrong_size_is_resized_and_off_palette_colours_are_snapped(server, net_G):
    label = sample()
    # nearest-neighbour back to 256 gives the same label
    doubled = label.resize((512, 512), Image.NEAREST)
    # like JPEG noise, far from other classes
    noise = np.random.default_rng(0).integers(-6, 7, size=(256, 256, 3))
    noisy = Image.fromarray(np.clip(np.asarray(label).astype(int) + noise, 0, 255).astype(np.uint8))
    assert not in_palette(np.asarray(noisy))
    for image in (doubled, noisy):
        status, _, body = request(server, "POST", "/generate", png_bytes(image))
        assert status == 200 and np.array_equal(decode_png(body), expected_facade(net_G))


def png_header_only(width, height):
    """A PNG that claims a size and holds no pixels: enough for Image.open, not for decoding."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def _bad_bodies():
    good = png_bytes(sample())
    return {
        "not an image": (b"hello, this is not a PNG", 400),
        "empty": (b"", 400),
        "truncated PNG": (good[: len(good) // 2], 400),
        "PNG without its end": (good[:-20], 400),
        "no pixel data": (png_header_only(256, 256), 400),
        "too many pixels": (png_header_only(5000, 5000), 413),
        "past Pillow's bomb limit": (png_header_only(20000, 20000), 413),
        "body over the limit": (b"\x89PNG" + bytes(painter_server.MAX_BODY_BYTES), 413),
    }


def test_bad_bodies_get_a_short_4xx_and_the_server_stays_up(server, net_G):
    for case, (body, expected) in _bad_bodies().items():
        status, headers, message = request(server, "POST", "/generate", body)
        assert status == expected and headers["Content-Type"].startswith("text/plain"), case
        assert 10 < len(message) < 200, case
    status, _, body = request(server, "POST", "/generate", png_bytes(sample()))
    assert status == 200 and np.array_equal(decode_png(body), expected_facade(net_G))


def test_one_pixel_limit_for_uploads_and_files(server, tmp_path):
    """The painter decodes with helpers.lesson.open_image: every script's decoder and size limit."""
    assert MAX_PIXELS == 4096 * 4096
    assert request(server, "POST", "/generate", png_header_only(4096, 4097))[0] == 413
    assert request(server, "POST", "/generate", png_header_only(4096, 4096))[0] == 400  # no pixels
    (tmp_path / "huge.png").write_bytes(png_header_only(4096, 4097))
    with pytest.raises(ImageTooLarge, match="huge.png is too large to open safely"):
        load_label(tmp_path / "huge.png")


def host_line(server):
    return b"Host: 127.0.0.1:%d\r\n" % server.server_address[1]


def test_bad_headers_and_paths_get_4xx(server):
    assert (
        raw_request(server, b"POST /generate HTTP/1.1\r\n" + host_line(server) + b"\r\n")[0] == 411
    )
    # superscript 2, Arabic 3: digits
    for length in (b"lots", "\u00b2".encode("latin-1"), "\u0663".encode("utf-8")):
        status, message = raw_request(
            server,
            b"POST /generate HTTP/1.1\r\n"
            + host_line(server)
            + b"Content-Type: image/png\r\nContent-Length: "
            + length
            + b"\r\n\r\n",
        )
        assert status == 400 and b"Content-Length" in message, length
    assert request(server, "POST", "/elsewhere", b"x")[0] == 404
    assert request(server, "GET", "/status.json")[0] == 200


@pytest.mark.parametrize(
    "query",
    [
        "seed=%C2%B2",
        "seed=%D9%A3",
        "seed=-1",
        "seed=1e3",
        "seed=" + "9" * 40,
        "seed=%00",
        "seed=%FF%FE",
    ],
)
def test_odd_random_seeds_get_400_and_one_sentence(server, query):
    status, headers, message = request(server, "GET", "/random?" + query)
    assert status == 400 and b"seed must be a whole number" in message and message.count(b"\n") == 0
    assert request(server, "GET", "/random?seed=7")[0] == 200  # and the server is still up


@pytest.mark.parametrize(
    "host", [b"evil.example", b"evil.example:%d", b"127.0.0.1:1", b"localhost.evil.example:%d"]
)
def test_requests_for_another_host_are_refused(server, host):
    """DNS rebinding: a page on evil.example points its name at 127.0.0.1 and its script asks us;
    the browser still sends Host: evil.example, which this server refuses for every path, GET and
    POST alike."""
    host = host % server.server_address[1] if b"%d" in host else host
    for head in (
        b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n",
        b"POST /generate HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: image/png\r\n"
        b"Content-Length: 0\r\n\r\n",
    ):
        status, message = raw_request(server, head)
        assert status == 403 and b"answers requests for http://127.0.0.1:" in message
    status, message = raw_request(server, b"GET / HTTP/1.0\r\n\r\n")  # no Host at all
    assert status == 400 and b"Host" in message
    for ours in (b"127.0.0.1:%d", b"localhost:%d", b"LOCALHOST:%d"):
        assert (
            raw_request(
                server,
                b"GET /status.json HTTP/1.0\r\nHost: "
                + ours % server.server_address[1]
                + b"\r\n\r\n",
            )[0]
            == 200
        )


def test_host_names_follow_the_address_listened_on():
    loopback, everywhere, lan = (
        hosts.accepted_host_names(h) for h in ("127.0.0.1", "0.0.0.0", "192.168.1.5")
    )
    assert hosts.host_matches("localhost:8000", loopback, 8000)
    assert not hosts.host_matches("192.168.1.5:8000", loopback, 8000)
    assert hosts.host_matches("[::1]:8000", loopback, 8000) and hosts.host_matches(
        "127.0.0.1", loopback, 8000
    )
    assert hosts.host_matches("192.168.1.5:8000", lan, 8000) and not hosts.host_matches(
        "example.org:8000", lan, 8000
    )
    assert hosts.host_matches("10.1.2.3:8000", everywhere, 8000)  # an IP literal cannot be rebound
    assert not hosts.host_matches("evil.example:8000", everywhere, 8000)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"],
)
def test_uploads_a_cross_site_form_could_send_get_415(server, content_type):
    """A form on another site may only send these three types (and needs no preflight to do it)."""
    status, _, message = request(
        server, "POST", "/generate", png_bytes(sample()), content_type=content_type
    )
    assert status == 415 and b"Content-Type: image/png" in message


def test_webp_and_jpeg_labels_are_read(server, net_G):
    for form, options in (("WEBP", dict(lossless=True)), ("JPEG", dict(quality=95))):
        buffer = io.BytesIO()
        sample().save(buffer, format=form, **options)
        status, _, body = request(
            server, "POST", "/generate", buffer.getvalue(), content_type=f"image/{form.lower()}"
        )
        assert status == 200 and decode_png(body).shape == (256, 256, 3), form
        if form == "WEBP":  # lossless: the very label, so the very facade
            assert np.array_equal(decode_png(body), expected_facade(net_G))


def test_concurrent_requests_each_get_their_own_facade(server, net_G):
    names = ["shop_street", "narrow_house", "shop_street", "narrow_house"]
    start = threading.Barrier(len(names))
    results = [None] * len(names)

    def post(i):
        start.wait()  # all four arrive together and queue at the model lock
        results[i] = request(server, "POST", "/generate", png_bytes(sample(names[i])))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for name, (status, _, body) in zip(names, results, strict=True):
        assert status == 200 and np.array_equal(decode_png(body), expected_facade(net_G, name)), (
            name
        )


def test_without_weights_the_page_loads_and_generate_says_how_to_get_them(server_without_weights):
    assert request(server_without_weights, "GET", "/")[0] == 200
    status = json.loads(request(server_without_weights, "GET", "/status.json")[2])
    assert status["ready"] is False and "python download_pretrained.py" in status["message"]
    code, _, message = request(server_without_weights, "POST", "/generate", png_bytes(sample()))
    assert code == 503 and b"python download_pretrained.py" in message


# ---- the command line ----------------------------------------------------------------------------


def test_command_prints_its_address_serves_and_stops_on_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "facade_painter.py",
            "--port",
            "0",
            "--checkpoint",
            str(tmp_path / "missing.pth"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = queue.Queue()  # a reader thread: select() on a buffered text pipe can miss lines
    reader = threading.Thread(
        target=lambda: [output.put(line) for line in process.stdout], daemon=True
    )
    reader.start()
    try:
        lines = []
        while not lines or "running at" not in lines[-1]:
            lines.append(output.get(timeout=60))
        assert any("python download_pretrained.py" in line for line in lines)
        host, port = re.search(r"http://([\d.]+):(\d+)/", lines[-1]).groups()
        assert host == "127.0.0.1"
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        reader.join(timeout=10)
        assert "Stopped" in "".join(output.queue)
    finally:
        if process.poll() is None:
            process.kill()


def test_busy_port_fails_with_a_message(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(SystemExit) as exit_info:
            facade_painter.main(
                ["--port", str(busy.getsockname()[1]), "--checkpoint", str(tmp_path / "none.pth")]
            )
    assert exit_info.value.code == 2 and "--port" in capsys.readouterr().err


def test_loopback_hosts_are_told_apart_from_public_ones():
    assert all(map(hosts.is_loopback, ["127.0.0.1", "::1", "localhost", "127.0.0.2"]))
    assert not any(map(hosts.is_loopback, ["0.0.0.0", "192.168.1.20", "::", "example.org"]))


# ---- the page in a real browser ------------------------------------------------------------------


def canvas_image(page):
    data_url = page.evaluate("document.getElementById('label').toDataURL('image/png')")
    return decode_png(base64.b64decode(data_url.split(",", 1)[1]))


def downloaded(page, button_name):
    with page.expect_download() as info:
        page.get_by_role("button", name=button_name).click()
    return info.value.suggested_filename, decode_png(Path(info.value.path()).read_bytes())


ACCESSIBLE_NAME_CHECK = """() => {
  const named = (el) => [el.getAttribute('aria-label'), el.getAttribute('title'),
    ...Array.from(el.labels || [], (label) => label.textContent), el.textContent]
    .some((text) => text && text.trim());
  const unnamed = [...document.querySelectorAll('button, input, select, textarea, canvas')]
    .filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 80));
  const noAlt = [...document.querySelectorAll('img')].filter((img) => !img.alt)
    .map((img) => img.outerHTML);
  const fakeButtons = document.querySelectorAll('[onclick], div[role=button], span[role=button]')
    .length;
  return {unnamed, noAlt, fakeButtons, lang: document.documentElement.lang,
          canvasLabel: document.getElementById('label').getAttribute('aria-label')};
}"""


@pytest.mark.slow
def test_paint_two_classes_and_generate_in_chromium(browser, server, net_G):
    page = browser.new_page(viewport={"width": 1280, "height": 960}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(base_url(server))
    page.wait_for_selector("body[data-ready=true]")
    if os.environ.get("PAINTER_SCREENSHOT"):
        with atomic_path(os.environ["PAINTER_SCREENSHOT"]) as tmp:
            page.screenshot(path=str(tmp), full_page=True)

    a11y = page.evaluate(ACCESSIBLE_NAME_CHECK)
    assert a11y["unnamed"] == [] and a11y["noAlt"] == [] and a11y["fakeButtons"] == 0
    assert a11y["lang"] == "en" and a11y["canvasLabel"]

    canvas = page.get_by_label("Label map")
    box = canvas.bounding_box()
    scale = box["width"] / 256  # the canvas is shown larger than its 256 pixels

    def drag(x0, y0, x1, y1):
        page.mouse.move(box["x"] + (x0 + 0.5) * scale, box["y"] + (y0 + 0.5) * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + (x1 + 0.5) * scale, box["y"] + (y1 + 0.5) * scale, steps=5)
        page.mouse.up()

    page.get_by_role("button", name="Rectangle").click()
    page.get_by_role("button", name="shop", exact=True).click()
    drag(20, 200, 120, 250)
    page.get_by_role("button", name="door", exact=True).click()
    drag(190, 250, 150, 180)  # dragged up and left: corners in any order
    label = canvas_image(page)
    assert (label[200:251, 20:121] == CLASS_COLORS["shop"]).all()
    assert (label[180:251, 150:191] == CLASS_COLORS["door"]).all()
    assert in_palette(label), "painting must use exact palette colours, with no antialiased edges"

    page.keyboard.press("b")  # brush shortcut
    assert page.get_by_role("button", name="Brush").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="molding", exact=True).click()
    drag(10, 100, 240, 104)
    brushed = canvas_image(page)
    assert (brushed[102, 30:220] == CLASS_COLORS["molding"]).all() and in_palette(brushed)
    page.keyboard.press("Control+z")
    assert np.array_equal(canvas_image(page), label)

    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('result').dataset.generation === '1'", timeout=60000
    )
    result = "document.getElementById('result')"
    size = page.evaluate(f"[{result}.naturalWidth, {result}.naturalHeight]")
    assert size == [256, 256]
    label_name, label_file = downloaded(page, "Download label")
    facade_name, facade_file = downloaded(page, "Download facade")
    assert label_name.endswith(".png") and facade_name.endswith(".png")
    assert np.array_equal(label_file, label)
    assert np.array_equal(facade_file, model_facade(net_G, Image.fromarray(label)))
    assert np.abs(facade_file.astype(int) - label.astype(int)).mean() > 20, (
        "the output is not the label"
    )

    page.get_by_role("button", name="Random facade").click()
    page.wait_for_function("() => !document.getElementById('design-line').hidden")
    spec = re.search(r"--design '(.*)'", page.locator("#design-command").text_content()).group(1)
    assert np.array_equal(canvas_image(page), np.asarray(draw_facade(FacadeDesign.from_spec(spec))))
    page.get_by_label("Sample label").select_option("wide_office")
    page.get_by_role("button", name="Load sample").click()
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('wide_office')"
    )
    assert np.array_equal(canvas_image(page), np.asarray(sample("wide_office")))
    assert errors == []
    page.close()


@pytest.mark.slow
def test_page_without_weights_tells_how_to_get_them_in_chromium(browser, server_without_weights):
    page = browser.new_page()
    page.goto(base_url(server_without_weights))
    page.wait_for_selector("body[data-ready=true]")
    banner = page.get_by_role("alert")
    assert banner.is_visible() and "python download_pretrained.py" in banner.text_content()
    assert page.get_by_role("button", name="Generate", exact=True).is_disabled()
    page.close()
