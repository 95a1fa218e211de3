"""The two pix2pix networks (Isola et al. 2017), exactly as in the official PyTorch release
(models/networks.py of junyanz/pytorch-CycleGAN-and-pix2pix, "the official code" below).

UNetGenerator          "unet_256": 8 stride-2 convs down to 1x1, 8 transposed convs back up,
                       skip connections between mirrored levels. 54,413,955 parameters.
PatchGANDiscriminator  the 70x70 PatchGAN (n_layers=3): 256x256 in -> 30x30 real/fake logits.
                       2,768,705 parameters.

Also: the paper's weight initialisation (`init_weights`), a BatchNorm that always uses each
image's own statistics (`PerImageBatchNorm2d`, the paper's test-time protocol), the one function
that maps the official checkpoint's nested key layout onto our flat generator
(`load_official_generator_weights`), and G at test time (`generator_at_test_time`, `translate`).

This file is pure: no file I/O, no argparse, no device choice. Scripts do those.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_SIZE = 256  # "unet_256": 8 stride-2 convolutions take 256x256 to 1x1, so 256 it must be
LEAKY_SLOPE = 0.2  # §6.1.1 and the official code: LeakyReLU(0.2) in the encoder and in D
# §3.1: G's only noise is dropout. The official code puts it in up2-up4, the three decoder blocks
# after the innermost one; the paper's appendix (CD512-CD1024-CD1024) starts it at the innermost.
DROPOUT_P = 0.5
INIT_STD = 0.02  # official init_weights('normal', 0.02): conv ~ N(0, 0.02), BN weight ~ N(1, 0.02)


class PerImageBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that normalises every image with its own mean and variance.

    The paper (§3.3) and the official test.py run the generator in training mode at test time,
    i.e. with the statistics of the test batch. At batch size 1 that is instance normalisation;
    this module gives each image exactly that result at any batch size, in train or eval mode.
    It keeps BatchNorm2d's parameters and buffers, so checkpoints load unchanged, and it never
    updates the running averages.
    """

    def forward(self, x):
        return F.instance_norm(
            x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps
        )


def _down(in_channels, out_channels, norm_layer=None):
    """Encoder block: 4x4 stride-2 conv halves H and W, then [norm], then LeakyReLU(0.2).

    The activation comes *last* here although the official code applies it first in the next
    block: its in-place LeakyReLU also rewrites the tensor the skip connection carries, so the
    decoder really receives LeakyReLU(features). Writing it this way gives the same numbers.
    """
    # No bias even on the un-normalised first layer: the official code sets bias=False on every
    # conv of a BatchNorm U-Net except the last one (and the checkpoint has none to load).
    layers = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)]
    if norm_layer is not None:
        layers.append(norm_layer(out_channels))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


def _up(in_channels, out_channels, norm_layer, dropout=False):
    """Decoder block: ReLU, 4x4 stride-2 transposed conv doubles H and W, norm, [Dropout(0.5)]."""
    # no bias: the norm layer after it has its own
    up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)
    layers = [nn.ReLU(), up, norm_layer(out_channels)]
    if dropout:
        layers.append(nn.Dropout(DROPOUT_P))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """The official "unet_256" generator: input (N, in_channels, 256, 256) -> output in [-1, 1].

    Every decoder level sees `cat([encoder_features, decoder_features])`, encoder first, so
    low-level detail (edges, the layout of the label map) skips the 1x1 bottleneck.
    `norm_layer` is nn.BatchNorm2d for training; PerImageBatchNorm2d gives the paper's
    test-time behaviour (see facades_generator.py).
    """

    def __init__(self, in_channels=3, out_channels=3, ngf=64, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.down1 = _down(in_channels, ngf)  # (N, 64, 128, 128); no norm on the first layer
        self.down2 = _down(ngf, ngf * 2, norm_layer)  # (N, 128, 64, 64)
        self.down3 = _down(ngf * 2, ngf * 4, norm_layer)  # (N, 256, 32, 32)
        self.down4 = _down(ngf * 4, ngf * 8, norm_layer)  # (N, 512, 16, 16)
        self.down5 = _down(ngf * 8, ngf * 8, norm_layer)  # (N, 512, 8, 8)
        self.down6 = _down(ngf * 8, ngf * 8, norm_layer)  # (N, 512, 4, 4)
        self.down7 = _down(ngf * 8, ngf * 8, norm_layer)  # (N, 512, 2, 2)
        # Innermost: no norm (a 1x1 map has nothing to normalise) and no activation here; the
        # ReLU that follows it is the first layer of up1.
        innermost = nn.Conv2d(ngf * 8, ngf * 8, 4, stride=2, padding=1, bias=False)
        self.down8 = nn.Sequential(innermost)  # (N, 512, 1, 1)

        # Each decoder block reads cat([encoder level, previous block]), encoder first: the pair
        # in each comment below, then the block's output.
        self.up1 = _up(ngf * 8, ngf * 8, norm_layer)  # d8 alone -> (N, 512, 2, 2)
        self.up2 = _up(ngf * 16, ngf * 8, norm_layer, dropout=True)  # (d7, u1) -> (N, 512, 4, 4)
        self.up3 = _up(ngf * 16, ngf * 8, norm_layer, dropout=True)  # (d6, u2) -> (N, 512, 8, 8)
        self.up4 = _up(ngf * 16, ngf * 8, norm_layer, dropout=True)  # (d5, u3) -> (N, 512, 16, 16)
        self.up5 = _up(ngf * 16, ngf * 4, norm_layer)  # (d4, u4) -> (N, 256, 32, 32)
        self.up6 = _up(ngf * 8, ngf * 2, norm_layer)  # (d3, u5) -> (N, 128, 64, 64)
        self.up7 = _up(ngf * 4, ngf, norm_layer)  # (d2, u6) -> (N, 64, 128, 128)
        self.final = nn.Sequential(  # (d1, u7) -> (N, out_channels, 256, 256)
            nn.ReLU(),
            nn.ConvTranspose2d(ngf * 2, out_channels, 4, stride=2, padding=1),  # G's only bias
            nn.Tanh(),  # images live in [-1, 1]
        )

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        d4 = self.down4(d3)
        d5 = self.down5(d4)
        d6 = self.down6(d5)
        d7 = self.down7(d6)
        d8 = self.down8(d7)
        u1 = self.up1(d8)
        u2 = self.up2(torch.cat([d7, u1], dim=1))
        u3 = self.up3(torch.cat([d6, u2], dim=1))
        u4 = self.up4(torch.cat([d5, u3], dim=1))
        u5 = self.up5(torch.cat([d4, u4], dim=1))
        u6 = self.up6(torch.cat([d3, u5], dim=1))
        u7 = self.up7(torch.cat([d2, u6], dim=1))
        return self.final(torch.cat([d1, u7], dim=1))


class PatchGANDiscriminator(nn.Module):
    """The 70x70 PatchGAN: calls every overlapping 70x70 patch of (condition, image) real or fake.

    forward(condition, image): two (N, 3, 256, 256) tensors -> (N, 1, 30, 30) logits (no sigmoid:
    the loss is BCE-with-logits). Each logit's receptive field is 70x70 input pixels, so D judges
    local texture and leaves global structure to the L1 term (§3.2.2).
    """

    def __init__(self, in_channels=6, ndf=64, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),  # (N, 64, 128, 128); no norm
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(ndf, ndf * 2, 4, stride=2, padding=1, bias=False),  # (N, 128, 64, 64)
            norm_layer(ndf * 2),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(ndf * 2, ndf * 4, 4, stride=2, padding=1, bias=False),  # (N, 256, 32, 32)
            norm_layer(ndf * 4),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(ndf * 4, ndf * 8, 4, stride=1, padding=1, bias=False),  # (N, 512, 31, 31)
            norm_layer(ndf * 8),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(ndf * 8, 1, 4, stride=1, padding=1),  # (N, 1, 30, 30) logits
        )

    def forward(self, condition, image):
        return self.model(torch.cat([condition, image], dim=1))  # conditional: D sees the pair


def init_weights(net, std=INIT_STD):
    """The official 'normal' init: conv weights ~ N(0, std), BatchNorm weights ~ N(1, std),
    biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return net


# ---------------------------------------------------------------------------------------------
# The official checkpoint: a bare state_dict of the *nested* UnetGenerator. Level 1 is the
# outermost block `model.model`; level k >= 2 sits at `model.model.1` + `.model.3` * (k - 2).
# Inside a middle block's Sequential: 0 LeakyReLU, 1 down conv, 2 BN, 3 sub-block, 4 ReLU,
# 5 up conv, 6 BN (7 Dropout). Innermost (level 8): 0 LeakyReLU, 1 down conv, 2 ReLU, 3 up
# conv, 4 BN. Outermost (level 1): 0 down conv, 1 sub-block, 2 ReLU, 3 up conv (a bias), 4 Tanh.


def official_generator_key_map(num_levels=8):
    """Module-prefix map {official prefix: our prefix} for the official nested U-Net layout."""
    mapping = {"model.model.0": "down1.0", "model.model.3": "final.1"}
    for level in range(2, num_levels + 1):
        block = "model.model.1" + ".model.3" * (level - 2) + ".model."
        up = f"up{num_levels + 1 - level}"  # level 8 is decoded first (up1), level 2 last (up7)
        mapping[block + "1"] = f"down{level}.0"
        if level < num_levels:
            mapping[block + "2"] = f"down{level}.1"
            mapping[block + "5"] = f"{up}.1"
            mapping[block + "6"] = f"{up}.2"
        else:
            mapping[block + "3"] = f"{up}.1"
            mapping[block + "4"] = f"{up}.2"
    return mapping


def load_official_generator_weights(net_G, state_dict):
    """Copy an official pix2pix unet_256 state_dict into `net_G` (a UNetGenerator), key by key.

    Accepts the nested official keys, with or without `num_batches_tracked` (files saved by the
    PyTorch of 2018 lack it) and with or without a DataParallel `module.` prefix. Every key and
    every shape is checked; the first missing or unexpected key is named in the ValueError.
    Loads with strict=True, so nothing is silently left at its initial value.
    """
    source = {k.removeprefix("module."): v for k, v in state_dict.items()}
    target = net_G.state_dict()
    prefix_map = official_generator_key_map()

    def ours(official_key):
        module, _, name = official_key.rpartition(".")
        return prefix_map[module] + "." + name if module in prefix_map else None

    question = "is it a pix2pix unet_256 generator?"
    unexpected = [k for k in source if ours(k) not in target]
    if unexpected:
        raise ValueError(
            f"unexpected key {unexpected[0]!r} in the checkpoint "
            f"({len(unexpected)} unexpected); {question}"
        )
    mapped = {ours(k): v for k, v in source.items()}
    for key, value in target.items():
        if key not in mapped:
            if key.endswith("num_batches_tracked"):
                mapped[key] = torch.zeros_like(value)  # absent from older files; unused in tests
                continue
            module, _, name = key.rpartition(".")
            official = next(o for o, p in prefix_map.items() if p == module) + "." + name
            raise ValueError(f"missing key {official!r} in the checkpoint; {question}")
        if tuple(mapped[key].shape) != tuple(value.shape):
            raise ValueError(
                f"shape mismatch for {key!r}: checkpoint {tuple(mapped[key].shape)}, "
                f"model {tuple(value.shape)}; was it trained with another --ngf?"
            )
    net_G.load_state_dict(mapped, strict=True)
    return net_G


def generator_at_test_time(model_args, state_dict):
    """The paper's test-time G (§3.3): a UNetGenerator(**model_args) holding `state_dict`'s
    tensors themselves (no copy: given a training G's state_dict, it follows that G's updates),
    with PerImageBatchNorm2d, which never touches the running averages, and dropout off."""
    with torch.device("meta"):  # no memory, no initialisation: the tensors come from state_dict
        net_G = UNetGenerator(**model_args, norm_layer=PerImageBatchNorm2d)
    net_G.load_state_dict(state_dict, assign=True)
    return net_G.eval()


@torch.inference_mode()
def translate(net_G, real_A, batch_size=8):
    """Run G at test time on a (N, C, H, W) batch, a few images at a time, with no autograd.

    The inputs go to G's device; the result is float32 on the CPU, whatever G computes in. The
    mode (dropout, BatchNorm statistics) is the caller's: generator_at_test_time is the paper's.
    """
    device = next(net_G.parameters()).device
    batches = real_A.split(batch_size)
    return torch.cat([net_G(batch.to(device)).float().cpu() for batch in batches])


def count_parameters(net):
    """Number of trainable parameters (the paper-faithful G has 54,413,955, D 2,768,705)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
