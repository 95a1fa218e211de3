"""Where the module lives, and writing files so that nothing a student already had is lost.

Every file the scripts write goes first to a hidden temporary file beside its destination and is
renamed over it only when complete: a crash, a full disk or Ctrl+C never leaves half a file under
the final name. The finished file gets the permissions any new file of the user gets (0644 under
the usual umask 022), not the private 0600 of a temporary file. Files are read only if they are
regular files: a FIFO (named pipe) given as an image would make the reader wait forever.
"""

import csv
import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from helpers.cli import shown

# The repository's root, the one place every script and test finds checkpoints/, sample_facades/
# and the scripts from, wherever it is run.
ROOT = Path(__file__).resolve().parents[1]
# What a write gets from a full disk, a full quota, or a file size limit (EFBIG, as on FAT32).
FULL_DISK = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def current_umask():
    """The process's umask (tests compare file modes with it). os.umask can only be read by setting
    it, so it is set back at once."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode():
    """The mode a plain new file gets from open(): 0o666 less the umask (0o644 for most users)."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short random name (".k3j9x2ab.part"), not ".NAME.part": that would be too long for the
    # file system where NAME itself is near its limit of 255 bytes.
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600, which others on a shared machine could not read.
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(data, path):
    """Write `data` to `path` through atomic_path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def not_a_file(path):
    """None for a regular file (or a link to one) and for a missing path (the reader says "does not
    exist"); else what `path` is instead: "a folder", "a named pipe (FIFO)", ... It only stat()s
    the path: a named pipe blocks its reader until something writes into it, which may be never."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except (FileNotFoundError, NotADirectoryError):  # a/b.png where a is a file: no such file
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (links that lead back to themselves)"
        return f"unreadable ({exc.strerror or exc})"  # no permission, a name too long, ...
    kinds = {stat.S_ISREG: None, stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a named pipe (FIFO)"}
    kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def file_problem(path):
    """Why `path` cannot be read as a file, as the end of a sentence that starts with its name
    ("is a folder, not a file"), or None for a regular file. Built on not_a_file: only stat()."""
    if not os.path.lexists(path):
        return "does not exist"
    what = not_a_file(path)
    if what is None:
        return None
    if what.startswith("unreadable"):
        return what.replace("unreadable", "cannot be read", 1)
    if what == "a folder":
        return "is a folder, not a file"
    if "link" in what:  # a broken link or a loop: no file at the end of it
        return f"is {what}"
    return f"is {what}, not a regular file"


def write_failure(exc, path):
    """An OSError from writing `path`, in words: "could not write PATH (the disk is full or the file
    too large: No space left on device); free some space"."""
    reason, fix = exc.strerror or str(exc), "check that folder"
    if exc.errno in FULL_DISK:
        reason, fix = f"the disk is full or the file too large: {reason}", "free some space"
    elif exc.errno == errno.ENAMETOOLONG:
        reason, fix = "the name is too long for the file system", "use a shorter name"
    return f"could not write {shown(path)} ({reason}); {fix}"


def check_writable_folder(folder):
    """None if files can be created in `folder` (made if missing), else the reason. Scripts call it
    before any long work: a read-only folder should fail in the first second, not after an epoch."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def write_csv(rows, path):
    """A list of dicts (same keys) as a CSV file with a header row, written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[-1]))
        writer.writeheader()
        writer.writerows(rows)
