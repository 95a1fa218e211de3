"""Challenge 2: the student's loss_D and loss_G against training.recipe.train_step's, on one batch.

A wrong number is named for the mistake it comes from where it is a known one (D's loss not
halved, L1 not weighted, 100 typed in for lambda_L1, a part left out), else given with the parts
it should be made of. The gradients are checked too: D's loss must not reach G, G's loss must.
"""

import copy
import math

import torch
import torch.nn as nn

from challenges.checker.compare import BATCH, NDF, NGF, RTOL, SEED, kind, shape
from challenges.checker.student_files import Wrong, defined, student_code
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, UNetGenerator, init_weights
from training.recipe import LAMBDA_L1, train_step

LAMBDA = 10  # deliberately not the paper's 100, so that a 100 typed into the losses shows


def reference_losses(net_G, net_D, real_A, real_B):
    """train_step's loss parts for this batch, in fp32 (the official way). Adam with lr 0 leaves
    the weights as they were, so G's GAN part, which train_step computes after D's update, is
    taken with the D the student's code saw."""
    opt_G = torch.optim.Adam(net_G.parameters(), lr=0.0)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=0.0)
    return train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, LAMBDA)


def check_returned(result):
    """Wrong unless `result` is (loss_D, loss_G): two one-number tensors that carry gradients."""
    pair = isinstance(result, tuple) and len(result) == 2
    if not (pair and all(torch.is_tensor(r) for r in result)):
        kinds = ", ".join(type(r).__name__ for r in result) if isinstance(result, tuple) else None
        what = f"a tuple of {kinds}" if kinds else f"a {type(result).__name__}"
        raise Wrong(
            f"pix2pix_losses returns {what}; it should return (loss_D, loss_G), two tensors that "
            "carry gradients."
        )
    for name, loss in zip(("loss_D", "loss_G"), result, strict=True):
        if kind(loss) != kind(torch.zeros(())):  # meta, float16, ...: no number to compare
            raise Wrong(
                f"{name} is a {kind(loss)}; keep the {kind(torch.zeros(()))} that the networks "
                "give (no .to(), .half() or .double())."
            )
        if loss.numel() != 1:
            raise Wrong(
                f"{name} has shape {shape(loss)}; a loss is one number, the mean over patches "
                "and pixels."
            )
        if not loss.requires_grad:
            raise Wrong(
                f"{name} carries no gradient (made under torch.no_grad(), or from .item()?); "
                "backward() needs the tensor."
            )


def known_values(parts):
    """({value: None for the right one, or the mistake that gives it}, ...) for D's and G's loss;
    the right value comes first."""
    d_real, d_fake = parts["D_real"], parts["D_fake"]
    g_gan, g_l1 = parts["G_GAN"], parts["G_L1"]
    for_D = {
        0.5 * (d_real + d_fake): None,
        d_real + d_fake: "loss_D is BCE(real) + BCE(fake), not halved: the paper divides D's "
        "objective by 2 (§3.3), so that D learns slower than G.",
    }
    for_G = {
        g_gan + LAMBDA * g_l1: None,
        g_gan + g_l1: "loss_G is GAN + L1: the L1 part must be multiplied by lambda_L1 "
        "(§3.1, Eq. 4).",
        g_gan + LAMBDA_L1 * g_l1: f"loss_G weights L1 by {LAMBDA_L1}, not by the lambda_L1 it "
        f"was given ({LAMBDA}): use the argument.",
        LAMBDA * g_l1: "loss_G has no GAN part: add the BCE of D's logits on (real_A, fake_B) "
        "against 1.",
        g_gan: "loss_G has no L1 part: add lambda_L1 * L1(fake_B, real_B).",
    }
    return for_D, for_G


def check_values(loss_D, loss_G, parts):
    """Wrong unless both losses equal train_step's, naming the mistake where it is a known one."""
    for_D, for_G = known_values(parts)
    d_real, d_fake = parts["D_real"], parts["D_fake"]
    made_of_D = f"0.5 * ({d_real:.4f} on real pairs + {d_fake:.4f} on generated ones)"
    made_of_G = f"{parts['G_GAN']:.4f} (GAN) + {LAMBDA} * {parts['G_L1']:.4f} (L1)"
    check_value("loss_D", loss_D.item(), for_D, made_of_D)
    check_value("loss_G", loss_G.item(), for_G, made_of_G)


def check_value(name, value, known, made_of):
    """Wrong unless `value` is the first value of `known`; the mistake where it is another."""
    for candidate, mistake in known.items():  # the right value first
        if math.isclose(value, candidate, rel_tol=RTOL):
            if mistake is None:
                return
            raise Wrong(mistake)
    right = next(iter(known))
    raise Wrong(f"{name} is {value:.4f} where train_step's is {right:.4f} = {made_of}.")


def check_losses(module, path):
    losses = defined(module, "pix2pix_losses", path)
    torch.manual_seed(SEED)
    net_G = init_weights(UNetGenerator(ngf=NGF))
    net_D = init_weights(PatchGANDiscriminator(ndf=NDF))
    for layer in net_G.modules():  # dropout off: the numbers must not depend on how often G runs
        if isinstance(layer, nn.Dropout):
            layer.eval()
    real_A = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    real_B = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    student_G = copy.deepcopy(net_G)  # copies: train_step moves BatchNorm's running statistics
    student_D = copy.deepcopy(net_D)
    result = student_code(path, losses, student_G, student_D, real_A, real_B, LAMBDA)
    check_returned(result)
    loss_D, loss_G = result
    G_weights = list(student_G.parameters())
    into_G = torch.autograd.grad(loss_D, G_weights, retain_graph=True, allow_unused=True)
    if any(grad is not None for grad in into_G):
        raise Wrong(
            "loss_D sends gradients into net_G: D must judge fake_B.detach(), or D's step would "
            "also train G."
        )
    check_values(loss_D, loss_G, reference_losses(net_G, net_D, real_A, real_B))
    into_G = torch.autograd.grad(loss_G, G_weights, allow_unused=True)
    if all(grad is None for grad in into_G):
        raise Wrong(
            "loss_G sends no gradient into net_G: G's loss must use fake_B itself, not "
            "fake_B.detach()."
        )
