"""What lets a run stop at any moment and go on exactly: the folder lock, signals held while an
epoch's files are renamed into place, and every random-number generator's state.

    hold_lock(path)     this process alone trains into the folder; a killed run leaves no lock
    signals_held()      Ctrl+C and SIGTERM wait for a block to end, then act as usual
    rng_states() / set_rng_states(states)   torch, random, numpy and CUDA, for an exact --resume
"""

import hashlib
import os
import random
import signal
import sys
import time
from contextlib import contextmanager

import numpy as np
import torch

from helpers.lesson import LessonError, shown
from helpers.lesson import FULL_DISK


def hold_lock(path):
    """Lock `path` for this process, or a LessonError naming the run that holds it. The operating
    system releases the lock when a process ends, however it ends: a killed run leaves none."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try_lock(fd)
        except OSError:
            holder = os.read(fd, 1000).decode(errors="replace").strip() or "starting"
            os.close(fd)
            raise LessonError(
                f"another run is training into {shown(path.parent)} ({holder}); wait "
                "for it to end, or choose another --output-dir"
            ) from None
        if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
            break  # the file we locked is still the lock file (the last holder may have removed it)
        os.close(fd)
    command = " ".join(["python", *sys.argv])[:300]
    os.write(fd, f"pid {os.getpid()}, started {time.strftime('%H:%M')}: {command}".encode())
    return fd


def try_lock(fd):
    if os.name == "nt":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def interrupt(signum, frame):
    """SIGTERM as Ctrl+C: the same message and exit. A second SIGTERM waits for the first to end."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextmanager
def signals_held():
    """Ctrl+C and SIGTERM wait until the block (a handful of renames) ends, then act as usual."""
    caught = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


def is_disk_full(exc):
    if isinstance(exc, OSError):
        return exc.errno in FULL_DISK
    return "write" in str(exc) or "unexpected pos" in str(exc)  # torch.save's RuntimeError


def rng_states():
    return dict(
        torch=torch.get_rng_state(),
        python=random.getstate(),
        numpy=torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
        numpy_pos=int(np.random.get_state()[2]),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    )


def set_rng_states(states):
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    numpy_key = states["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", numpy_key, states["numpy_pos"], 0, 0.0))
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def weights_digest(nets):
    """SHA-256 of every parameter's bytes: equal digests mean bit-for-bit equal weights."""
    digest = hashlib.sha256()
    for net in nets:
        for p in net.parameters():
            digest.update(p.detach().cpu().numpy().tobytes())
    return digest.hexdigest()
