"""The two modules fast CPU inference swaps into its copy of the generator. Each computes what the
module it replaces computes (tests/test_speed.py checks), reaching oneDNN's kernels a shorter way:

    GroupNormPerImage  per-image BatchNorm through group_norm's channels_last kernel
    PackedConv         a Conv2d / ConvTranspose2d whose weight is reordered for oneDNN once
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from pix2pix_models import PerImageBatchNorm2d


class GroupNormPerImage(PerImageBatchNorm2d):
    """PerImageBatchNorm2d by group_norm with one group per channel: the same statistics (each
    image's own, per channel), but a kernel that works on channels_last tensors in place, where
    instance_norm first copies them to NCHW. Same parameters and buffers."""

    def forward(self, x):
        return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def use_group_norm(net):
    """Switch every PerImageBatchNorm2d of `net` to GroupNormPerImage in place (same state_dict)."""
    for module in net.modules():
        if type(module) is PerImageBatchNorm2d:
            module.__class__ = GroupNormPerImage
    return net


def can_pack(dtype):
    """True if this PyTorch's oneDNN can hold pre-reordered convolution weights of `dtype` here."""
    try:
        ops = torch.ops.mkldnn
        packs = torch.backends.mkldnn.is_available() and callable(ops._reorder_convolution_weight)
        bf16, fp16 = ops._is_mkldnn_bf16_supported(), ops._is_mkldnn_fp16_supported()
        return packs and {torch.float32: True, torch.bfloat16: bf16, torch.float16: fp16}.get(dtype)
    except (AttributeError, RuntimeError):  # a build without oneDNN, or ops renamed since
        return False


class PackedConv(nn.Module):
    """A Conv2d or ConvTranspose2d whose weight stays in oneDNN's blocked layout (the ops of
    torch.compile's freezing): a plain call reorders it every time, far longer than the inner
    layers' convolutions on 2x2 inputs. The best layout depends on the input shape, so one copy
    per shape is kept; new weights (load_state_dict, .to) drop them. Same state_dict."""

    MAX_SHAPES = 2  # e.g. batches of 8 and the last, shorter batch; each copy is as large as W

    def __init__(self, conv):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.weight, self.bias = conv.weight, conv.bias
        padding, stride, dilation = list(conv.padding), list(conv.stride), list(conv.dilation)
        # the arguments after the weight, in the order oneDNN's ops take them
        if self.transposed:
            self.geometry = (padding, list(conv.output_padding), stride, dilation, conv.groups)
        else:
            self.geometry = (padding, stride, dilation, conv.groups)
        self._packed = {}  # input shape -> weight in the layout oneDNN chose for that shape

    def forward(self, x):
        ops = torch.ops.mkldnn
        shape = tuple(x.shape)
        if shape not in self._packed:
            if len(self._packed) >= self.MAX_SHAPES:
                self._packed.pop(next(iter(self._packed)))  # the oldest
            reorder = (
                ops._reorder_convolution_transpose_weight
                if self.transposed
                else ops._reorder_convolution_weight
            )
            self._packed[shape] = reorder(self.weight.detach(), *self.geometry, list(shape))
        conv = (
            ops._convolution_transpose_pointwise if self.transposed else ops._convolution_pointwise
        )
        no_fused_op = ("none", [], "")  # oneDNN may apply an activation after it: none
        return conv(x, self._packed[shape], self.bias, *self.geometry, *no_fused_op)

    def _apply(self, fn, *args, **kwargs):  # .to(), .float(), ...: the packed copies would be stale
        self._packed.clear()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        self._packed.clear()
        return super()._load_from_state_dict(*args, **kwargs)


def pack_convolutions(net):
    """Replace each Conv2d / ConvTranspose2d of `net` by a PackedConv in place (same state_dict)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in (nn.Conv2d, nn.ConvTranspose2d):
                setattr(parent, name, PackedConv(child))
    return net
