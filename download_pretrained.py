"""Fetch the official pretrained pix2pix facades generator (and, on request, real CMP label maps).

    python download_pretrained.py             # the weights, about 218 MB
    python download_pretrained.py --samples   # also 8 real CMP labels, converted to our palette

Writes:
    checkpoints/facades_generator.pth          the official facades_label2photo.pth, byte for byte
    checkpoints/facades_generator.pth.sha256   its SHA-256 (`sha256sum -c` format), checked on later runs
    sample_facades/cmp/                        with --samples: CMP_facade_DB_base.zip and cmp_b*.png labels

The bytes go to `facades_generator.pth.part` first (a cut download resumes from there with an HTTP
Range request); only a file that torch.load(weights_only=True) accepts and whose every key and shape
fits the official unet_256 gets the final name. A second run downloads nothing; --force does.
No internet? Fetch OFFICIAL_URL on another machine, copy it to checkpoints/facades_generator.pth and
run this script: it checks the file and records its SHA-256.
"""

import argparse
import errno
import hashlib
import os
import time
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import NameResolutionError
from urllib3.util.retry import Retry

from facades_generator import DEFAULT_CHECKPOINT, OFFICIAL_URL, PALETTE
from helpers.checkpoints import read_weights
from helpers.cli import ArgumentParser, LessonError, fail, shown
from helpers.files import ROOT, atomic_path, check_writable_folder, new_file_mode
from helpers.images import save_image
from pix2pix_models import IMAGE_SIZE, UNetGenerator, load_official_generator_weights

CMP_BASE_URL = "https://cmp.felk.cvut.cz/~tylecr1/facade/CMP_facade_DB_base.zip"
CMP_LABELS_DIR = ROOT / "sample_facades" / "cmp"  # real CMP labels, converted to our palette (--samples)
RETRY_STATUSES = (500, 502, 503, 504)  # server hiccups that may pass; a 404 will not change on retry
BACKOFF_FACTOR = 1.0  # urllib3 waits 0, 2, 4, 8 ... s between tries (the tests set it to 0)
CHUNK_BYTES = 1 << 20


def parse_args(argv):
    p = ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_CHECKPOINT.parent,
                   help=f"folder for {DEFAULT_CHECKPOINT.name} and its .sha256")
    p.add_argument("--url", default=OFFICIAL_URL, help="where to fetch the weights (a mirror, say)")
    p.add_argument("--force", action="store_true", help="download again even if a good file is there")
    p.add_argument("--retries", type=int, default=5, help="tries after a failed connection, 5xx or cut")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait to connect or for data")
    p.add_argument("--samples", action="store_true", help="also fetch CMP_facade_DB_base.zip and convert labels")
    p.add_argument("--samples-url", default=CMP_BASE_URL, help="where to fetch the CMP archive")
    p.add_argument("--samples-dir", type=Path, default=CMP_LABELS_DIR, help="folder for the archive and labels")
    p.add_argument("--num-samples", type=int, default=8, help="how many CMP labels to convert")
    return p.parse_args(argv)


class SayingRetry(Retry):
    """urllib3's Retry, which also says at once that a try failed and another follows: offline, the
    retries would otherwise take half a minute of silence."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when none are left
        host = _pool.host if _pool is not None else "the server"
        why = f"answered {response.status}" if response is not None and error is None else \
            f"cannot be reached ({type(getattr(error, 'reason', None) or error).__name__})"
        left = self.total  # tries still to come after this failed one
        print(f"{host} {why}; trying again ({left} more {'try' if left == 1 else 'tries'}, next in "
              f"{retry.get_backoff_time():.0f} s; Ctrl+C stops)", flush=True)
        return retry


def make_session(retries):
    """A requests Session that retries refused/failed connections and 5xx answers, with backoff."""
    retry = SayingRetry(total=retries, backoff_factor=BACKOFF_FACTOR, status_forcelist=RETRY_STATUSES,
                        allowed_methods={"GET"}, raise_on_status=False)  # keep the last 5xx to name it
    session = requests.Session()
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(max_retries=retry))
    return session


def network_error(exc, url, final):
    """One sentence for a failed connection: what went wrong and what to do, offline included."""
    host = urlsplit(url).netloc
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's cause, after retries
    if not host:
        return f"{url} is not an http(s) address; check it."
    if isinstance(reason, NameResolutionError):
        what = f"cannot resolve the host name {host} (no internet, or a typo in the URL)"
    elif isinstance(exc, requests.Timeout):
        what = f"{host} did not answer within --timeout"
    elif "refused" in str(reason or exc).lower():
        what = f"{host} refused the connection"
    else:
        what = f"cannot reach {host} ({type(reason or exc).__name__})"
    return (f"{what}; check your network and run again, or fetch {url} on a machine with internet, "
            f"copy it to {final} and run this script to check it.")


def download(session, url, part, final, timeout, retries, url_flag):
    """Stream `url` into `part`, resuming from the bytes already there (HTTP Range).

    A connection cut mid-body is resumed up to `retries` times; the partial file stays for the next
    run. A server that ignores Range answers 200 with the whole file: then we start over cleanly.
    """
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        try:
            response = session.get(url, stream=True, timeout=timeout,
                                   headers={"Range": f"bytes={offset}-"} if offset else {})
        except requests.RequestException as exc:
            raise LessonError(network_error(exc, url, final)) from None
        with response:
            content_range = response.headers.get("Content-Range", "")
            if response.status_code == 416 and content_range.endswith(f"/{offset}"):
                return  # nothing after `offset`: the partial file already holds every byte
            if response.status_code == 416 and offset:  # longer than the file: the rest of another download
                print(f"{shown(part)} is not the beginning of {url} (longer than the file); starting from byte 0")
                part.unlink()
                continue
            if response.status_code == 206 and content_range.startswith(f"bytes {offset}-"):
                mode = "ab"
            elif response.status_code == 200:
                if offset:
                    print(f"{urlsplit(url).netloc} cannot resume a download; starting from byte 0")
                mode, offset = "wb", 0
            else:  # 404, or 5xx after the retries
                tries = f" after {retries + 1} tries" if response.status_code in RETRY_STATUSES else ""
                raise LessonError(f"{url} answered {response.status_code} {response.reason}{tries}; check the "
                                  f"address or give a working mirror with {url_flag}.")
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length is not None else None
            received, finished = offset, False
            try:
                with open(part, mode) as file, tqdm(total=expected, initial=offset, desc=final.name,
                                                    unit="B", unit_scale=True, unit_divisor=1024) as bar:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        file.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                finished = True
            except requests.RequestException:
                pass  # a cut connection: the bytes so far are kept and resumed below
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    part.unlink(missing_ok=True)  # give the space back; a later run starts over
                    raise LessonError(f"the disk is full while writing {part}; free some space or choose "
                                      "another folder, then run again.") from None
                raise LessonError(f"cannot write {part} ({exc.strerror}); choose a folder you can write "
                                  "to with --checkpoint-dir or --samples-dir.") from None
        if finished and (expected is None or received == expected):  # no Content-Length: trust a clean end
            return
        of = f"{received:,} of {expected:,}" if expected else f"{received:,}"
        if attempt < retries:
            print(f"connection cut at {of} bytes; resuming (try {attempt + 2})")
            time.sleep(BACKOFF_FACTOR * 2 ** attempt)
    raise LessonError(f"the download of {url} stopped at {of} bytes; "
                      f"run the same command again to resume it from {part}.")


def check_not_html(path, url, url_flag):
    """Proxies, captive portals and moved pages answer 200 with a web page instead of the file."""
    with open(path, "rb") as file:
        head = file.read(256).lstrip().lower()
    if head.startswith(b"<"):
        raise LessonError(f"{url} sent a web page instead of the file (a login portal, a proxy or "
                          f"a wrong address); open it in a browser or give a direct link with {url_flag}.")


def check_weights(path, url):
    """Load with weights_only=True (a pickle may run code; this never does) and map every key and shape."""
    check_not_html(path, url, "--url")
    fix = "it was deleted; use the official URL or a trusted mirror with --url"
    state_dict = read_weights(path, fix=fix, subject=f"the file from {url}")  # weights_only: never runs code
    try:  # the same mapping create_facades_generator uses later, on the real unet_256
        if not isinstance(state_dict, dict):
            raise ValueError(f"it holds a {type(state_dict).__name__}, not a state_dict")
        load_official_generator_weights(UNetGenerator(in_channels=3, out_channels=3, ngf=64), state_dict)
    except ValueError as exc:
        raise LessonError(f"the file from {url} is not the facades_label2photo generator ({exc}); {fix}.") from None


def check_cmp_zip(path, url):
    """The CMP archive is usable if it is a zip with base/*.png label maps inside."""
    check_not_html(path, url, "--samples-url")
    if not zipfile.is_zipfile(path) or not cmp_label_names(path):
        raise LessonError(f"the file from {url} is not CMP_facade_DB_base.zip (no base/*.png labels "
                          "inside); check --samples-url.")


def fetch(session, url, final, check, args, url_flag, replaced=()):
    """Download to `<final>.part` (resuming what an earlier run, --force or not, left there), check it, and
    only then rename it to `final`; files in `replaced` (a stale .sha256) go at that moment, not before."""
    part = final.with_name(final.name + ".part")
    problem = check_writable_folder(final.parent)
    if problem:
        raise LessonError(f"cannot write into {shown(final.parent)} ({problem}); choose a folder you can write "
                          f"to with {'--samples-dir' if url_flag == '--samples-url' else '--checkpoint-dir'}.")
    download(session, url, part, final, (args.timeout, args.timeout), args.retries, url_flag)
    try:
        check(part, url)
    except LessonError:
        part.unlink()  # bad content: resuming it would only append to garbage
        raise
    for path in replaced:
        path.unlink(missing_ok=True)
    os.replace(part, final)  # atomic: the final name only ever holds a checked file
    os.chmod(final, new_file_mode())  # a plain file's permissions, readable by the class


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def make_folder(folder, flag):
    try:  # fail here, before downloading anything
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LessonError(f"cannot create the folder {folder} ({exc.strerror}); choose another {flag}.") from None


def ensure_weights(session, args):
    """Verify the weights already there against their SHA-256, or download, check and record them."""
    final = args.checkpoint_dir / DEFAULT_CHECKPOINT.name
    sidecar = final.with_name(final.name + ".sha256")
    make_folder(args.checkpoint_dir, "--checkpoint-dir")
    if final.exists() and not args.force:
        digest = sha256_of(final)
        if sidecar.exists():
            if digest != (sidecar.read_text().split() or [""])[0]:  # `sha256sum` format: "<hex>  <name>"
                raise LessonError(f"{final} does not match the SHA-256 recorded in {sidecar} (changed or "
                                  "damaged since it was downloaded); run `python download_pretrained.py --force`.")
            print(f"{final} is already here and matches its SHA-256 ({digest[:16]}...): nothing to download "
                  "(--force downloads it again).")
            return final
        try:  # a file copied here by hand: check it before trusting it
            check_weights(final, str(final))
        except LessonError:
            raise LessonError(f"{final} is not a valid copy of the official facades generator; move it "
                              "away or run `python download_pretrained.py --force`.") from None
        print(f"{final} was already here (copied by hand?) and passes the check; recording its SHA-256.")
    else:
        fetch(session, args.url, final, check_weights, args, "--url", replaced=[sidecar])
        digest = sha256_of(final)
    try:
        with atomic_path(sidecar) as tmp:
            tmp.write_text(f"{digest}  {final.name}\n")
    except OSError as exc:  # a read-only folder that already holds good weights: they are still usable
        print(f"note: cannot record the SHA-256 in {shown(sidecar)} ({exc.strerror or exc}); the weights passed "
              "the check and are ready, and the next run checks them again.")
    else:
        print(f"saved {shown(final)} ({final.stat().st_size:,} bytes, SHA-256 {digest[:16]}...) and {sidecar.name}")
    return final


def cmp_label_names(zip_path):
    """Label maps inside the archive: base/cmp_bNNNN.png (the .jpg beside each is the photo)."""
    with zipfile.ZipFile(zip_path) as archive:
        return sorted(n for n in archive.namelist()
                      if PurePosixPath(n).parent.name == "base" and n.lower().endswith(".png"))


def convert_cmp_labels(zip_path, out_dir, count):
    """CMP stores one class index 1..12 per pixel; paint class k with PALETTE[k - 1], 256x256 nearest."""
    written, skipped = [], []
    with zipfile.ZipFile(zip_path) as archive:
        for name in cmp_label_names(zip_path)[:count]:
            out = out_dir / PurePosixPath(name).name
            if out.exists():
                written.append(out)
                continue
            with archive.open(name) as file, Image.open(file) as image:
                index = np.asarray(image) if image.mode in ("P", "L") else None  # P: read the index, not RGB
            if index is None or index.min() < 1 or index.max() > len(PALETTE):
                skipped.append(name)  # not an index map of the 12 classes: better none than a wrong one
                continue
            rgb = Image.fromarray(PALETTE[index - 1])  # (H, W) classes -> (H, W, 3) colours
            save_image(rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST), out)  # no blended classes
            written.append(out)
    if skipped:
        print(f"skipped {len(skipped)} file(s) that are not 12-class index maps, e.g. {skipped[0]}")
    if not written:
        raise LessonError(f"no usable label maps in {zip_path}; delete it and run with --samples again.")
    print(f"{len(written)} CMP labels in our palette under {out_dir}, e.g. {written[0].name}")


def ensure_samples(session, args):
    zip_path = args.samples_dir / PurePosixPath(urlsplit(CMP_BASE_URL).path).name
    make_folder(args.samples_dir, "--samples-dir")
    if zip_path.exists() and not args.force:
        print(f"{zip_path} is already here: nothing to download")
    else:
        fetch(session, args.samples_url, zip_path, check_cmp_zip, args, "--samples-url")
    convert_cmp_labels(zip_path, args.samples_dir, args.num_samples)


def main(argv=None):
    args = parse_args(argv)
    print(f"weights: {args.url}\n    -> {args.checkpoint_dir / DEFAULT_CHECKPOINT.name}")
    print(f"retries: {args.retries}, timeout: {args.timeout:g} s, force: {args.force}, key/shape check on cpu")
    if args.samples:
        print(f"samples: {args.num_samples} labels from {args.samples_url}\n    -> {args.samples_dir}")
    session = make_session(args.retries)
    try:
        final = ensure_weights(session, args)
        if args.samples:
            ensure_samples(session, args)
    except LessonError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to resume the download.", code=130)
    print(f"ready: create_facades_generator('{final}')")


if __name__ == "__main__":
    main()
