"""Drop-in modules that fast CPU inference (speed/inference.py) swaps into a copy of the generator.

Both compute what the module they replace computes (tests/test_speed.py checks it against the
plain fp32 network); they only reach oneDNN's kernels by a shorter way:

    GroupNormPerImage  per-image BatchNorm through group_norm's channels_last kernel
    PackedConv         a Conv2d / ConvTranspose2d whose weight is reordered for oneDNN once, not per call
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from pix2pix_models import PerImageBatchNorm2d


class GroupNormPerImage(PerImageBatchNorm2d):
    """PerImageBatchNorm2d computed by group_norm with one group per channel: the same statistics (each
    image's own, per channel), but a kernel that works on channels_last tensors in place, where
    instance_norm first copies them to NCHW (measured 5-50x faster per layer). Same parameters and buffers."""

    def forward(self, x):
        return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def use_group_norm(net):
    """Switch every PerImageBatchNorm2d in `net` to GroupNormPerImage, in place (state_dict unchanged)."""
    for module in net.modules():
        if type(module) is PerImageBatchNorm2d:
            module.__class__ = GroupNormPerImage
    return net


def can_pack(dtype):
    """True if this PyTorch's oneDNN can hold pre-reordered convolution weights of `dtype` on this CPU."""
    try:
        ops = torch.ops.mkldnn
        supported = {torch.float32: True, torch.bfloat16: ops._is_mkldnn_bf16_supported(),
                     torch.float16: ops._is_mkldnn_fp16_supported()}
        return torch.backends.mkldnn.is_available() and supported.get(dtype, False) and \
            callable(ops._convolution_pointwise) and callable(ops._convolution_transpose_pointwise)
    except (AttributeError, RuntimeError):  # a build without oneDNN, or a PyTorch that renamed the ops
        return False


class PackedConv(nn.Module):
    """A Conv2d or ConvTranspose2d for inference that keeps its weight reordered into oneDNN's blocked layout.
    A plain call reorders the weight every time: measured 10-19 ms for a 512x512x4x4 weight on a 2x2 input,
    whose convolution then takes 0.3 ms. The best layout depends on the input size (a weight packed for
    batch 1 made batch 8 slower than no packing), so one packed copy is kept per input shape, for the last
    MAX_SHAPES shapes. These are the ops torch.compile's freezing uses. Same parameters and state_dict keys
    as the module replaced; changing the weights (load_state_dict, .to) drops the packed copies."""

    MAX_SHAPES = 2  # e.g. batches of 8 and the last, shorter batch; each copy is as large as the weights

    def __init__(self, conv):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.weight, self.bias = conv.weight, conv.bias
        self.padding, self.stride, self.dilation = list(conv.padding), list(conv.stride), list(conv.dilation)
        self.output_padding, self.groups = list(conv.output_padding), conv.groups
        self.summary = repr(conv)
        self._packed = {}  # input shape -> weight in the layout oneDNN chose for that shape

    def packed_weight(self, shape):
        if shape not in self._packed:
            if len(self._packed) >= self.MAX_SHAPES:
                self._packed.pop(next(iter(self._packed)))  # the oldest
            weight, size = self.weight.detach(), list(shape)
            if self.transposed:
                self._packed[shape] = torch.ops.mkldnn._reorder_convolution_transpose_weight(
                    weight, self.padding, self.output_padding, self.stride, self.dilation, self.groups, size)
            else:
                self._packed[shape] = torch.ops.mkldnn._reorder_convolution_weight(
                    weight, self.padding, self.stride, self.dilation, self.groups, size)
        return self._packed[shape]

    def forward(self, x):
        weight = self.packed_weight(tuple(x.shape))
        if self.transposed:
            return torch.ops.mkldnn._convolution_transpose_pointwise(
                x, weight, self.bias, self.padding, self.output_padding, self.stride, self.dilation, self.groups,
                "none", [], "")
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, self.bias, self.padding, self.stride, self.dilation, self.groups, "none", [], "")

    def _apply(self, fn, *args, **kwargs):  # .to(), .float(), ...: the packed copies would be stale
        self._packed.clear()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        self._packed.clear()
        return super()._load_from_state_dict(*args, **kwargs)

    def extra_repr(self):
        return f"packed {self.summary}"


def pack_convolutions(net):
    """Replace every Conv2d / ConvTranspose2d of `net` by a PackedConv, in place (state_dict unchanged)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in (nn.Conv2d, nn.ConvTranspose2d):
                setattr(parent, name, PackedConv(child))
    return net
