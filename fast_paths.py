"""The project's fast paths: which speed-ups to use on this device, and the helpers that apply them.

    fast = choose_fast_path(device)            # decided from the device and what its hardware does natively
    print(fast.describe())                     # every script prints it at start-up
    activate(fast)                             # process-wide settings: allocator, cuDNN autotuner, TF32
    net_G = prepare_generator_for_inference(net_G, fast)
    fake_B = net_G(prepare_input(real_A, fast)).float()
    with train_autocast(fast): ...             # mixed precision for a training step (or nothing)
    scaler = make_grad_scaler(fast)            # loss scaling, only where fp16 needs it
    torch.optim.Adam(params, lr=LR, betas=(BETA1, 0.999), **fast.adam_options)

Every choice can be switched off (add_fast_path_arguments gives each script the same flags), and
the plain path (`choose_fast_path(device, enabled=False)`) is the official implementation's way:
fp32, NCHW, eager. Reduced precision is used only where the hardware computes it natively: on a
CPU without bf16 instructions (AVX2 only, say) PyTorch emulates bf16 and runs 10-30x *slower*.
"""

import ctypes
import os
import platform
import shutil
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from fast_modules import can_pack, pack_convolutions, use_group_norm
from pix2pix_models import PerImageBatchNorm2d

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}

# glibc malloc hands every block above M_MMAP_THRESHOLD (128 KiB at start, adapting up to 32 MiB) to
# mmap and gives it back to the kernel on free, and trims the heap top beyond M_TRIM_THRESHOLD. So U-Net
# activations (up to 32 MiB each at batch 8) are fresh pages that fault on first touch, on every pass:
# ~30k page faults per batch-1 generator pass, ~190k at batch 8. Keeping freed blocks in the heap for
# reuse brings that to zero after the first pass, at the price of holding up to TRIM_THRESHOLD of freed
# memory instead of returning it to the system at once.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit for this parameter on 64-bit systems
MMAP_MAX = 0  # ...and no mmap at all, so blocks above 32 MiB (batch 8 activations) come from the heap too
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed memory rather than return it at once
TOP_PAD = 64 << 20  # grow the heap in 64 MiB steps: fewer brk calls

_allocator_state = {"tuned": False}


@dataclass(frozen=True)
class FastPath:
    """The speed settings of one device. Build it with choose_fast_path(); `notes` say why."""

    device: torch.device
    channels_last: bool = False  # NHWC activations for inference: oneDNN and cuDNN convolutions prefer it
    train_channels_last: bool = False  # ...and for training (not on fp32 CPUs: NHWC backward is slower there)
    inference_dtype: torch.dtype = torch.float32  # weights cast once to this for inference
    train_dtype: torch.dtype = torch.float32  # autocast dtype of a training step (fp32: no autocast)
    tune_allocator: bool = False  # glibc mallopt thresholds (CPU memory)
    group_norm: bool = False  # per-image BatchNorm computed by group_norm's channels-last kernel (CPU)
    prepack: bool = False  # convolution weights reordered for oneDNN once, not on every call (CPU inference)
    fused_adam: bool = False  # one fused kernel for Adam instead of ~10 passes per parameter
    cudnn_benchmark: bool = False  # let cuDNN time its algorithms for our fixed shapes (CUDA)
    tf32: bool = False  # TensorFloat-32 matmuls on Ampere and newer GPUs (CUDA)
    compile: bool = False  # torch.compile (opt-in: minutes of compiling, a C++ compiler on CPU)
    notes: tuple = field(default=())

    @property
    def adam_options(self):
        """Keyword arguments for torch.optim.Adam (the default single-tensor loop when off)."""
        return {"fused": True} if self.fused_adam else {}

    @property
    def grad_scaler(self):
        """fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and needs none."""
        return self.train_dtype == torch.float16

    def describe(self):
        """Multi-line summary for the start-up print."""
        on = {True: "on", False: "off"}
        lines = [f"fast path on {self.device}:",
                 f"  precision      inference {NAMES[self.inference_dtype]}, training {NAMES[self.train_dtype]}"
                 + (" with loss scaling" if self.grad_scaler else ""),
                 f"  channels_last  inference {on[self.channels_last]}, training {on[self.train_channels_last]}",
                 f"  allocator      {'glibc mallopt thresholds raised' if self.tune_allocator else 'default'}",
                 f"  fused Adam     {on[self.fused_adam]}",
                 f"  torch.compile  {on[self.compile]}"]
        if self.device.type == "cpu":
            lines.append(f"  per-image norm {'group_norm kernel' if self.group_norm else 'instance_norm'}")
            lines.append(f"  prepacked conv {on[self.prepack]} (inference)")
        if self.device.type == "cuda":
            lines.append(f"  cuDNN autotune {on[self.cudnn_benchmark]}, TF32 {on[self.tf32]}")
        return "\n".join(lines + [f"  note: {note}" for note in self.notes])


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
    """True if this CPU computes bf16 in hardware (AVX512_BF16, AMX or ARM BF16), not by emulation."""
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    flags = cpu_flags()
    if flags is None:  # no /proc/cpuinfo (Windows, macOS): trust oneDNN's own check
        return platform.machine().lower() in ("x86_64", "amd64")
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def _glibc():
    """The C library as a ctypes handle if it is glibc on Linux (mallopt is glibc's), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _auto_precision(device, notes):
    """(inference dtype, training dtype) that are fast *and* native on `device`."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if torch.cuda.get_device_capability(index) >= (8, 0):  # Ampere+: bf16 tensor cores, no scaling
            return torch.bfloat16, torch.bfloat16
        notes.append("GPU older than Ampere: fp16 with loss scaling (no fast bf16)")
        return torch.float16, torch.float16
    if device.type == "mps":
        notes.append("MPS: fp16 weights for inference, fp32 training (autocast on MPS is young)")
        return torch.float16, torch.float32
    if native_cpu_bf16():
        return torch.bfloat16, torch.bfloat16
    notes.append(f"fp32: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16; "
                 "emulated bf16 would be many times slower")
    return torch.float32, torch.float32


def choose_fast_path(device, enabled=True, precision="auto", channels_last=True, allocator=True,
                     prepack=True, compile=False):
    """Decide the fast path for `device` (a torch.device or name). enabled=False gives the plain path."""
    device = torch.device(device)
    if not enabled:
        return FastPath(device=device, notes=("plain path: fp32, NCHW, eager, default allocator",))
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    notes = []
    if precision == "auto":
        inference_dtype, train_dtype = _auto_precision(device, notes)
    else:
        inference_dtype = train_dtype = DTYPES[precision]
        if device.type == "cpu" and precision != "fp32" and not (precision == "bf16" and native_cpu_bf16()):
            notes.append(f"{precision} was asked for but this CPU has no native {precision}: expect it to be slow")
    # Measured on a 2-core AVX2 CPU in fp32: NHWC speeds up the forward convolutions (1.3-2x per layer) but
    # slows BatchNorm's training kernels (~0.55x) and most convolution backward passes (0.7-0.9x), so a
    # training step got slower (0.97x). With bf16 autocast (DESIGN.md: ~2x) and on CUDA it pays off.
    train_channels_last = channels_last and (device.type == "cuda" or (device.type == "cpu" and
                                                                       train_dtype != torch.float32))
    if channels_last and device.type == "cpu" and not train_channels_last:
        notes.append("channels_last for inference only: fp32 training runs faster in NCHW on a CPU")
    channels_last = channels_last and device.type != "mps"  # MPS kernels work in NCHW; NHWC adds copies
    glibc_ok = device.type == "cpu" and _glibc() is not None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0  # not on Windows
    if device.type == "cpu" and load > (os.cpu_count() or 1) and "OMP_WAIT_POLICY" not in os.environ:
        notes.append(f"this machine is busy (load {load:.1f} on {os.cpu_count()} cores): start Python with "
                     "OMP_WAIT_POLICY=PASSIVE, or every small op waits for a descheduled thread")
    if allocator and device.type == "cpu" and not glibc_ok:
        notes.append("allocator tuning needs glibc on Linux; left at the default")
    if compile and device.type == "cpu" and not any(shutil.which(cc) for cc in ("c++", "g++", "clang++", "cl")):
        notes.append("torch.compile needs a C++ compiler on the CPU and none was found; compile off")
        compile = False
    # Packed weights are opaque oneDNN tensors, which torch.compile cannot trace (it packs on its own).
    prepack = prepack and device.type == "cpu" and can_pack(inference_dtype) and not compile
    return FastPath(device=device, channels_last=channels_last, train_channels_last=train_channels_last,
                    inference_dtype=inference_dtype, train_dtype=train_dtype, tune_allocator=allocator and glibc_ok,
                    group_norm=device.type == "cpu", prepack=prepack,
                    fused_adam=device.type in ("cpu", "cuda"),  # the devices with a fused Adam kernel
                    cudnn_benchmark=device.type == "cuda", tf32=device.type == "cuda", compile=compile,
                    notes=tuple(notes))


def tune_allocator():
    """Raise glibc's mmap/trim thresholds for this process. Idempotent; True if glibc took them."""
    libc = _glibc()
    if libc is None:
        return False
    if not _allocator_state["tuned"]:
        accepted = [libc.mallopt(param, value) for param, value in
                    ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_MMAP_MAX, MMAP_MAX),
                     (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))]
        _allocator_state["tuned"] = all(accepted)  # mallopt returns 1 on success, 0 on a refused value
    return _allocator_state["tuned"]


def activate(fast):
    """Apply the process-wide settings of `fast` (allocator, cuDNN autotuner, TF32). Safe to repeat."""
    if fast.tune_allocator:
        tune_allocator()
    if fast.device.type == "cuda":
        torch.backends.cudnn.benchmark = fast.cudnn_benchmark
        torch.backends.cudnn.allow_tf32 = fast.tf32
        torch.set_float32_matmul_precision("high" if fast.tf32 else "highest")
    return fast


def maybe_compile(net, fast, inference=False):
    """torch.compile(net) when asked. For inference with per-image statistics, with freezing: weights
    become constants that oneDNN packs once (measured 1.59x vs 1.40x eager at batch 1). Never with a
    BatchNorm on running statistics: freezing folds it into the conv before it, and DESIGN.md measured
    torch 2.14 folding it wrongly into the 512->512 ConvTranspose2d (on a Zen 4; fp32 on AVX2 was right)."""
    if not fast.compile:
        return net
    foldable = any(isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, PerImageBatchNorm2d)
                   for m in net.modules())
    return torch.compile(net, options={"freezing": inference and not foldable and not net.training})


def prepare_generator_for_inference(net_G, fast):
    """Make `net_G` (in place) an inference-only model on the fast path: on the device, weights cast once
    (autocast would re-cast 54 M weights on every call), channels_last, the CPU kernels of fast_modules.py
    and torch.compile where chosen. Its state_dict keeps the official keys (in the inference dtype). The
    result remembers `fast` (`.fast_path`), which translate() reads. Also applies activate(fast)."""
    activate(fast)
    net_G = net_G.to(fast.device, dtype=fast.inference_dtype)
    if fast.channels_last:
        net_G = net_G.to(memory_format=torch.channels_last)
    if fast.group_norm:
        use_group_norm(net_G)
    if fast.prepack:
        pack_convolutions(net_G)
    net_G = maybe_compile(net_G, fast, inference=True)
    net_G.fast_path = fast
    return net_G


def prepare_input(x, fast, dtype=None, training=False):
    """A batch for the fast model: on its device, in its dtype (default: fast.inference_dtype, or fp32 for
    training, where autocast casts), in the layout of inference or (training=True) of training."""
    channels_last = fast.train_channels_last if training else fast.channels_last
    memory_format = torch.channels_last if channels_last and x.dim() == 4 else torch.preserve_format
    dtype = dtype or (torch.float32 if training else fast.inference_dtype)
    return x.to(fast.device, dtype=dtype, memory_format=memory_format,
                non_blocking=fast.device.type == "cuda")


def prepare_for_training(net, fast):
    """Move a network to the device in fp32 (master weights stay fp32 under autocast), in its layout."""
    net = net.to(fast.device)
    return net.to(memory_format=torch.channels_last) if fast.train_channels_last else net


def train_autocast(fast):
    """Context manager for a training step's forward passes and losses: autocast where chosen, else none."""
    if fast.train_dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=fast.device.type, dtype=fast.train_dtype)


def make_grad_scaler(fast):
    """A GradScaler that scales only where fp16 needs it; when disabled its calls pass straight through."""
    return torch.amp.GradScaler(fast.device.type, enabled=fast.grad_scaler)


def dataloader_options(fast, workers):
    """DataLoader keyword arguments: worker processes kept between epochs, pinned memory for CUDA copies."""
    return dict(num_workers=workers, persistent_workers=workers > 0, pin_memory=fast.device.type == "cuda")


def add_fast_path_arguments(parser):
    """The same speed flags for every script. Read them back with fast_path_from_args()."""
    group = parser.add_argument_group("speed (see the Speed section of README.rst)")
    group.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="auto (default): bf16 on CPUs with native bf16, bf16/fp16 on CUDA, fp16 inference on "
                            "MPS, else fp32")
    group.add_argument("--no-channels-last", action="store_true", help="keep NCHW tensors (default: channels_last)")
    group.add_argument("--no-allocator-tuning", action="store_true",
                       help="leave glibc malloc at its defaults (default: thresholds raised on Linux CPUs)")
    group.add_argument("--no-prepack", action="store_true",
                       help="CPU inference: let oneDNN reorder conv weights on every call (default: once)")
    group.add_argument("--compile", action="store_true",
                       help="torch.compile the networks (default: off; minutes of compiling first)")
    group.add_argument("--plain", action="store_true",
                       help="no fast path at all: fp32, NCHW, eager, as the official code runs (default: off)")
    return parser


def fast_path_from_args(args, device):
    """choose_fast_path() from the flags of add_fast_path_arguments()."""
    return choose_fast_path(device, enabled=not args.plain, precision=args.precision,
                            channels_last=not args.no_channels_last, allocator=not args.no_allocator_tuning,
                            prepack=not args.no_prepack, compile=args.compile)

