"""Fast inference for the pretrained facades generator: the same network, prepared for speed.

    net_G = fast_generator(create_facades_generator(), device)   # prints what it switched on
    fake_B = translate(net_G, real_A)                             # as with the exact network

What it does, per device (choose_inference decides; the tests force every choice):
  - weights cast once to bf16/fp16 where the hardware computes it natively (autocast would
    re-cast 54 M weights on every call);
  - channels_last activations (not on MPS);
  - on CPUs, per-image BatchNorm through group_norm's channels-last kernel, and convolution
    weights packed for oneDNN once (speed/cpu_kernels.py);
  - torch.compile on request.
FastGenerator feeds the network its input in its dtype and layout and returns float32, so callers
never need to know.
"""

import copy
import shutil
from dataclasses import dataclass

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
        on = {True: "on", False: "off"}
        return (
            f"fast inference on {self.device}: weights {NAMES[self.dtype]}, "
            f"channels_last {on[self.channels_last]}, group_norm kernel {on[self.group_norm]}, "
            f"prepacked convolutions {on[self.prepack]}, torch.compile {on[self.compile]}"
        )


def choose_inference(device, dtype=None, channels_last=True, prepack=True, compile=False):
    """The settings for `device`; dtype=None takes its native reduced precision (or fp32)."""
    device = torch.device(device)
    dtype = dtype or inference_dtype(device)
    cpu = device.type == "cpu"
    if compile and cpu and not any(shutil.which(cc) for cc in COMPILERS):
        print("note: torch.compile needs a C++ compiler on the CPU and none was found; compile off")
        compile = False
    # Packed weights are opaque oneDNN tensors, which torch.compile cannot trace (it packs itself).
    return InferenceSettings(
        device=device,
        dtype=dtype,
        channels_last=channels_last and device.type != "mps",
        group_norm=cpu,
        prepack=prepack and cpu and can_pack(dtype) and not compile,
        compile=compile,
    )


class FastGenerator(nn.Module):
    """A generator prepared by `settings` (a copy: the exact network passed in stays as it was).
    Called like the network: its input is moved to the device, dtype and layout it needs; its
    output is float32."""

    def __init__(self, net_G, settings):
        super().__init__()
        self.settings = settings
        net = copy.deepcopy(net_G).to(settings.device, dtype=settings.dtype)
        if settings.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if settings.group_norm:
            use_group_norm(net)
        if settings.prepack:
            pack_convolutions(net)
        self.net = compile_for_inference(net) if settings.compile else net

    def forward(self, x):
        layout = torch.channels_last if self.settings.channels_last else torch.preserve_format
        x = x.to(self.settings.device, dtype=self.settings.dtype, memory_format=layout)
        return self.net(x).float().contiguous()


def compile_for_inference(net):
    """torch.compile, with freezing where it is safe: frozen weights become constants that oneDNN
    packs once. Never with BatchNorm on running statistics: freezing folds it into the convolution
    before it, and PyTorch's folding into a ConvTranspose2d with equal input and output channels
    (the innermost 512->512 up-conv) has been seen to be wrong (docs/speed.rst)."""
    running_statistics = any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, PerImageBatchNorm2d)
        for m in net.modules()
    )
    freezing = not running_statistics and not net.training
    return torch.compile(net, options={"freezing": freezing})


def fast_generator(net_G, device, dtype=None, channels_last=True, prepack=True, compile=False):
    """A FastGenerator of `net_G` on `device`, with this process tuned for it (tune_process).
    Prints what it switched on: a script's --fast is this one call."""
    settings = choose_inference(device, dtype, channels_last, prepack, compile)
    print(settings.describe())
    for line in tune_process(settings.device):
        print(f"  {line}")
    return FastGenerator(net_G, settings)
