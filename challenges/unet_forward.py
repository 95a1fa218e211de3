"""Challenge 1 (optional): the U-Net's forward pass, with its seven skip connections.

Read first: README.rst, "Core concepts", 2. The U-Net generator and its skip connections. Check
with `python challenges/check.py`: "solved", or the first level of yours that differs.

The layers are built for you: MyUNetGenerator inherits UNetGenerator's blocks from
pix2pix_models.py (down1 .. down8, up1 .. up7, final), so the official checkpoint's weights load
into it. Write its forward pass in place of the `raise` line:
  - the encoder: down1 .. down8 take x, (N, 3, 256, 256), down to (N, 512, 1, 1), one block after
    the other; keep every level's output, d1 .. d8: the decoder needs them again;
  - the decoder: up1 reads d8 alone; up2 .. up7, then final, each read the previous decoder
    output joined along the channels (dim=1) with the encoder features of the mirrored level, in
    the official order (the lesson says which comes first and which level meets which);
  - return what final gives: (N, 3, 256, 256), in [-1, 1].
"""

import torch  # noqa: F401 - unused until you write your code (torch.cat)

from pix2pix_models import UNetGenerator


class MyUNetGenerator(UNetGenerator):
    """UNetGenerator's layers, with a forward pass of your own."""

    def forward(self, x):
        # ---- your code here (about 16 lines); it replaces the line below ----
        raise NotImplementedError("challenge 1: the U-Net's forward pass is not written yet")
