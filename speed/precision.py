"""Which precision each device computes natively, and the process-wide settings a script may opt
into for speed.

    training_dtype(device)    bf16 on Ampere+ GPUs and bf16 CPUs, fp16 (with loss scaling) on older
                              GPUs, fp32 on MPS and on CPUs without native bf16
    inference_dtype(device)   the same, but fp16 on MPS
    tune_process(device)      glibc malloc thresholds (Linux CPU), cuDNN autotuner and TF32 (CUDA)
    busy_note()               what to do when other programs hold the cores

docs/speed.rst gives the figures behind each choice, measured per CPU class.
"""

import ctypes
import os
import platform
import sys
from pathlib import Path

import torch

# glibc malloc hands every block above M_MMAP_THRESHOLD (128 KiB at start, adapting up to 32 MiB)
# to mmap and gives it back to the kernel on free, and trims the heap top beyond M_TRIM_THRESHOLD.
# So the U-Net's activations (up to 32 MiB each at batch 8) are fresh pages that fault on first
# touch, on every pass (speed/bench.py counts the faults). Keeping freed blocks in the heap brings
# that to zero after the first pass, at the price of holding up to TRIM_THRESHOLD of freed memory
# instead of returning it to the system at once.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4  # mallopt's (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit for this parameter on 64-bit systems
MMAP_MAX = 0  # ...and no mmap at all, so batch 8's blocks above 32 MiB come from the heap too
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed memory rather than return it at once
TOP_PAD = 64 << 20  # grow the heap in 64 MiB steps: fewer brk calls
# oneDNN's ISA levels below the first with bf16 instructions: ONEDNN_MAX_CPU_ISA set to one of
# these makes even an AMX CPU compute bf16 by emulation.
ISA_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI"}


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo, or None where there is no such file."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):  # x86 says flags, ARM says Features
            return set(line.split(":", 1)[1].split())
    return set()


def native_cpu_bf16():
    """True if this CPU computes bf16 in hardware (AVX512_BF16, AMX or ARM BF16) and oneDNN may
    use it."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ISA_WITHOUT_BF16:
        return False
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    flags = cpu_flags()
    if flags is None:  # no /proc/cpuinfo (Windows, macOS): trust oneDNN's own check
        return platform.machine().lower() in ("x86_64", "amd64")
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def training_dtype(device):
    """The autocast dtype that is fast *and* native for a training step on `device` (fp32: no
    autocast)."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        # Ampere and newer: bf16 tensor cores, no loss scaling; older GPUs: fp16 with a GradScaler
        ampere = torch.cuda.get_device_capability(index) >= (8, 0)
        return torch.bfloat16 if ampere else torch.float16
    if device.type == "cpu" and native_cpu_bf16():
        return torch.bfloat16
    return torch.float32  # MPS (autocast there is young) and CPUs that would emulate bf16


def inference_dtype(device):
    """The weight dtype for fast inference on `device`: as for training, but fp16 on MPS."""
    device = torch.device(device)
    return torch.float16 if device.type == "mps" else training_dtype(device)


def channels_last_pays(device, dtype):
    """NHWC for training: on CUDA, and on CPUs in bf16. In fp32 on a CPU, NHWC speeds up the
    forward convolutions but slows BatchNorm's training kernels and most convolution backward
    passes more, so that a whole step gets slower (docs/speed.rst has the figures)."""
    device = torch.device(device)
    return device.type == "cuda" or (device.type == "cpu" and dtype != torch.float32)


def _glibc():
    """The C library as a ctypes handle if it is glibc on Linux (mallopt is glibc's), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_allocator():
    """Raise glibc's mmap/trim thresholds for this process. True if glibc took them (repeating is
    harmless)."""
    libc = _glibc()
    if libc is None:
        return False
    settings = {
        M_MMAP_THRESHOLD: MMAP_THRESHOLD,
        M_MMAP_MAX: MMAP_MAX,
        M_TRIM_THRESHOLD: TRIM_THRESHOLD,
        M_TOP_PAD: TOP_PAD,
    }
    return all(libc.mallopt(param, value) for param, value in settings.items())  # 1: success


def busy_note():
    """A note when other programs hold the cores (a load average above their number) while
    OpenMP's threads would spin as they wait (no OMP_WAIT_POLICY); else None.
    docs/troubleshooting.rst has the measurement behind it."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0  # not on Windows
    if load <= (os.cpu_count() or 1) or "OMP_WAIT_POLICY" in os.environ:
        return None
    return (
        f"note: this machine is busy (load {load:.1f} on {os.cpu_count()} cores): start Python "
        "with OMP_WAIT_POLICY=PASSIVE, or every small op waits for a descheduled thread"
    )


def tune_process(device):
    """Process-wide speed settings for `device`; one line per setting switched on (or not)."""
    device = torch.device(device)
    done = []
    if device.type == "cpu":
        if tune_allocator():
            done.append("glibc malloc thresholds raised (no page faults per pass)")
        else:
            done.append("allocator left alone (tuning needs glibc on Linux)")
        if note := busy_note():
            done.append(note)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # time cuDNN's algorithms once for our fixed shapes
        torch.backends.cuda.matmul.allow_tf32 = True  # Ampere+: TF32 matmuls ...
        torch.backends.cudnn.allow_tf32 = True  # ... and convolutions
        done.append("cuDNN autotuner on, TF32 matmuls and convolutions on")
    return done
