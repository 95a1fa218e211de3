"""The pix2pix training recipe (Isola et al. 2017, §3.3), in one place for exercise3_train.py,
speed/ and challenges/. "The official code" is junyanz/pytorch-CycleGAN-and-pix2pix.

LR, BETA1, LAMBDA_L1    the paper's constants
lr_factor(...)          the official learning-rate schedule: constant, then a linear decay
StepSpeed.choose(...)   how a step runs on a device: precision, memory layout, Adam's kernel
train_step(...)         one update: a gradient step on D, then one on G
"""

from contextlib import nullcontext
from dataclasses import dataclass, field

import math

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr
from torchmetrics.functional.image import structural_similarity_index_measure as ssim

from helpers.lesson import LessonError, shown

from speed.precision import channels_last_pays, training_dtype

LR = 2e-4  # §3.3: Adam with learning rate 0.0002 ...
BETA1 = 0.5  # ... and momentum parameters beta1 = 0.5, beta2 = 0.999
LAMBDA_L1 = 100  # §4.2: L1 weighted 100x against the GAN term


def lr_factor(epoch, epochs, epochs_decay):
    """The official schedule (`--lr_policy linear` in the official code's models/networks.py): the
    learning rate stays constant, then falls linearly towards zero over the last `epochs_decay`
    epochs (100 + 100 epochs there). Epochs count from 1; the last one trains at 1/(decay + 1)."""
    return min(1.0, (epochs - epoch + 1) / (epochs_decay + 1))


@dataclass
class StepSpeed:
    """How every step runs, chosen once per run. The default is the official code's way: fp32,
    NCHW and the plain Adam loop; StepSpeed.choose() gives the same step faster, where it can."""

    dtype: torch.dtype = torch.float32
    memory_format: torch.memory_format = torch.contiguous_format
    adam_options: dict = field(default_factory=dict)  # {"fused": True} or nothing

    @classmethod
    def choose(cls, device, fp32=False):
        """fp32=True: the official way. Otherwise autocast to the reduced precision the device
        computes natively (bf16 on Ampere+ GPUs and on CPUs with AVX512-BF16 or AMX, fp16 on older
        GPUs, none elsewhere: emulation would be slower), channels_last where it pays, and fused
        Adam on CPU and CUDA. speed/precision.py says why, per device."""
        if fp32:
            return cls()
        dtype = training_dtype(device)
        if device.type == "cuda":  # time cuDNN's algorithms once for the run's fixed shapes
            torch.backends.cudnn.benchmark = True
        cl = channels_last_pays(device, dtype)
        layout = torch.channels_last if cl else torch.contiguous_format
        # fused Adam: one kernel for all of Adam's arithmetic, on the devices that have it
        fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
        return cls(dtype, layout, fused)

    def __post_init__(self):
        device = "cuda" if self.dtype == torch.float16 else "cpu"  # fp16 autocast is a GPU's
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none
        self.scaler = torch.amp.GradScaler(device, enabled=self.dtype == torch.float16)

    def __str__(self):
        if self.dtype == torch.float32 and not self.adam_options:
            return "fp32 (the official way)"
        layout = "channels_last" if self.memory_format == torch.channels_last else "NCHW"
        adam = "fused Adam" if self.adam_options else "Adam"
        return f"{str(self.dtype).removeprefix('torch.')} autocast, {layout}, {adam}"

    def autocast(self, device):
        """The context a step's forward passes run in: autocast to dtype, or nothing in fp32."""
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


def train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, lambda_L1=LAMBDA_L1, speed=None):
    """One pix2pix update (§3.3): a gradient step on D, then one on G. Returns the loss parts and
    D's mean verdicts as floats. With net_D None (--no-gan) G alone steps on lambda * L1: the
    paper's "L1" ablation (§4.2). `speed` is the run's StepSpeed (default: fp32, the official way).
    """
    speed = speed or StepSpeed()
    autocast, scaler = speed.autocast(real_A.device), speed.scaler
    opt_G.zero_grad(set_to_none=True)  # last step's gradients go first: 218 MB of them at ngf 64
    if net_D is None:
        with autocast:
            loss_G_L1 = F.l1_loss(net_G(real_A), real_B)
        scaler.scale(lambda_L1 * loss_G_L1).backward()
        scaler.step(opt_G)
        scaler.update()
        return dict(G_L1=loss_G_L1.item())

    # D learns to tell real pairs (sketch, colour) from generated ones, patch by patch.
    opt_D.zero_grad(set_to_none=True)
    net_D.requires_grad_(True)
    with autocast:
        fake_B = net_G(real_A)
        pred_real = net_D(real_A, real_B)  # (N, 1, 30, 30) logits, one per 70x70 patch
        pred_fake = net_D(real_A, fake_B.detach())  # detach: D's loss must not train G
        loss_D_real = F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
        loss_D_fake = F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
        loss_D = 0.5 * (loss_D_real + loss_D_fake)  # §3.3: halved, so D learns slower than G
    scaler.scale(loss_D).backward()
    scaler.step(opt_D)

    # G learns to make D call its pairs real (GAN) while staying close to the target (L1).
    net_D.requires_grad_(False)  # G's loss needs gradients through D, not for D's weights
    with autocast:
        pred = net_D(real_A, fake_B)
        loss_G_GAN = F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))
        loss_G_L1 = F.l1_loss(fake_B, real_B)
        loss_G = loss_G_GAN + lambda_L1 * loss_G_L1  # §3.1, Eq. 4
    scaler.scale(loss_G).backward()
    scaler.step(opt_G)
    scaler.update()  # once per iteration, after both optimizers stepped
    parts = dict(
        G_GAN=loss_G_GAN,
        G_L1=loss_G_L1,
        D_real=loss_D_real,
        D_fake=loss_D_fake,
        D_of_real=torch.sigmoid(pred_real).mean(),
        D_of_fake=torch.sigmoid(pred_fake).mean(),
    )
    return {k: v.item() for k, v in parts.items()}


def check_finite(losses, epoch, checkpoint):
    """Stop on a NaN/inf loss before anything is saved: the last good checkpoint stays as it was."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise LessonError(
            f"the {bad[0]} loss became {losses[bad[0]]} in epoch {epoch}: training "
            f"diverged; {shown(checkpoint)} still holds the last good epoch; train "
            "afresh with a smaller --lr"
        )


@torch.inference_mode()
def validate(eval_G, loader, device, with_ssim=True):
    """Mean L1 (on [-1, 1], as the training loss) and PSNR over the validation pairs, and SSIM
    (images on [0, 1]) if asked: it costs as much as the rest together, so a run asks for it at
    its milestones only (val_SSIM None elsewhere)."""
    totals = dict(val_L1=0.0, val_PSNR=0.0, val_SSIM=0.0)
    for real_A, real_B in loader:
        real_B = real_B.to(device)
        fake_B = eval_G(real_A.to(device)).float()
        fake01, real01 = (fake_B + 1) / 2, (real_B + 1) / 2
        totals["val_L1"] += (fake_B - real_B).abs().mean(dim=(1, 2, 3)).sum().item()
        per_image = dict(reduction="none", data_range=1.0)
        totals["val_PSNR"] += psnr(fake01, real01, dim=(1, 2, 3), **per_image).sum().item()
        if with_ssim:
            totals["val_SSIM"] += ssim(fake01, real01, **per_image).sum().item()
    means = {key: total / len(loader.dataset) for key, total in totals.items()}
    if not with_ssim:
        means["val_SSIM"] = None  # not measured: an empty cell in metrics.csv
    return means
