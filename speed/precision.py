"""The precision each device computes natively (inference_dtype), and the process-wide settings a
script may opt into (tune_process): glibc's allocator on Linux CPUs, cuDNN's autotuner and TF32."""

import ctypes
import os
import platform
import sys
from pathlib import Path

import torch

# oneDNN's ISA levels below the first with bf16 instructions: ONEDNN_MAX_CPU_ISA set to one of
# these makes even an AMX CPU compute bf16 by emulation, many times slower than fp32.
ISA_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI"}
# glibc hands every block above M_MMAP_THRESHOLD to mmap and returns it on free, so the U-Net's
# activations (up to 32 MiB each at batch 8) are fresh pages that fault on first touch, every pass
# (the benchmark counts them). These mallopt settings (malloc.h's parameter numbers) keep freed
# blocks in the heap instead, at the price of holding up to 1 GiB of freed memory.
MALLOPT = {
    -3: 32 << 20,  # M_MMAP_THRESHOLD: glibc's upper limit on 64-bit systems ...
    -4: 0,  # M_MMAP_MAX: ... and no mmap at all, so batch 8's larger blocks use the heap too
    -1: 1 << 30,  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed memory
    -2: 64 << 20,  # M_TOP_PAD: grow the heap in 64 MiB steps, fewer brk calls
}
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def cpu_flags():
    """The words of /proc/cpuinfo, among them the CPU's feature flags; None without that file."""
    try:
        return set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None


def native_cpu_bf16():
    """True if this CPU computes bf16 in hardware (AVX512_BF16, AMX or ARM BF16) and oneDNN may."""
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ISA_WITHOUT_BF16
    if capped or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    flags = cpu_flags()
    if flags is None:  # no /proc/cpuinfo (Windows, macOS): trust oneDNN's own check
        return platform.machine().lower() in ("x86_64", "amd64")
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def inference_dtype(device):
    """The weight dtype that is fast *and* native for inference on `device`."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        ampere = torch.cuda.get_device_capability(index) >= (8, 0)  # bf16 tensor cores
        return torch.bfloat16 if ampere else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if native_cpu_bf16() else torch.float32


def tune_allocator():
    """Apply MALLOPT to this process. True if glibc took every setting (repeating is harmless)."""
    libc = ctypes.CDLL("libc.so.6") if GLIBC else None
    return libc is not None and all(libc.mallopt(key, value) for key, value in MALLOPT.items())


def tune_process(device):
    """Process-wide speed settings for `device`, for good; a line saying what each did."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # time cuDNN's algorithms once for our fixed shapes
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        return ["cuDNN autotuner on, TF32 matmuls and convolutions on"]
    if device.type != "cpu":
        return []
    return [
        "glibc malloc thresholds raised" if tune_allocator() else "allocator left alone (no glibc)"
    ]
