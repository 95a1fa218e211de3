"""Drop-in modules that fast CPU inference (speed/inference.py) swaps into a copy of the generator.

Both compute what the module they replace computes (tests/test_speed.py checks it against the
plain fp32 network); they only reach oneDNN's kernels by a shorter way:

    GroupNormPerImage  per-image BatchNorm through group_norm's channels_last kernel
    PackedConv         a Conv2d / ConvTranspose2d whose weight is reordered for oneDNN once, not
                       on every call

docs/speed.rst gives what each saves, measured per CPU class.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from pix2pix_models import PerImageBatchNorm2d


class GroupNormPerImage(PerImageBatchNorm2d):
    """PerImageBatchNorm2d computed by group_norm with one group per channel: the same statistics
    (each image's own, per channel), but a kernel that works on channels_last tensors in place,
    where instance_norm first copies them to NCHW. Same parameters and buffers."""

    def forward(self, x):
        return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def use_group_norm(net):
    """Switch every PerImageBatchNorm2d in `net` to GroupNormPerImage, in place (same
    state_dict)."""
    for module in net.modules():
        if type(module) is PerImageBatchNorm2d:
            module.__class__ = GroupNormPerImage
    return net


def can_pack(dtype):
    """True if this PyTorch's oneDNN can hold pre-reordered convolution weights of `dtype` on this
    CPU."""
    try:
        ops = torch.ops.mkldnn
        supported = {
            torch.float32: True,
            torch.bfloat16: ops._is_mkldnn_bf16_supported(),
            torch.float16: ops._is_mkldnn_fp16_supported(),
        }
        return (
            torch.backends.mkldnn.is_available()
            and supported.get(dtype, False)
            and callable(ops._convolution_pointwise)
            and callable(ops._convolution_transpose_pointwise)
        )
    except (AttributeError, RuntimeError):  # a build without oneDNN, or ops renamed since
        return False


class PackedConv(nn.Module):
    """A Conv2d or ConvTranspose2d for inference that keeps its weight reordered into oneDNN's
    blocked layout. A plain call reorders the weight every time, which for the inner 512-channel
    layers takes far longer than their convolution on a 2x2 input. The best layout depends on the
    input size (a weight packed for batch 1 makes batch 8 slower than no packing), so one packed
    copy is kept per input shape, for the last MAX_SHAPES shapes. These are the ops torch.compile's
    freezing uses. Same parameters and state_dict keys as the module replaced; changing the
    weights (load_state_dict, .to) drops the packed copies."""

    # E.g. batches of 8 and the last, shorter batch; each copy is as large as the weights.
    MAX_SHAPES = 2

    def __init__(self, conv):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.weight = conv.weight
        self.bias = conv.bias
        self.padding = list(conv.padding)
        self.output_padding = list(conv.output_padding)
        self.stride = list(conv.stride)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups
        self.summary = repr(conv)
        self._packed = {}  # input shape -> weight in the layout oneDNN chose for that shape

    def geometry(self):
        """The convolution's arguments after its weight, in the order oneDNN's ops take them."""
        if self.transposed:
            return self.padding, self.output_padding, self.stride, self.dilation, self.groups
        return self.padding, self.stride, self.dilation, self.groups

    def packed_weight(self, shape):
        if shape not in self._packed:
            if len(self._packed) >= self.MAX_SHAPES:
                self._packed.pop(next(iter(self._packed)))  # the oldest
            ops = torch.ops.mkldnn
            reorder = (
                ops._reorder_convolution_transpose_weight
                if self.transposed
                else ops._reorder_convolution_weight
            )
            self._packed[shape] = reorder(self.weight.detach(), *self.geometry(), list(shape))
        return self._packed[shape]

    def forward(self, x):
        weight = self.packed_weight(tuple(x.shape))
        ops = torch.ops.mkldnn
        convolution = (
            ops._convolution_transpose_pointwise if self.transposed else ops._convolution_pointwise
        )
        no_fused_op = ("none", [], "")  # oneDNN may apply an activation after the convolution: none
        return convolution(x, weight, self.bias, *self.geometry(), *no_fused_op)

    def _apply(self, fn, *args, **kwargs):  # .to(), .float(), ...: the packed copies would be stale
        self._packed.clear()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        self._packed.clear()
        return super()._load_from_state_dict(*args, **kwargs)

    def extra_repr(self):
        return f"packed {self.summary}"


def pack_convolutions(net):
    """Replace every Conv2d / ConvTranspose2d of `net` by a PackedConv, in place (same
    state_dict)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in (nn.Conv2d, nn.ConvTranspose2d):
                setattr(parent, name, PackedConv(child))
    return net
