"""Fast inference for the facades generator: the same network, prepared for speed.

    fast_G = fast_generator(create_facades_generator(), device)   # prints what it switched on
    fake_B = translate(fast_G, real_A)                             # as with the exact network

Weights cast once to the native reduced precision (autocast would re-cast 54 M weights every
call), channels_last (not on MPS), on CPUs the kernels of cpu_kernels.py, torch.compile on request.
"""

import copy
import shutil
from dataclasses import dataclass, fields

import torch
import torch.nn as nn

from pix2pix_models import PerImageBatchNorm2d
from speed.cpu_kernels import can_pack, pack_convolutions, use_group_norm
from speed.precision import inference_dtype, tune_process

NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
COMPILERS = ("c++", "g++", "clang++", "cl")  # torch.compile needs one of them on a CPU


@dataclass(frozen=True)
class InferenceSettings:
    device: torch.device
    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    group_norm: bool = False  # per-image BatchNorm by group_norm's channels-last kernel (CPU)
    prepack: bool = False  # convolution weights reordered for oneDNN once, not every call (CPU)
    compile: bool = False

    def describe(self):
        on = [f"{f.name} {'on' if getattr(self, f.name) else 'off'}" for f in fields(self)[2:]]
        return f"fast inference on {self.device}: weights {NAMES[self.dtype]}, {', '.join(on)}"


def choose_inference(device, dtype=None, channels_last=True, prepack=True, compile=False):
    """The settings for `device`; dtype=None takes its native reduced precision (or fp32)."""
    device = torch.device(device)
    dtype = dtype or inference_dtype(device)
    cpu = device.type == "cpu"
    if compile and cpu and not any(shutil.which(cc) for cc in COMPILERS):
        print("note: torch.compile needs a C++ compiler on the CPU and none was found; compile off")
        compile = False
    return InferenceSettings(
        device=device,
        dtype=dtype,
        channels_last=channels_last and device.type != "mps",
        group_norm=cpu,
        # packed weights are opaque oneDNN tensors that torch.compile cannot trace (it packs itself)
        prepack=prepack and cpu and can_pack(dtype) and not compile,
        compile=compile,
    )


class FastGenerator(nn.Module):
    """A copy of `net_G` prepared by `settings`, called like it: any input, float32 out."""

    def __init__(self, net_G, settings):
        super().__init__()
        self.settings = settings
        layout = torch.channels_last if settings.channels_last else torch.contiguous_format
        net = copy.deepcopy(net_G).to(settings.device, settings.dtype, memory_format=layout)
        if settings.group_norm:
            use_group_norm(net)
        if settings.prepack:
            pack_convolutions(net)
        if settings.compile:
            # Freezing (weights as constants oneDNN packs once) folds BatchNorm on running
            # statistics into the convolution before it, and PyTorch 2.14 folds it wrongly into a
            # ConvTranspose2d with equal in and out channels (the innermost 512->512 up-conv; see
            # docs/speed.rst): so only per-image statistics, which have nothing to fold, freeze.
            frozen = not net.training and all(
                isinstance(m, PerImageBatchNorm2d) or not isinstance(m, nn.BatchNorm2d)
                for m in net.modules()
            )
            net = torch.compile(net, options={"freezing": frozen})
        self.net = net

    def forward(self, x):
        layout = torch.channels_last if self.settings.channels_last else torch.preserve_format
        x = x.to(self.settings.device, self.settings.dtype, memory_format=layout)
        return self.net(x).float().contiguous()


def fast_generator(net_G, device, dtype=None, channels_last=True, prepack=True, compile=False):
    """A FastGenerator of `net_G` on `device`, with this process tuned for it (tune_process).
    Prints what it switched on: a script's --fast is this one call."""
    settings = choose_inference(device, dtype, channels_last, prepack, compile)
    print(settings.describe())
    for line in tune_process(settings.device):
        print(f"  {line}")
    return FastGenerator(net_G, settings)
