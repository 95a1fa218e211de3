"""Download a file over HTTP into a checked file: retries, resuming, one sentence for every failure.

    session = make_session(retries=5)
    fetch(session, url, final, check, timeout=30, retries=5, url_flag="--url", dir_flag="--out",
          offline="copy it here by hand")

The bytes go to `<final>.part` first: a cut download resumes from there with an HTTP Range request,
in this run or the next one. Only a file that `check` accepts gets the final name, in one atomic
rename. A redirect is followed only to https or on the same host; a server that sends less than
STALL_BYTES in a --timeout has stalled. download_pretrained.py is the script that uses it.
"""

import argparse
import errno
import os
import time
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from helpers.lesson import LessonError, shown
from helpers.lesson import check_writable_folder, file_problem, new_file_mode

RETRY_STATUSES = (500, 502, 503, 504)  # server hiccups that may pass; a 404 will not change
BACKOFF_FACTOR = 1.0  # urllib3 waits 0, 2, 4, 8 ... s between tries (the tests set it to 0)
CHUNK_BYTES = 1 << 20
SCHEMES = ("http", "https")
MAX_REDIRECTS = 10  # the official server needs none; a chain this long is going nowhere
STALL_BYTES = 1024  # less than this within one --timeout: the download has stalled
ASK = {"Accept-Encoding": "identity"}  # the file's own bytes, which a Range request can resume


def web_address(text):
    """An argparse type: an http:// or https:// address with a host (nothing else is fetched)."""
    try:
        parts = urlsplit(text)
        ok = parts.scheme.lower() in SCHEMES and bool(parts.hostname)
    except ValueError:  # a malformed [IPv6] host or port
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// address")
    return text


def timed_out(error):
    """True for urllib3's timeouts (its NewConnectionError is a ConnectTimeoutError too)."""
    if isinstance(error, NewConnectionError):
        return False
    return isinstance(error, (ReadTimeoutError, ConnectTimeoutError, requests.Timeout))


class SayingRetry(Retry):
    """urllib3's Retry, which also says at once that a try failed and another follows: offline,
    the retries would otherwise take half a minute of silence."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, **rest):
        retry = super().increment(method, url, response, error, _pool, **rest)  # raises at the end
        host = _pool.host if _pool is not None else "the server"
        if response is not None and error is None:
            why = f"answered {response.status}"
        elif timed_out(error):
            why = "is not answering (nothing within the timeout)"
        else:
            why = f"cannot be reached ({type(getattr(error, 'reason', None) or error).__name__})"
        left = self.total  # tries still to come after this failed one
        tries = "try" if left == 1 else "tries"
        wait = retry.get_backoff_time()
        print(
            f"{host} {why}; trying again ({left} more {tries}, next in {wait:.0f} s; Ctrl+C stops)",
            flush=True,
        )
        return retry


def make_session(retries):
    """A requests Session that retries refused/failed connections and 5xx answers, with backoff."""
    retry = SayingRetry(
        total=retries,
        backoff_factor=BACKOFF_FACTOR,
        status_forcelist=RETRY_STATUSES,
        allowed_methods={"GET"},
        raise_on_status=False,  # keep the last 5xx answer, to name it
    )
    session = requests.Session()
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(max_retries=retry))
    return session


def network_error(exc, url, url_flag, offline):
    """One sentence for a failed connection: what went wrong, and what to do (`offline` too)."""
    host = urlsplit(url).netloc
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's, after retries
    if isinstance(reason, NameResolutionError):
        what = f"cannot resolve the host name {host} (no internet, or a typo in the URL)"
    elif timed_out(exc) or timed_out(reason):
        what = f"{host} is not answering (nothing came within --timeout)"
        return f"{what}; try again later, give a mirror with {url_flag}, or {offline}."
    elif "refused" in str(reason or exc).lower():
        what = f"{host} refused the connection"
    else:
        what = f"cannot reach {host} ({type(reason or exc).__name__})"
    return f"{what}; check your network and run again, or {offline}."


def redirect_problem(url, target, seen):
    """Why a redirect from `url` to `target` is not followed, or None to follow it."""
    old, new = urlsplit(url), urlsplit(target)
    if target in seen:
        return "an address it came from: a redirect loop"
    if len(seen) > MAX_REDIRECTS:
        return f"the {len(seen)}th redirect in a row"
    if new.scheme not in SCHEMES:
        return f"a {new.scheme}:// address, which this script cannot fetch"
    if new.scheme != "https" and new.hostname != old.hostname:  # anyone on the way could send it
        return "another host over plain http, which is not followed"
    return None


def get(session, url, timeout, headers, url_flag, offline):
    """GET `url` as a stream, following only the redirects redirect_problem allows ->
    (response, the address that answered)."""
    seen = [url]
    while True:
        try:
            response = session.get(
                url, stream=True, timeout=timeout, headers=headers, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise LessonError(network_error(exc, url, url_flag, offline)) from None
        if not response.is_redirect:
            return response, url
        response.close()
        target = urljoin(url, response.headers["Location"])
        problem = redirect_problem(url, target, seen)
        if problem:
            raise LessonError(
                f"{url} redirects to {target}, {problem}; give the file's own address with "
                f"{url_flag}."
            )
        seen.append(target)
        url = target


def download(session, url, part, timeout, retries, url_flag, offline):
    """Stream `url` into `part`, resuming from the bytes already there (HTTP Range).

    A connection cut mid-body is resumed up to `retries` times; the partial file stays for the
    next run. A server that cannot resume (it ignores Range, or compresses the body) starts over
    each time, and then leaves no partial file behind.
    """
    resumable, attempt = True, 0
    while True:
        if not resumable:
            part.unlink(missing_ok=True)
        offset = part.stat().st_size if part.exists() else 0
        headers = ASK | ({"Range": f"bytes={offset}-"} if offset else {})
        response, where = get(session, url, timeout, headers, url_flag, offline)
        host = urlsplit(where).netloc
        with response:
            content_range = response.headers.get("Content-Range", "")
            if response.status_code == 416 and content_range.endswith(f"/{offset}"):
                return  # nothing after `offset`: the partial file already holds every byte
            if response.status_code == 416 and offset:  # longer than the file: another download
                note = f"{shown(part)} is not the beginning of {url} (longer than the file)"
                print(f"{note}; starting from byte 0")
                part.unlink()
                continue  # not a failed try: nothing was cut
            if response.status_code == 206 and content_range.startswith(f"bytes {offset}-"):
                mode = "ab"
            elif response.status_code == 200:
                if offset:
                    ignores = "cannot resume a download (it ignores Range requests)"
                    print(f"{host} {ignores}; starting from byte 0")
                    resumable = False
                mode, offset = "wb", 0
            else:  # 404, or 5xx after the retries
                retried = response.status_code in RETRY_STATUSES
                tries = f" after {retries + 1} tries" if retried else ""
                raise LessonError(
                    f"{where} answered {response.status_code} {response.reason}{tries}; check the "
                    f"address or give a working mirror with {url_flag}."
                )
            # Compressed on the way (Content-Encoding: gzip): its length and any Range count the
            # compressed bytes, not the file's, so the file is decoded and cannot be resumed.
            encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
            resumable &= not encoded and response.headers.get("Accept-Ranges", "") != "none"
            length = response.headers.get("Content-Length", "")
            expected = offset + int(length) if length.isdigit() and not encoded else None
            received, ended = write_body(response, part, mode, offset, expected, timeout[1])
        if ended == "done" and (expected is None or received == expected):  # no length: clean end
            return
        of = f"{received:,} of {expected:,}" if expected else f"{received:,}"
        if attempt == retries:
            break
        print(f"connection {ended} at {of} bytes; trying again (try {attempt + 2})")
        time.sleep(BACKOFF_FACTOR * 2**attempt)
        attempt += 1
    what = f"the download of {url} {'stalled' if ended == 'stalled' else 'stopped'} at {of} bytes"
    if ended == "stalled":
        what += f" (under {STALL_BYTES:,} bytes in {timeout[1]:g} s)"
    if not resumable:
        part.unlink(missing_ok=True)
        raise LessonError(
            f"{what} on each of {retries + 1} tries, and {host} cannot resume one; run the same "
            f"command again to start over, or {offline}."
        )
    raise LessonError(f"{what}; run the same command again to resume it from {part}.")


def write_body(response, part, mode, offset, expected, timeout):
    """Append (or write) the body to `part` with a progress bar -> (bytes in part, how it ended):
    "done", "cut" (the connection broke) or "stalled" (under STALL_BYTES in `timeout` seconds).

    The bytes so far stay, for download() to resume."""
    received, ended = offset, "done"
    bar = dict(total=expected, initial=offset, unit="B", unit_scale=True, unit_divisor=1024)
    # read1 returns whatever has arrived, so a slow server moves the bar byte by byte (an older
    # urllib3 has no read1: its read waits for a whole chunk).
    read = getattr(response.raw, "read1", response.raw.read)
    window_start, window_bytes = time.monotonic(), 0
    try:
        name = part.name.removesuffix(".part")
        with open(part, mode) as file, tqdm(desc=name, **bar) as progress:
            while True:
                try:
                    chunk = read(CHUNK_BYTES, decode_content=True)  # gzip decoded, if sent so
                except ReadTimeoutError:
                    ended = "stalled"
                    break
                except (HTTPError, requests.RequestException):
                    ended = "cut"
                    break
                if not chunk:
                    break
                file.write(chunk)
                received += len(chunk)
                window_bytes += len(chunk)
                progress.update(len(chunk))
                if time.monotonic() - window_start >= timeout:  # one --timeout window is over
                    if window_bytes < STALL_BYTES:
                        ended = "stalled"
                        break
                    window_start, window_bytes = time.monotonic(), 0
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            part.unlink(missing_ok=True)  # give the space back; a later run starts over
            raise LessonError(
                f"the disk is full while writing {part}; free some space or choose another "
                "folder, then run again."
            ) from None
        raise LessonError(
            f"cannot write {part} ({exc.strerror}); choose a folder you can write to with "
            "--checkpoint-dir or --samples-dir."
        ) from None
    return received, ended


def check_not_html(path, url, url_flag):
    """Proxies, captive portals and moved pages answer 200 with a web page instead of the file."""
    with open(path, "rb") as file:
        head = file.read(256).lstrip().lower()
    if head.startswith(b"<"):
        raise LessonError(
            f"{url} sent a web page instead of the file (a login portal, a proxy or a wrong "
            f"address); open it in a browser or give a direct link with {url_flag}."
        )


def fetch(
    session, url, final, check, *, timeout, retries, url_flag, dir_flag, offline, replaced=()
):
    """Download to `<final>.part` (resuming what an earlier run left there), check it, and only
    then rename it to `final`; files in `replaced` (a stale checksum) go at that moment, not before.

    `check(path, url)` raises LessonError for bad content; `url_flag` and `dir_flag` name the
    flags that fix a bad address or folder, and `offline` completes the sentence for no internet.
    """
    part = final.with_name(final.name + ".part")
    problem = check_writable_folder(final.parent)
    if not problem and os.path.lexists(part) and file_problem(part):  # a pipe would block open()
        problem = f"{part.name} there {file_problem(part)}"
    if problem:
        raise LessonError(
            f"cannot write into {shown(final.parent)} ({problem}); choose a folder you can write "
            f"to with {dir_flag}."
        )
    download(session, url, part, (timeout, timeout), retries, url_flag, offline)
    try:
        check(part, url)
    except LessonError:
        part.unlink()  # bad content: resuming it would only append to garbage
        raise
    for path in replaced:
        path.unlink(missing_ok=True)
    os.replace(part, final)  # atomic: the final name only ever holds a checked file
    os.chmod(final, new_file_mode())  # a plain file's permissions, readable by the class
