"""Reference solution to challenge 2 (challenges/pix2pix_losses.py): the losses for one batch,
as training.recipe.train_step computes them before its optimizer steps."""

import torch
import torch.nn.functional as F


def pix2pix_losses(net_G, net_D, real_A, real_B, lambda_L1):
    fake_B = net_G(real_A)
    # D: real pairs -> 1, generated pairs -> 0. detach(): D's loss must not send gradients into G.
    pred_real = net_D(real_A, real_B)  # (N, 1, 30, 30) logits, one per 70x70 patch
    pred_fake = net_D(real_A, fake_B.detach())
    loss_D_real = F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
    loss_D_fake = F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
    loss_D = 0.5 * (loss_D_real + loss_D_fake)  # §3.3 halves it (under Adam it barely matters)
    # G: make D call its pairs real (target 1: the non-saturating loss), and stay close to real_B.
    pred = net_D(real_A, fake_B)  # not detached: G's gradients flow back through D
    loss_G_GAN = F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))
    loss_G = loss_G_GAN + lambda_L1 * F.l1_loss(fake_B, real_B)  # §3.1, Eq. 4
    return loss_D, loss_G
