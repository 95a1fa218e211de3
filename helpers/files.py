"""Where the module lives, and writing files so that nothing a student already had is lost.

Every file the scripts write goes first to a hidden temporary file beside its destination and is
renamed over it only when complete: a crash, a full disk or Ctrl+C never leaves half a file under
the final name. The finished file gets the permissions any new file of the user gets (0644 under
the usual umask 022), not the private 0600 of a temporary file.
"""

import csv
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

# The repository's root, the one place every script and test finds checkpoints/, sample_facades/
# and the scripts from, wherever it is run.
ROOT = Path(__file__).resolve().parents[1]


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
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
