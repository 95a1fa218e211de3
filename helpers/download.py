"""Download a file over HTTP into a checked file: retries, resuming, one sentence for every failure.

    session = make_session(retries=5)
    fetch(session, url, final, check, timeout=30, retries=5, url_flag="--url", dir_flag="--out",
          offline="copy it here by hand")

The bytes go to `<final>.part` first: a cut download resumes from there with an HTTP Range request,
in this run or the next one. Only a file that `check` accepts gets the final name, in one atomic
rename. download_pretrained.py is the script that uses it.
"""

import errno
import os
import time
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import NameResolutionError
from urllib3.util.retry import Retry

from helpers.cli import LessonError, shown
from helpers.files import check_writable_folder, new_file_mode

RETRY_STATUSES = (
    500,
    502,
    503,
    504,
)  # server hiccups that may pass; a 404 will not change on retry
BACKOFF_FACTOR = 1.0  # urllib3 waits 0, 2, 4, 8 ... s between tries (the tests set it to 0)
CHUNK_BYTES = 1 << 20


class SayingRetry(Retry):
    """urllib3's Retry, which also says at once that a try failed and another follows: offline,
    the retries would otherwise take half a minute of silence."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, **rest):
        retry = super().increment(method, url, response, error, _pool, **rest)  # raises at the end
        host = _pool.host if _pool is not None else "the server"
        if response is not None and error is None:
            why = f"answered {response.status}"
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


def network_error(exc, url, offline):
    """One sentence for a failed connection: what went wrong, and what to do (`offline` too)."""
    host = urlsplit(url).netloc
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's, after retries
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
    return f"{what}; check your network and run again, or {offline}."


def download(session, url, part, timeout, retries, url_flag, offline):
    """Stream `url` into `part`, resuming from the bytes already there (HTTP Range).

    A connection cut mid-body is resumed up to `retries` times; the partial file stays for the
    next run. A server that ignores Range answers 200 with the whole file: then it starts over.
    """
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = session.get(url, stream=True, timeout=timeout, headers=headers)
        except requests.RequestException as exc:
            raise LessonError(network_error(exc, url, offline)) from None
        with response:
            content_range = response.headers.get("Content-Range", "")
            if response.status_code == 416 and content_range.endswith(f"/{offset}"):
                return  # nothing after `offset`: the partial file already holds every byte
            if response.status_code == 416 and offset:  # longer than the file: another download
                where = f"{shown(part)} is not the beginning of {url} (longer than the file)"
                print(f"{where}; starting from byte 0")
                part.unlink()
                continue
            if response.status_code == 206 and content_range.startswith(f"bytes {offset}-"):
                mode = "ab"
            elif response.status_code == 200:
                if offset:
                    print(f"{urlsplit(url).netloc} cannot resume a download; starting from byte 0")
                mode, offset = "wb", 0
            else:  # 404, or 5xx after the retries
                retried = response.status_code in RETRY_STATUSES
                tries = f" after {retries + 1} tries" if retried else ""
                raise LessonError(
                    f"{url} answered {response.status_code} {response.reason}{tries}; check the "
                    f"address or give a working mirror with {url_flag}."
                )
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length is not None else None
            received, finished = write_body(response, part, mode, offset, expected)
        if finished and (expected is None or received == expected):  # no length: a clean end
            return
        of = f"{received:,} of {expected:,}" if expected else f"{received:,}"
        if attempt < retries:
            print(f"connection cut at {of} bytes; resuming (try {attempt + 2})")
            time.sleep(BACKOFF_FACTOR * 2**attempt)
    raise LessonError(
        f"the download of {url} stopped at {of} bytes; "
        f"run the same command again to resume it from {part}."
    )


def write_body(response, part, mode, offset, expected):
    """Append (or write) the body to `part` with a progress bar -> (bytes in part, finished?).

    A cut connection keeps the bytes so far, for download() to resume."""
    received, finished = offset, False
    bar = dict(total=expected, initial=offset, unit="B", unit_scale=True, unit_divisor=1024)
    try:
        name = part.name.removesuffix(".part")
        with open(part, mode) as file, tqdm(desc=name, **bar) as progress:
            for chunk in response.iter_content(CHUNK_BYTES):
                file.write(chunk)
                received += len(chunk)
                progress.update(len(chunk))
        finished = True
    except requests.RequestException:
        pass  # a cut connection
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
    return received, finished


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
