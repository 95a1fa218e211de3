"""The test bench every check shares: narrow networks, a fixed batch, and when two results match."""

import torch

NGF = NDF = 8  # narrow networks: every block and official key of the paper's 64, in far less time
BATCH = 2
SEED = 0
RTOL = 1e-4  # the same arithmetic in another order agrees to about 1e-6


def close(got, want):
    """True if `got` is a tensor of `want`'s shape, dtype and device, equal to it up to rounding."""
    if not torch.is_tensor(got) or got.shape != want.shape or kind(got) != kind(want):
        return False
    return torch.allclose(got, want, rtol=RTOL, atol=1e-6)


def shape(tensor):
    return tuple(tensor.shape)


def kind(tensor):
    """What a tensor is beyond its shape: "float32 tensor on the cpu device", say."""
    return f"{str(tensor.dtype).removeprefix('torch.')} tensor on the {tensor.device.type} device"
