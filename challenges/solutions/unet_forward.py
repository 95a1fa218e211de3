"""Reference solution to challenge 1 (challenges/unet_forward.py): the U-Net's forward pass,
as pix2pix_models.UNetGenerator writes it."""

import torch

from pix2pix_models import UNetGenerator


class MyUNetGenerator(UNetGenerator):
    """UNetGenerator's layers, with the forward pass written out level by level."""

    def forward(self, x):
        # Encoder: every level is kept, because the decoder reads it again through a skip.
        d1 = self.down1(x)  # (N, 64, 128, 128)
        d2 = self.down2(d1)  # (N, 128, 64, 64)
        d3 = self.down3(d2)  # (N, 256, 32, 32)
        d4 = self.down4(d3)  # (N, 512, 16, 16)
        d5 = self.down5(d4)  # (N, 512, 8, 8)
        d6 = self.down6(d5)  # (N, 512, 4, 4)
        d7 = self.down7(d6)  # (N, 512, 2, 2)
        d8 = self.down8(d7)  # (N, 512, 1, 1): the bottleneck, the one level with no skip
        # Decoder: the mirrored encoder level first, then the decoder's own features (the official
        # order; the checkpoint's up-convolutions expect their input channels in that order).
        u1 = self.up1(d8)  # (N, 512, 2, 2)
        u2 = self.up2(torch.cat([d7, u1], dim=1))  # reads (N, 1024, 2, 2)
        u3 = self.up3(torch.cat([d6, u2], dim=1))  # reads (N, 1024, 4, 4)
        u4 = self.up4(torch.cat([d5, u3], dim=1))  # reads (N, 1024, 8, 8)
        u5 = self.up5(torch.cat([d4, u4], dim=1))  # reads (N, 1024, 16, 16)
        u6 = self.up6(torch.cat([d3, u5], dim=1))  # reads (N, 512, 32, 32)
        u7 = self.up7(torch.cat([d2, u6], dim=1))  # reads (N, 256, 64, 64)
        return self.final(torch.cat([d1, u7], dim=1))  # (N, 128, 128, 128) -> (N, 3, 256, 256)
