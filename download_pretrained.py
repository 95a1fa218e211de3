"""Fetch the official pretrained pix2pix facades generator (and, on request, real CMP label maps).

    python download_pretrained.py             # the weights, about 218 MB
    python download_pretrained.py --samples   # also 8 real CMP labels, converted to our palette

Writes:
    checkpoints/facades_generator.pth          the official facades_label2photo.pth, byte for byte
    checkpoints/facades_generator.pth.sha256   its SHA-256 (`sha256sum -c` format), checked later
    sample_facades/cmp/                        with --samples: CMP_facade_DB_base.zip, cmp_b*.png

The bytes go to `facades_generator.pth.part` first (a cut download resumes from there with an
HTTP Range request; helpers/download.py); only a file that torch.load(weights_only=True) accepts
and whose every key and shape fits the official unet_256 gets the final name. A second run
downloads nothing; --force does. No internet? Fetch OFFICIAL_URL on another machine, copy it to
checkpoints/facades_generator.pth and run this script: it checks the file and records its SHA-256.
"""

import argparse
import hashlib
import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from facades_generator import DEFAULT_CHECKPOINT
from helpers.lesson import read_weights
from helpers.cmp_archive import cmp_zip_problem, convert_cmp_labels
from helpers.lesson import ArgumentParser, LessonError, above, at_least, fail, shown
from helpers.download import CHUNK_BYTES, check_not_html, fetch, make_session, web_address
from helpers.lesson import ROOT, atomic_path, file_problem
from pix2pix_models import UNetGenerator, load_official_generator_weights

# The authors' own server (plain http; no checksum is published). Other URLs in circulation hold
# Lua .t7 files (.../pix2pix/models/) or a different, ResNet model of the same name
# (.../cyclegan/pretrained_models/).
OFFICIAL_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/facades_label2photo.pth"
CMP_BASE_URL = "https://cmp.felk.cvut.cz/~tylecr1/facade/CMP_facade_DB_base.zip"
CMP_LABELS_DIR = ROOT / "sample_facades" / "cmp"  # real CMP labels, in our palette (--samples)
DELETED = "it was deleted; use the official URL or a trusted mirror with --url"


def offline_hint(url, final):
    """The way round a machine without internet (docs/downloads.rst), to end a sentence with."""
    copy = f"copy it to {final} and run this script to check it"
    return f"fetch {url} on a machine with internet, {copy}"


def parse_args(argv):
    p = ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=DEFAULT_CHECKPOINT.parent,
        help=f"folder for {DEFAULT_CHECKPOINT.name} and its .sha256",
    )
    p.add_argument(
        "--url",
        type=web_address,
        default=OFFICIAL_URL,
        help="where to fetch the weights (a mirror, say)",
    )
    p.add_argument(
        "--force", action="store_true", help="download again even if a good file is there"
    )
    p.add_argument(
        "--retries", type=at_least(0), default=5, help="tries after a failed connection, 5xx or cut"
    )
    p.add_argument(
        "--timeout", type=above(0), default=30.0, help="seconds to wait to connect or for data"
    )
    p.add_argument(
        "--samples", action="store_true", help="also fetch the CMP archive, convert labels"
    )
    p.add_argument(
        "--samples-url",
        type=web_address,
        default=CMP_BASE_URL,
        help="where to fetch the CMP archive",
    )
    p.add_argument(
        "--samples-dir", type=Path, default=CMP_LABELS_DIR, help="for the archive, labels"
    )
    p.add_argument(
        "--num-samples", type=at_least(1), default=8, help="how many CMP labels to convert"
    )
    return p.parse_args(argv)


def check_weights(path, url, subject=None, fix=DELETED):
    """Load with weights_only=True (a pickle may run code; this never does; NaN is refused), then
    map every key and check every shape with the mapping create_facades_generator uses, on the real
    unet_256. `subject` and `fix` word the message for a file copied here by hand."""
    if subject is None:  # a download: a web page is named as one
        check_not_html(path, url, "--url")
    subject = subject or f"the file from {url}"
    state_dict = read_weights(path, fix=fix, subject=subject)
    try:
        if not isinstance(state_dict, dict):
            raise ValueError(f"it holds a {type(state_dict).__name__}, not a state_dict")
        load_official_generator_weights(UNetGenerator(ngf=64), state_dict)
    except ValueError as exc:
        message = f"{subject} is not the facades_label2photo generator ({exc})"
        raise LessonError(f"{message}; {fix}.") from None


def check_cmp_zip(path, url):
    """The CMP archive is usable if it is a zip whose base/*.png label maps can be unpacked safely
    and the first of them is a 12-class index map (helpers/cmp_archive.py)."""
    check_not_html(path, url, "--samples-url")
    problem = cmp_zip_problem(path)
    if problem:
        raise LessonError(
            f"the file from {url} is not a usable CMP_facade_DB_base.zip ({problem}); "
            "check --samples-url."
        )


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
        reason = f"{folder} ({exc.strerror})"
        raise LessonError(f"cannot create the folder {reason}; choose another {flag}.") from None


def ensure_weights(session, args):
    """Verify the weights already here against their SHA-256, or download, check and record them."""
    final = args.checkpoint_dir / DEFAULT_CHECKPOINT.name
    sidecar = final.with_name(final.name + ".sha256")  # `sha256sum` format: "<hex>  <name>"
    force = "run `python download_pretrained.py --force`"
    make_folder(args.checkpoint_dir, "--checkpoint-dir")
    for path in (final, sidecar):  # a named pipe there would make reading it wait forever
        problem = file_problem(path) if os.path.lexists(path) else None
        if problem:
            raise LessonError(f"{shown(path)} {problem}; move it away, then run again.")
    if final.exists() and not args.force:
        digest = sha256_of(final)
        if sidecar.exists():
            with open(sidecar, "rb") as file:  # its first word; a damaged one reads as no digest
                recorded = (file.read(256).decode("ascii", "replace").split() or [""])[0]
            if digest != recorded:
                raise LessonError(
                    f"{final} does not match the SHA-256 recorded in {sidecar} (changed or damaged "
                    f"since it was downloaded); {force}."
                )
            print(
                f"{final} is already here and matches its SHA-256 ({digest[:16]}...): nothing to "
                "download (--force downloads it again)."
            )
            return final
        # A file copied here by hand: check it before trusting it (and leave it where it is).
        check_weights(final, str(final), subject=shown(final), fix=f"move it away or {force}")
        print(
            f"{final} was already here (copied by hand?) and passes the check; recording its "
            "SHA-256."
        )
    else:
        fetch(
            session,
            args.url,
            final,
            check_weights,
            timeout=args.timeout,
            retries=args.retries,
            url_flag="--url",
            dir_flag="--checkpoint-dir",
            offline=offline_hint(args.url, final),
            replaced=[sidecar],
        )
        digest = sha256_of(final)
    try:
        with atomic_path(sidecar) as tmp:
            tmp.write_text(f"{digest}  {final.name}\n")
    except OSError as exc:  # a read-only folder that holds good weights: they are still usable
        print(
            f"note: cannot record the SHA-256 in {shown(sidecar)} ({exc.strerror or exc}); the "
            "weights passed the check and are ready, and the next run checks them again."
        )
    else:
        size = f"{final.stat().st_size:,} bytes, SHA-256 {digest[:16]}..."
        print(f"saved {shown(final)} ({size}) and {sidecar.name}")
    return final


def ensure_samples(session, args):
    zip_path = args.samples_dir / PurePosixPath(urlsplit(CMP_BASE_URL).path).name
    make_folder(args.samples_dir, "--samples-dir")
    if os.path.lexists(zip_path) and not args.force:
        problem = file_problem(zip_path) or cmp_zip_problem(zip_path)  # file_problem: no pipe
        if problem:  # kept by an earlier version of this script, or put here by hand
            raise LessonError(
                f"{shown(zip_path)} is not a usable CMP archive ({problem}); delete it and run "
                "with --samples again."
            )
        print(f"{zip_path} is already here: nothing to download")
    else:
        fetch(
            session,
            args.samples_url,
            zip_path,
            check_cmp_zip,
            timeout=args.timeout,
            retries=args.retries,
            url_flag="--samples-url",
            dir_flag="--samples-dir",
            offline=offline_hint(args.samples_url, zip_path),
        )
    convert_cmp_labels(zip_path, args.samples_dir, args.num_samples)


def main(argv=None):
    args = parse_args(argv)
    print(f"weights: {args.url}\n    -> {args.checkpoint_dir / DEFAULT_CHECKPOINT.name}")
    settings = f"retries: {args.retries}, timeout: {args.timeout:g} s, force: {args.force}"
    print(f"{settings}, key/shape check on cpu")
    if args.samples:
        print(
            f"samples: {args.num_samples} labels from {args.samples_url}\n    -> {args.samples_dir}"
        )
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
