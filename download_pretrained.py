"""Fetch the official pretrained pix2pix facades generator (and, on request, real CMP label maps).

    python download_pretrained.py             # the weights, about 218 MB
    python download_pretrained.py --samples   # also 8 real CMP labels, converted to our palette

Writes:
    checkpoints/facades_generator.pth          the official facades_label2photo.pth, byte for byte
    checkpoints/facades_generator.pth.sha256   its SHA-256 (`sha256sum -c` format), checked later
    checkpoints/facades_generator.pth.lock     held while a run works there: a second run refuses
    sample_facades/cmp/                        with --samples: CMP_facade_DB_base.zip, cmp_b*.png

The bytes go to `facades_generator.pth.part` first (a cut download resumes from there); only weights
that load safely and fit the official unet_256 get the final name. No internet? Fetch OFFICIAL_URL
elsewhere, copy it to checkpoints/facades_generator.pth and run this script to check it.
"""

import argparse
import hashlib
import os
import time
import zipfile
import zlib
from contextlib import nullcontext
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import numpy as np
import requests
from filelock import FileLock, Timeout
from PIL import Image
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NameResolutionError, ReadTimeoutError
from urllib3.util.retry import Retry

from facades_generator import DEFAULT_CHECKPOINT, PALETTE
from helpers.lesson import ROOT, FULL_DISK, LessonError, ArgumentParser, at_least, fail, shown
from helpers.lesson import atomic_path, check_writable_folder, file_problem, load_checked
from helpers.lesson import not_a_file, open_image, path_arg, save_image, write_failure
from pix2pix_models import IMAGE_SIZE, UNetGenerator, load_official_generator_weights

# The authors' own server (plain http; no checksum is published). Other URLs in circulation hold Lua
# .t7 files (.../pix2pix/models/) or a ResNet model of the same name (.../cyclegan/...).
OFFICIAL_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/facades_label2photo.pth"
CMP_ZIP = "CMP_facade_DB_base.zip"
CMP_BASE_URL = f"https://cmp.felk.cvut.cz/~tylecr1/facade/{CMP_ZIP}"
CMP_LABELS_DIR = ROOT / "sample_facades" / "cmp"  # real CMP labels, in our palette (--samples)
MAX_TIMEOUT_S = 3600  # an hour of silence is a dead server (and 1e308 s overflows the socket)
FORCE = "run `python download_pretrained.py --force`"


def web_address(text):
    """An argparse type: an http:// or https:// address with a host (nothing else is fetched)."""
    try:
        parts = urlsplit(text)
        scheme, host, _ = parts.scheme.lower(), parts.hostname, parts.port  # .port: 0-65535?
        if scheme in ("http", "https") and host:
            return text
        why = "is not an http:// or https:// address"
    except ValueError as exc:  # a port out of 0-65535 or not a number, a malformed [IPv6] host
        why = f"is malformed ({exc}); check its host and its port (1 to 65535)"
    raise argparse.ArgumentTypeError(f"{text!r} {why}")


def main(argv=None):
    defaults = argparse.ArgumentDefaultsHelpFormatter
    p = ArgumentParser(description=__doc__.split("\n")[0], formatter_class=defaults)
    folder, seconds = DEFAULT_CHECKPOINT.parent, at_least(0.1, float, below=MAX_TIMEOUT_S)
    p.add_argument("--checkpoint-dir", type=path_arg, default=folder, help="where the weights go")
    p.add_argument("--url", type=web_address, default=OFFICIAL_URL, help="where they come from")
    p.add_argument("--force", action="store_true", help="download again, even over a good file")
    p.add_argument("--retries", type=at_least(0), default=5, help="more tries after a failure")
    p.add_argument("--timeout", type=seconds, default=30.0, help="seconds to wait for data")
    p.add_argument("--samples", action="store_true", help="also fetch CMP labels, convert them")
    p.add_argument("--samples-url", type=web_address, default=CMP_BASE_URL, help="the CMP zip")
    p.add_argument("--samples-dir", type=path_arg, default=CMP_LABELS_DIR, help="zip and labels")
    p.add_argument("--num-samples", type=at_least(1), default=8, help="CMP labels to convert")
    args = p.parse_args(argv)
    final, zip_path = args.checkpoint_dir / DEFAULT_CHECKPOINT.name, args.samples_dir / CMP_ZIP
    print(f"weights: {args.url}\n    -> {shown(final)}")
    print(f"retries: {args.retries}, timeout: {args.timeout:g} s, force: {args.force}")
    if args.samples:
        print(f"samples: {args.num_samples} from {args.samples_url} -> {shown(args.samples_dir)}")
    session = make_session(args.retries)
    try:
        with one_at_a_time(final):
            ensure_weights(session, args, final)
        if args.samples:
            with one_at_a_time(zip_path):
                ensure_samples(session, args, zip_path)
    except LessonError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to resume the download.", code=130)
    print(f"ready: create_facades_generator('{shown(final)}')")


def one_at_a_time(target):
    """Hold `<target>.lock` (filelock, which makes the folder) while this run works on `target`:
    two runs appending to one .part would join two copies. A second run refuses at once."""
    try:
        return FileLock(f"{target}.lock").acquire(timeout=0)  # released as the `with` ends
    except Timeout:
        what = f"another download_pretrained.py is fetching {shown(target)}"
        raise LessonError(f"{what}; wait for it to finish, then run this again.") from None
    except OSError:  # a read-only folder (no run can write there) or a file in the way
        return nullcontext()  # the steps below name it


def ensure_weights(session, args, final):
    """Verify the weights already here against their SHA-256, or download, check and record them."""
    sidecar = final.with_name(final.name + ".sha256")  # `sha256sum` format: "<hex>  <name>"
    for path in (final, sidecar):  # a named pipe there would make reading it wait forever
        if what := not_a_file(path):
            raise LessonError(f"{shown(path)} is {what}; move it away, run again.")
    if args.force or not final.exists():
        fetch(session, args.url, final, weights_problem, args, "--url", "--checkpoint-dir", sidecar)
    elif not sidecar.exists():  # copied here by hand: checked, and left where it is
        if problem := weights_problem(final):
            raise LessonError(f"{shown(final)} {problem}; move it away or {FORCE}.")
        print(f"{shown(final)} was already here and passes the check; recording its SHA-256.")
    digest = hashlib.sha256(final.read_bytes()).hexdigest()  # under the lock: the served bytes
    if sidecar.exists():  # (a download has removed it)
        with open(sidecar, "rb") as file:  # "<64 hex digits>  <name>"
            recorded = file.read(64).decode("ascii", "replace")
        if digest != recorded:
            what = f"{shown(final)} does not match the SHA-256 recorded in {sidecar.name}"
            raise LessonError(f"{what} (changed or damaged since it was downloaded); {FORCE}.")
        print(f"{shown(final)} matches its SHA-256 ({digest[:16]}...): nothing to download.")
        return
    try:
        with atomic_path(sidecar) as tmp:
            tmp.write_text(f"{digest}  {final.name}\n")
    except OSError as exc:  # a read-only folder that holds good weights: they are still usable
        why = f"{shown(sidecar)} ({exc.strerror or exc})"
        print(f"note: cannot record the SHA-256 in {why}; the weights passed the check, ready.")
    else:
        print(f"saved {shown(final)} ({final.stat().st_size:,} bytes, SHA-256 {digest[:16]}...)")


def weights_problem(path):
    """Why `path` is not the official generator, or None: loaded with weights_only (a pickle may run
    code), no NaN, every key and shape mapped into unet_256 as create_facades_generator does."""
    state_dict, problem = load_checked(path)
    if problem or not isinstance(state_dict, dict):
        return problem or f"holds a {type(state_dict).__name__}, not a state_dict"
    try:
        load_official_generator_weights(UNetGenerator(ngf=64), state_dict)
    except ValueError as exc:
        return f"is not the facades_label2photo generator ({exc})"
    return None


def ensure_samples(session, args, zip_path):
    if os.path.lexists(zip_path) and not args.force:
        problem = file_problem(zip_path) or cmp_zip_problem(zip_path)  # file_problem: no pipe
        if problem:  # kept by an earlier version of this script, or put here by hand
            raise LessonError(f"{shown(zip_path)} {problem}; delete it, run --samples again.")
        print(f"{shown(zip_path)} is already here: nothing to download")
    else:
        flags = ("--samples-url", "--samples-dir")
        fetch(session, args.samples_url, zip_path, cmp_zip_problem, args, *flags)
    convert_cmp_labels(zip_path, args.samples_dir, args.num_samples)


# The download: urllib3's Retry retries connections and 5xx answers; what it does not do (resume a
# body cut halfway with Range, refuse unsafe redirects, notice a stalled drip) is written out here.
RETRY_STATUSES = (500, 502, 503, 504)  # server hiccups that may pass; a 404 will not change
BACKOFF_FACTOR = 1.0  # urllib3 waits 0, 2, 4, 8 ... s between tries (the tests set it to 0)
STALL_BYTES = 1024  # less than this within one --timeout: the download has stalled
ASK = {"Accept-Encoding": "identity"}  # the file's own bytes, which a Range request can resume


def failure(error):
    """A failed connection in words, from urllib3's error (inside requests' after the retries)."""
    if isinstance(error, requests.RequestException) and error.args:
        error = getattr(error.args[0], "reason", error.args[0])  # a MaxRetryError's last error
    if isinstance(error.__cause__, ConnectionRefusedError):
        return "refused the connection"
    if isinstance(error, NameResolutionError):
        return "cannot be resolved (no internet, or a typo in the address)"
    if type(error) in (ReadTimeoutError, ConnectTimeoutError):  # not subclasses: those are refusals
        return "is not answering (nothing came within --timeout)"
    return f"cannot be reached ({type(error).__name__})"


class SayingRetry(Retry):
    """urllib3's Retry, saying at once that a try failed (offline, half a minute of silence)."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, **rest):
        retry = super().increment(method, url, response, error, _pool, **rest)  # raises at the end
        why = f"answered {response.status}" if error is None else failure(error)
        more = f"{self.total} more {'try' if self.total == 1 else 'tries'}"
        more += f", next in {retry.get_backoff_time():.0f} s; Ctrl+C stops"
        print(f"{_pool.host} {why}; trying again ({more})", flush=True)
        return retry


def make_session(retries):
    retry = SayingRetry(retries, backoff_factor=BACKOFF_FACTOR, status_forcelist=RETRY_STATUSES)
    retry.raise_on_status = False  # keep the last 5xx answer, to name it
    session = requests.Session()
    session.max_redirects = 10  # the official server needs none; more in a row go nowhere
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(max_retries=retry))
    return session


def fetch(session, url, final, problem_of, args, url_flag, dir_flag, stale=None):
    """Download to `<final>.part`, check it, only then rename it to `final` and drop `stale`."""
    part = final.with_name(final.name + ".part")
    part_is = not_a_file(part)  # a named pipe would block open()
    problem = check_writable_folder(final.parent) or (part_is and f"{part.name} is {part_is}")
    if problem:
        where = f"{shown(final.parent)} ({problem})"
        raise LessonError(f"cannot write into {where}; choose another folder with {dir_flag}.")
    offline = f"fetch {url} on a machine with internet, copy it to {shown(final)} and run this"
    download(session, url, part, args, url_flag, offline + " script to check it")
    with open(part, "rb") as file:  # proxies, portals and moved pages answer 200 with a page
        page = file.read(256).lstrip().startswith(b"<")
    problem = "is a web page (a login portal or a proxy?)" if page else problem_of(part)
    if problem:
        part.unlink()  # bad content: resuming it would only append to garbage
        fix = f"it was deleted; give the file's own address or a trusted mirror with {url_flag}"
        raise LessonError(f"the file from {url} {problem}; {fix}.")
    if stale is not None:
        stale.unlink(missing_ok=True)
    os.replace(part, final)  # atomic: the final name only ever holds a checked file


def download(session, url, part, args, url_flag, offline):
    """Stream `url` into `part`, resuming with HTTP Range up to --retries times; a server that
    cannot resume (it ignores Range, or compresses) starts over, and leaves no partial file."""
    resumable = True
    for attempt in range(args.retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        headers = ASK | ({"Range": f"bytes={offset}-"} if offset else {})
        response = get(session, url, headers, args.timeout, url_flag, offline)
        host, status = urlsplit(response.url).netloc, response.status_code
        with response:
            content_range = response.headers.get("Content-Range", "")
            if status == 416 and content_range.endswith(f"/{offset}"):
                return  # nothing after `offset`: the partial file already holds every byte
            if status == 416 and offset:  # longer than the file: left by another download
                print(f"{shown(part)} is not the beginning of {url}; starting from byte 0")
                part.unlink()
                return download(session, url, part, args, url_flag, offline)
            if status == 206 and content_range.startswith(f"bytes {offset}-"):
                mode = "ab"
            elif status == 200:
                if offset:
                    print(f"{host} cannot resume (it ignores Range requests); starting from byte 0")
                    resumable = False
                mode, offset = "wb", 0
            else:  # 404, or 5xx after the retries
                tries = f" after {args.retries + 1} tries" if status in RETRY_STATUSES else ""
                what = f"{response.url} answered {status} {response.reason}{tries}"
                raise LessonError(f"{what}; check the address or give a mirror with {url_flag}.")
            # Compressed on the way (Content-Encoding: gzip): its length and any Range count the
            # compressed bytes, not the file's, so the file is decoded and cannot be resumed.
            encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
            resumable &= not encoded and response.headers.get("Accept-Ranges", "") != "none"
            length = response.headers.get("Content-Length", "")
            expected = offset + int(length) if length.isdigit() and not encoded else None
            bar = dict(total=expected, initial=offset, unit="B", unit_scale=True, unit_divisor=1024)
            try:
                with open(part, mode) as file, tqdm(desc=part.stem, **bar) as progress:
                    received, ended = write_body(response, file, progress, offset, args.timeout)
            except OSError as exc:
                if exc.errno in FULL_DISK:
                    part.unlink(missing_ok=True)  # give the space back; a later run starts over
                raise LessonError(f"{write_failure(exc, part)}, or another folder.") from None
        if ended == "stopped" and expected in (None, received):  # no length: a clean end is the end
            return
        of = f"{received:,} of {expected:,}" if expected else f"{received:,}"
        if attempt < args.retries:
            print(f"connection {ended} at {of} bytes; trying again (try {attempt + 2})")
            time.sleep(BACKOFF_FACTOR * 2**attempt)
    what = f"the download of {url} {'stopped' if ended == 'cut' else ended} at {of} bytes"
    if resumable:
        raise LessonError(f"{what}; run the same command again to resume it from {shown(part)}.")
    part.unlink(missing_ok=True)
    tries = f"on each of {args.retries + 1} tries, and {host} cannot resume one"
    raise LessonError(f"{what} {tries}; run the same command again to start over, or {offline}.")


def write_body(response, file, progress, received, timeout):
    """Write the body -> (bytes in the file, how it ended): "stopped", "cut" (the connection broke)
    or "stalled (...)" (under STALL_BYTES in `timeout` s: a drip that no read timeout sees)."""
    stalled = f"stalled (under {STALL_BYTES:,} bytes in {timeout:g} s)"
    read = getattr(response.raw, "read1", response.raw.read)  # what has come: a drip moves the bar
    window_start, window_from = time.monotonic(), received
    while True:
        try:
            chunk = read(1 << 20, decode_content=True)  # gzip decoded, if sent so
        except ReadTimeoutError:
            return received, stalled
        except (HTTPError, requests.RequestException):
            return received, "cut"
        if not chunk:
            return received, "stopped"
        file.write(chunk)
        received += len(chunk)
        progress.update(len(chunk))
        if time.monotonic() - window_start >= timeout:  # one --timeout window is over
            if received - window_from < STALL_BYTES:
                return received, stalled
            window_start, window_from = time.monotonic(), received


def get(session, url, ask, timeout, url_flag, offline):
    """GET `url` as a stream. requests follows redirects (10 at most); `vet` refuses one
    to another scheme, or to another host over plain http (anyone on the way could send it)."""
    fix = f"give the file's own address with {url_flag}"

    def vet(response, **_):  # requests calls it on every answer, before following a redirect
        target = urlsplit(urljoin(response.url, response.headers.get("Location", "")))
        plain = target.scheme == "http" and target.hostname != urlsplit(response.url).hostname
        if response.is_redirect and (plain or target.scheme not in ("http", "https")):
            response.close()
            why = "another host over plain http" if plain else f"a {target.scheme}:// address"
            raise LessonError(f"{response.url} redirects to {target.geturl()}, {why}; {fix}.")

    try:
        return session.get(url, stream=True, timeout=timeout, headers=ask, hooks={"response": vet})
    except requests.TooManyRedirects:
        why = f"more than {session.max_redirects} times in a row (a loop?)"
        raise LessonError(f"{url} redirects {why}; {fix}.") from None
    except requests.RequestException as exc:
        where = exc.request.url if exc.request else url  # a redirect's target, maybe
        what = f"{urlsplit(where).netloc} {failure(exc)}"
        fix = f"check your network and run again, give a mirror with {url_flag}, or {offline}"
        raise LessonError(f"{what}; {fix}.") from None


# The CMP archive: each label map is a PNG of one class index 1..12 per pixel (FACADE_CLASSES'
# order). One from the internet may hold anything under those names: each entry's size is checked
# from the zip's directory before it is unpacked, and it is decoded by the one decoder.
MAX_LABEL_BYTES = 16 << 20  # a CMP label PNG is a few kB; more unpacked is a decompression bomb
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error)


def cmp_zip_problem(path):
    try:
        with zipfile.ZipFile(path) as archive:
            read_cmp_label(archive, cmp_label_names(archive)[0])
    except (LessonError, *ZIP_ERRORS) as exc:
        return f"is not a usable CMP archive ({exc})"
    return None


def cmp_label_names(archive):
    """base/cmp_bNNNN.png; LessonError for none, or one that would unpack to over 16 MB."""
    names = [n for n in archive.namelist() if PurePosixPath(n).parent.name == "base"]
    names = sorted(n for n in names if n.lower().endswith(".png"))
    for name in names:
        if archive.getinfo(name).file_size > MAX_LABEL_BYTES:
            raise LessonError(f"{name} would unpack to over {MAX_LABEL_BYTES >> 20} MB")
    if not names:
        raise LessonError("no base/*.png labels inside")
    return names


def read_cmp_label(archive, name):
    """(H, W) class indices 1..12 of one label map; LessonError saying why not. The PNG (mode P or
    L) stores the index: that is read, not the colours its own palette would show."""
    try:
        data = archive.read(name)  # at most its declared size (checked): zipfile stops there
    except ZIP_ERRORS as exc:
        raise LessonError(f"{name} cannot be unpacked ({exc})") from None
    image = open_image(data, name, "it is left out", formats=("PNG",))  # the one decoder, its limit
    index = np.asarray(image) if image.mode in ("P", "L") else None
    if index is None or index.min() < 1 or index.max() > len(PALETTE):
        raise LessonError(f"{name} is not a 12-class index map")
    return index


def convert_cmp_labels(zip_path, out_dir, count):
    """Paint class k with PALETTE[k - 1] and resize to 256x256 with nearest-neighbour sampling (no
    blended classes). A label that cannot be used is skipped: none beats a wrong one."""
    written, skipped = [], []
    with zipfile.ZipFile(zip_path) as archive:
        for name in cmp_label_names(archive)[:count]:
            out = out_dir / PurePosixPath(name).name
            if not out.exists():
                try:
                    index = read_cmp_label(archive, name)
                except LessonError as exc:
                    skipped.append(str(exc))
                    continue
                rgb = Image.fromarray(PALETTE[index - 1])  # (H, W, 3) colours
                save_image(rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST), out)
            written.append(out)
    if skipped:
        print(f"skipped {len(skipped)} label(s) that could not be used, e.g. {skipped[0]}")
    if not written:
        raise LessonError(f"no usable label maps in {shown(zip_path)}; delete it, run again.")
    print(f"{len(written)} CMP labels in our palette in {shown(out_dir)}, e.g. {written[0].name}")


if __name__ == "__main__":
    main()
