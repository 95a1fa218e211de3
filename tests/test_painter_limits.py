"""The painter's server at its limits: every HTTP method and an oversized or malformed request get
one plain-text sentence (never http.server's HTML page); the pixels it decodes are bounded, however
large and however many the uploads; weights holding NaN are refused before serving.

The networks here are tiny or random: their facades are noise, never results.
"""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
import torch
from PIL import Image

import facade_painter
from facades_generator import load_label
from helpers.facade_labels import SAMPLE_LABELS_DIR
from helpers.lesson import ROOT
from helpers.lesson import open_image, png_bytes
from painter import server as painter_server
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator
from tests.official_reference import random_official_state_dict

SAMPLE = SAMPLE_LABELS_DIR / "shop_street.png"


@pytest.fixture(scope="module")
def server():
    net_G = UNetGenerator(ngf=8, norm_layer=PerImageBatchNorm2d).eval()  # tiny, random
    server = painter_server.PainterServer(("127.0.0.1", 0), net_G, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def raw(server, head):
    """Send request bytes as written -> (status, headers as a dict, body); (None, {}, body) for an
    HTTP/0.9 answer (no status line, no headers: http.server's answer to a request line it cannot
    read)."""
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/"):
        return None, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def host(server):
    return b"Host: 127.0.0.1:%d\r\n" % server.server_address[1]


def assert_one_sentence(headers, body):
    assert headers["Content-Type"] == "text/plain; charset=utf-8" and b"<" not in body
    assert body.endswith(b".") and body.count(b". ") == 0 and 10 < len(body) < 200, body


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "BREW"])
def test_other_methods_get_405_and_one_sentence(server, method):
    status, headers, body = raw(
        server, b"%s / HTTP/1.1\r\n" % method.encode() + host(server) + b"\r\n"
    )
    assert status == 405 and headers["Allow"] == "GET, HEAD, POST"
    assert_one_sentence(headers, body)
    assert body == f"the painter answers GET, HEAD, POST only, not {method!r}.".encode()


def test_head_gets_the_headers_of_get_and_no_body(server):
    for path, expected in (("/", 200), ("/palette.json", 200), ("/nowhere", 404)):
        status, headers, body = raw(
            server, b"HEAD %s HTTP/1.1\r\n" % path.encode() + host(server) + b"\r\n"
        )
        get = raw(server, b"GET %s HTTP/1.1\r\n" % path.encode() + host(server) + b"\r\n")
        assert status == expected and body == b""
        assert (
            headers["Content-Length"] == str(len(get[2]))
            and headers["Content-Type"] == get[1]["Content-Type"]
        )


HEADERS = b"".join(b"X-%d: 1\r\n" % i for i in range(120))
ODD_REQUESTS = {
    "70 kB header": (b"GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n" % (b"a" * 70_000), 431),
    "120 headers": (b"GET / HTTP/1.1\r\n%s\r\n" % HEADERS, 431),
    "70 kB path": (b"GET /%s HTTP/1.1\r\n\r\n" % (b"a" * 70_000), 414),
    "no method": (b"GARBAGE\r\n\r\n", None),  # 400 in HTTP/0.9: the sentence alone
    "HTTP/9.9": (b"GET / HTTP/9.9\r\n\r\n", None),  # 505, likewise
}
SENTENCES = [
    b"a header is too long (over 65,536 bytes).",
    b"there are too many headers (over 100).",
    b"the request line is too long (over 65,536 bytes).",
    b"Bad Request (Bad request syntax ('GARBAGE')).",
    b"HTTP Version Not Supported (Invalid HTTP version (9.9)).",
]


@pytest.mark.parametrize("case, sentence", zip(ODD_REQUESTS, SENTENCES, strict=True))
def test_oversized_and_malformed_requests_get_one_sentence(server, case, sentence):
    head, status = ODD_REQUESTS[case]
    code, headers, body = raw(server, head)
    assert (code, body) == (status, sentence)
    if code is not None:
        assert_one_sentence(headers, body)
    assert raw(server, b"GET /status.json HTTP/1.1\r\n" + host(server) + b"\r\n")[0] == 200


def test_a_large_upload_is_shrunk_to_what_the_label_needs(tmp_path):
    """4096x4096 (the limit) gives the very label of its 256x256 original; a JPEG is decoded at
    1/8 of its size."""
    label = Image.open(SAMPLE).convert("RGB")
    big = label.resize((4096, 4096), Image.NEAREST)  # each label pixel a 16x16 block
    assert torch.equal(painter_server.decode_label(png_bytes(big)), load_label(label))
    buffer = io.BytesIO()
    big.resize((2048, 2048), Image.NEAREST).save(buffer, format="JPEG", quality=95)
    assert open_image(buffer.getvalue(), draft_size=(256, 256)).size == (256, 256)
    drafted = painter_server.decode_label(buffer.getvalue())
    assert (drafted == load_label(label)).all(dim=0).float().mean() > 0.9  # JPEG noise, snapped


MEASURE = r"""
import http.client, os, sys, threading
import torch
from painter.server import PainterServer
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator

def peak_mb():
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    return int(status.split()[0]) // 1024

torch.set_num_threads(1)
net_G = UNetGenerator(ngf=8, norm_layer=PerImageBatchNorm2d).eval()
server = PainterServer(("127.0.0.1", 0), net_G, quiet=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
body = open(sys.argv[1], "rb").read()
statuses = []

def post():
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=300)
    conn.request("POST", "/generate", body, {"Content-Type": "image/png"})
    statuses.append(conn.getresponse().status)

post()  # one upload alone: the baseline holds one decode
before = peak_mb()
threads = [threading.Thread(target=post) for _ in range(int(sys.argv[2]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(before, peak_mb(), statuses.count(200), flush=True)
# Measured. The server's daemon threads may still be unwinding out of torch; tearing the
# interpreter down under them can abort ("terminate called without an active exception", seen
# once in five runs under ONEDNN_MAX_CPU_ISA=AVX2), so leave without the teardown.
os._exit(0)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory from Linux /proc")
def test_twenty_concurrent_4096_uploads_keep_memory_bounded(tmp_path):
    """Each upload decodes to 64 MB (RGBA); with every request thread decoding, the server's peak
    memory grew by 5.1 GB. Now DECODE_SLOTS threads decode, one at a time each."""
    big = Image.open(SAMPLE).convert("RGBA").resize((4096, 4096), Image.NEAREST)
    (tmp_path / "big.png").write_bytes(png_bytes(big))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "big.png"), "20"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    before, after, ok = map(int, result.stdout.split())
    assert ok == 20 + 1
    assert after - before < 512, (before, after)  # measured: +0.2 GB; +5.1 GB without the bound


def test_weights_holding_nan_are_refused_before_serving(tmp_path):
    state_dict = random_official_state_dict(ngf=8)
    state_dict["model.model.0.weight"].view(-1)[3] = float("nan")
    torch.save(state_dict, tmp_path / "nan.pth")
    args = facade_painter.parse_args(["--checkpoint", str(tmp_path / "nan.pth")])
    net_G, reason = facade_painter.load_model(args, torch.device("cpu"))
    assert net_G is None and f"{tmp_path / 'nan.pth'} holds NaN or infinite weights" in reason
    unavailable = painter_server.PainterServer(("127.0.0.1", 0), None, reason, quiet=True)
    threading.Thread(target=unavailable.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection(*unavailable.server_address[:2], timeout=30)
        conn.request("GET", "/status.json")
        assert json.loads(conn.getresponse().read())["message"] == reason
    finally:
        unavailable.shutdown()
        unavailable.server_close()
