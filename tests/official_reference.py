"""An independent rebuild of the official pix2pix U-Net's *nested* layout (UnetSkipConnectionBlock
in models/networks.py of junyanz/pytorch-CycleGAN-and-pix2pix), so that the tests can check our flat
UNetGenerator against it number for number. Each level's Sequential holds [LeakyReLU, down conv, BN,
<next level>, ReLU, up conv, BN, (Dropout)] and returns cat([x, model(x)]); the activations are
in-place, so the LeakyReLU also rewrites x, the tensor the skip carries. Test code only.
"""

import torch
import torch.nn as nn


class NestedBlock(nn.Module):
    def __init__(
        self,
        outer_nc,
        inner_nc,
        input_nc=None,
        submodule=None,
        outermost=False,
        innermost=False,
        use_dropout=False,
    ):
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=False)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = nn.BatchNorm2d(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = nn.BatchNorm2d(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(
                inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=False
            )
            layers = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=False
            )
            layers = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class NestedUnet256(nn.Module):
    """Official unet_256 with ngf filters: levels 8 (innermost) .. 1 (outermost)."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, use_dropout=True):
        super().__init__()
        block = NestedBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(3):
            block = NestedBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout)
        block = NestedBlock(ngf * 4, ngf * 8, submodule=block)
        block = NestedBlock(ngf * 2, ngf * 4, submodule=block)
        block = NestedBlock(ngf, ngf * 2, submodule=block)
        self.model = NestedBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True)

    def forward(self, x):
        return self.model(x)


def random_official_state_dict(ngf=64, seed=0, with_num_batches_tracked=True):
    """A state_dict in the official checkpoint's layout with random (not trained) values.

    BN running statistics are randomised too, so tests can tell running from per-image statistics.
    """
    gen = torch.Generator().manual_seed(seed)
    net = NestedUnet256(ngf=ngf)
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            if with_num_batches_tracked:
                state[key] = torch.tensor(7, dtype=torch.long)
            continue
        if key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif key.endswith("weight") and value.dim() == 1:
            state[key] = 1.0 + 0.02 * torch.randn(value.shape, generator=gen)
        else:
            state[key] = 0.02 * torch.randn(value.shape, generator=gen)
    return state
