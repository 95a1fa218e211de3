"""download_pretrained.py --samples against the test HTTP server: real CMP labels converted into the
palette, and archives that must not be kept (a decompression bomb, a label that is no PNG, damage).
The weights step is a stand-in here (tests/test_download.py tests it)."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

import download_pretrained
from facades_generator import PALETTE
from tests import download_support
from tests.download_support import Route, refused, requests_to, run, serve

server = download_support.server  # the module's HTTP server on 127.0.0.1 (a fixture)
no_backoff = download_support.no_backoff
ZIP = "CMP_facade_DB_base.zip"
BOMB = b"\0" * (17 << 20)  # 17 MB of zeros: 17 kB deflated


@pytest.fixture(autouse=True)
def weights_are_there(monkeypatch):
    monkeypatch.setattr(download_pretrained, "ensure_weights", lambda *args: None)


def png(image, format="PNG"):
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def cmp_zip(first=None):
    """An archive laid out like CMP_facade_DB_base.zip: base/cmp_bNNNN.{png,jpg,xml}; `first`
    replaces the bytes of the first label."""
    rng = np.random.default_rng(0)
    index = rng.integers(1, 13, size=(40, 30), dtype=np.uint8)  # class 1..12 per pixel, not square
    index[0, 0], index[0, 1] = 3, 12
    p_mode = Image.fromarray(index)
    p_mode.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tolist())  # to be ignored
    labels = [first or png(p_mode), png(Image.fromarray(index[::-1].copy())), png(p_mode)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, label in enumerate(labels):
            archive.writestr(f"base/cmp_b000{i + 1}.png", label)
            archive.writestr(f"base/cmp_b000{i + 1}.jpg", b"\xff\xd8 a photo")
    return buffer.getvalue(), index


def samples(server, tmp_path, path, *extra):
    argv = ["--samples", "--samples-url", server.url + path, "--samples-dir", str(tmp_path / "cmp")]
    return run(tmp_path / "checkpoints", server.url + "/unused.pth", *argv, *extra)


def test_samples_from_a_local_zip(server, tmp_path, capsys):
    data, index = cmp_zip()
    serve(server, "/cmp.zip", Route(data))
    samples(server, tmp_path, "/cmp.zip", "--num-samples", "2")
    folder = tmp_path / "cmp"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [ZIP, ZIP + ".lock", "cmp_b0001.png", "cmp_b0002.png"]  # --num-samples 2
    first = np.asarray(Image.open(folder / "cmp_b0001.png"))
    expected = PALETTE[np.asarray(Image.fromarray(index).resize((256, 256), Image.NEAREST)) - 1]
    assert first.shape == (256, 256, 3) and (first == expected).all()  # k is PALETTE[k - 1]
    second = np.asarray(Image.open(folder / "cmp_b0002.png"))
    assert (second[-1, 0] == PALETTE[3 - 1]).all()  # the L-mode copy is flipped upside down

    samples(server, tmp_path, "/cmp.zip", "--num-samples", "2")  # the archive is not fetched twice
    assert len(requests_to(server, "/cmp.zip")) == 1
    assert "nothing to download" in capsys.readouterr().out


@pytest.mark.parametrize(
    "data, why",
    [
        (b"<html>moved</html>", "a web page"),
        (cmp_zip(BOMB)[0], "base/cmp_b0001.png would unpack to over 16 MB"),
        (cmp_zip(png(Image.new("L", (30, 40), 3), "JPEG"))[0], "cmp_b0001.png is not an image"),
        (cmp_zip(png(Image.new("RGB", (30, 40))))[0], "cmp_b0001.png is not a 12-class index"),
        (b"PK\3\4" + bytes(100), "damaged"),
    ],
    ids=["html", "bomb", "jpeg", "colour", "damaged"],
)
def test_an_archive_that_cannot_be_used_is_not_kept(server, tmp_path, capsys, data, why):
    """A page, a bomb, a JPEG named .png (its noise would change classes), a colour image: refused
    as it arrives, so a rerun downloads again instead of failing on the kept archive every time."""
    url = serve(server, "/bad.zip", Route(data))
    refused(capsys, lambda: samples(server, tmp_path, "/bad.zip"), url, why, "--samples-url")
    assert [p.name for p in (tmp_path / "cmp").iterdir()] == [ZIP + ".lock"]


def test_a_bad_archive_kept_from_before_is_named_not_unpacked(server, tmp_path, capsys):
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / ZIP).write_bytes(cmp_zip(BOMB)[0])
    words = [str(tmp_path / "cmp" / ZIP), "would unpack to over 16 MB", "delete it"]
    refused(capsys, lambda: samples(server, tmp_path, "/never.zip"), *words)
    assert requests_to(server, "/never.zip") == []


def test_a_damaged_label_after_the_first_is_skipped_with_its_reason(server, tmp_path, capsys):
    data, _ = cmp_zip()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        second = archive.getinfo("base/cmp_b0002.png")
        start = second.header_offset + 30 + len(second.filename) + len(second.extra)
    damaged = bytearray(data)
    damaged[start + 10] ^= 0xFF  # inside its deflated bytes: a bad CRC (or bad data)
    serve(server, "/damaged.zip", Route(bytes(damaged)))
    samples(server, tmp_path, "/damaged.zip", "--num-samples", "3")
    assert "skipped 1 label(s) that could not be used, e.g. base/cmp_b0002.png cannot be" in (
        capsys.readouterr().out
    )
    names = sorted(p.name for p in (tmp_path / "cmp").iterdir())
    assert names == [ZIP, ZIP + ".lock", "cmp_b0001.png", "cmp_b0003.png"]
