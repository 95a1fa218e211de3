"""Challenge 2 (optional): the pix2pix losses for one batch, D's and G's.

Read first: README.rst, "Core concepts", 1 (the objective) and 4. Paired data, and the GAN + L1
objective. Check with `python challenges/check.py`: "solved", or what differs from the losses of
training.recipe.train_step on a fixed batch.

Write pix2pix_losses(net_G, net_D, real_A, real_B, lambda_L1) in place of the `raise` line. It
returns (loss_D, loss_G), two scalar tensors that still carry their gradients (no .item(), no
optimizer steps):
  - fake_B is G's output for real_A; net_D(condition, image) gives (N, 1, 30, 30) logits, one per
    patch;
  - loss_D: D should call the pair (real_A, real_B) real (target 1) and (real_A, fake_B) fake
    (target 0), with binary cross-entropy on the logits (F.binary_cross_entropy_with_logits),
    weighted as the paper weighs D's objective (§3.3); D's loss must not train G;
  - loss_G: the GAN part (G wants D to call (real_A, fake_B) real) plus lambda_L1 times the L1
    distance between fake_B and real_B.
"""

import torch  # noqa: F401 - unused until you write your code (ones_like, zeros_like)
import torch.nn.functional as F  # noqa: F401 - F.binary_cross_entropy_with_logits, F.l1_loss


def pix2pix_losses(net_G, net_D, real_A, real_B, lambda_L1):
    # ---- your code here (about 10 lines); it replaces the line below ----
    raise NotImplementedError("challenge 2: the pix2pix losses are not written yet")
