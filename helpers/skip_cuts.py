"""Run the U-Net generator with some of its skip connections cut: Exercise 2's skips experiment.

    with skips_cut(net_G, ["d7", "d6"]):  # the two innermost skips
        fake_B = translate(net_G, real_A)

A decoder block of unet_256 reads cat([d_k, u]): the encoder features d_k that the skip carries
across, then the decoder's own. A cut replaces d_k with zeros where it arrives, for as long as the
`with` block runs; the network's weights and its encoder path are untouched.
"""

from contextlib import contextmanager

import torch

from pix2pix_models import UNetGenerator

# The seven skip connections, innermost first (the order the cuts accumulate in), and the decoder
# block whose input each is the first half of: up2 reads cat([d7, u1]), ..., final cat([d1, u7]).
SKIP_READERS = dict(d7="up2", d6="up3", d5="up4", d4="up5", d3="up6", d2="up7", d1="final")


def zero_encoder_half(block, inputs):
    """Forward pre-hook of a decoder block: its input cat([d_k, u]) with d_k zeroed."""
    (x,) = inputs
    half = x.shape[1] // 2  # in unet_256 the encoder and decoder halves are equally wide
    return (torch.cat([torch.zeros_like(x[:, :half]), x[:, half:]], dim=1),)


@contextmanager
def skips_cut(net_G, levels):
    """Inside the block, net_G runs with the skip connections from `levels` (("d7", "d6"), say) cut.

    The cut is made where a skip arrives: the decoder block reading it gets zeros instead of the
    encoder features, and zeros add nothing to its transposed convolution (it has no bias). The
    encoder path is untouched, since d_k still feeds down_{k+1}: only what crosses over is lost.
    """
    unet = next(m for m in net_G.modules() if isinstance(m, UNetGenerator))  # --fast wraps it
    readers = [getattr(unet, SKIP_READERS[level]) for level in levels]
    handles = [block.register_forward_pre_hook(zero_encoder_half) for block in readers]
    try:
        yield net_G
    finally:
        for handle in handles:
            handle.remove()
