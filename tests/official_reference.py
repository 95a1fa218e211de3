"""An independent rebuild of the official pix2pix U-Net's *nested* layout (UnetSkipConnectionBlock
in models/networks.py of junyanz/pytorch-CycleGAN-and-pix2pix), so that the tests can check our flat
UNetGenerator against it number for number. Each level's Sequential holds [LeakyReLU, down conv, BN,
<next level>, ReLU, up conv, BN, (Dropout)] and returns cat([x, model(x)]); the activations are
in-place, so the LeakyReLU also rewrites x, the tensor the skip carries. Test code only.
"""

import torch
import torch.nn as nn


class NestedBlock(nn.Module):
    """One level: `outer` channels in and out, `inner` inside, `sub` the next level down."""

    def __init__(self, outer, inner, sub=None, outermost=False, innermost=False, dropout=False):
        super().__init__()
        self.outermost = outermost
        down = [nn.LeakyReLU(0.2, True), nn.Conv2d(outer, inner, 4, 2, 1, bias=False)]
        up_in = inner if innermost else inner * 2  # the skip doubles what every other level reads
        up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=outermost)]
        if outermost:  # no LeakyReLU before the first conv, no norm after the last; Tanh out
            layers = [down[1], sub, *up, nn.Tanh()]
        elif innermost:  # no norm after the 1x1 bottleneck
            layers = [*down, *up, nn.BatchNorm2d(outer)]
        else:
            layers = [*down, nn.BatchNorm2d(inner), sub, *up, nn.BatchNorm2d(outer)]
            layers += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class NestedUnet256(nn.Module):
    """Official unet_256 (3 channels in and out) with ngf filters: levels 8 (innermost) .. 1."""

    def __init__(self, ngf=64, use_dropout=True):
        super().__init__()
        block = NestedBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(3):
            block = NestedBlock(ngf * 8, ngf * 8, block, dropout=use_dropout)
        for mult in (4, 2, 1):
            block = NestedBlock(ngf * mult, ngf * mult * 2, block)
        self.model = NestedBlock(3, ngf, block, outermost=True)

    def forward(self, x):
        return self.model(x)


def random_official_state_dict(ngf=64, seed=0, with_num_batches_tracked=True):
    """A state_dict in the official checkpoint's layout with random (not trained) values; the BN
    running statistics too, so tests can tell running from per-image statistics."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in NestedUnet256(ngf=ngf).state_dict().items():
        if key.endswith("num_batches_tracked"):
            if with_num_batches_tracked:
                state[key] = torch.tensor(7, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif key.endswith("weight") and value.dim() == 1:
            state[key] = 1.0 + 0.02 * torch.randn(value.shape, generator=gen)
        else:
            state[key] = 0.02 * torch.randn(value.shape, generator=gen)
    return state
