"""The pix2pix training recipe (Isola et al. 2017, §3.3) and how a step runs on a device. "The
official code" is junyanz/pytorch-CycleGAN-and-pix2pix."""

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr
from torchmetrics.functional.image import structural_similarity_index_measure as ssim

LR = 2e-4  # §3.3: Adam with learning rate 0.0002 ...
BETA1 = 0.5  # ... and momentum parameters beta1 = 0.5, beta2 = 0.999
LAMBDA_L1 = 100  # §4.2: L1 weighted 100x against the GAN term
BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # /proc/cpuinfo: x86 AVX512_BF16 or AMX, ARM BF16
# ONEDNN_MAX_CPU_ISA levels without bf16 instructions: set to one, even an AMX CPU emulates bf16.
ISA_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI"}


def lr_factor(epoch, epochs, epochs_decay):
    """The official linear policy (models/networks.py): 1, then down to 1/(decay + 1) at the end."""
    return min(1.0, (epochs - epoch + 1) / (epochs_decay + 1))


def training_dtype(device):
    """The precision the device computes natively, in which autocast runs a step's convolutions:
    bf16 where the hardware has it (emulated, it is slower than fp32), else fp16 on a GPU, fp32."""
    if device.type == "cuda":  # Ampere and newer: bf16; older GPUs: fp16 with loss scaling
        ampere = torch.cuda.get_device_capability(device) >= (8, 0)
        return torch.bfloat16 if ampere else torch.float16
    if device.type != "cpu" or os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ISA_WITHOUT_BF16:
        return torch.float32  # MPS (its autocast is young), or oneDNN capped below bf16
    try:
        native = set(Path("/proc/cpuinfo").read_text().split()) & BF16_FLAGS
    except OSError:  # no /proc/cpuinfo (Windows, macOS): AVX-512 is the sign
        native = torch.backends.cpu.get_cpu_capability() == "AVX512"
    return torch.bfloat16 if native else torch.float32


class StepSpeed:
    """How every step runs. StepSpeed() is the official way: fp32, NCHW and the plain Adam loop."""

    def __init__(self, dtype=torch.float32, memory_format=torch.contiguous_format, adam_options=()):
        self.dtype, self.memory_format, self.adam_options = dtype, memory_format, dict(adam_options)
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none
        self.scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    @classmethod
    def choose(cls, device, fp32=False):
        """fp32: the official way. Else autocast to the native precision, channels_last with it (in
        fp32, NHWC slows a CPU's BatchNorm and backward passes more than it helps), fused Adam."""
        if fp32:
            return cls()
        dtype = training_dtype(device)
        layout = torch.contiguous_format if dtype == torch.float32 else torch.channels_last
        return cls(dtype, layout, {"fused": True} if device.type in ("cpu", "cuda") else {})

    def __str__(self):
        if not self.adam_options:
            return "fp32 (the official way)"
        dtype = "fp32" if self.dtype == torch.float32 else f"{str(self.dtype)[6:]} autocast"
        layout = "channels_last" if self.memory_format == torch.channels_last else "NCHW"
        return f"{dtype}, {layout}, fused Adam"


def train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, lambda_L1=LAMBDA_L1, speed=None):
    """One pix2pix update (§3.3): a gradient step on D, then one on G. Returns the loss parts and
    D's mean verdicts as floats. With net_D None (--no-gan) G alone steps on lambda * L1: the
    paper's "L1" ablation (§4.2). `speed`: a StepSpeed (default: fp32, the official way)."""
    speed = speed or StepSpeed()
    autocast = torch.autocast(real_A.device.type, speed.dtype, speed.dtype != torch.float32)
    scaler = speed.scaler
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
        # §3.3 halves D's loss; under Adam a constant factor on a loss barely changes the steps
        # (Adam divides by the gradient's running magnitude)
        loss_D = 0.5 * (loss_D_real + loss_D_fake)
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
    parts = dict(G_GAN=loss_G_GAN, G_L1=loss_G_L1, D_real=loss_D_real, D_fake=loss_D_fake)
    parts.update(D_of_real=pred_real.sigmoid().mean(), D_of_fake=pred_fake.sigmoid().mean())
    return {k: v.item() for k, v in parts.items()}


@torch.inference_mode()
def validate(eval_G, loader, device, with_ssim=True):
    """Mean L1 (on [-1, 1], as the loss) and PSNR over the validation pairs, and SSIM (on [0, 1])
    if asked: it costs as much as the rest (else None: an empty cell in metrics.csv)."""
    totals = dict(val_L1=0.0, val_PSNR=0.0, val_SSIM=0.0)
    per_image = dict(reduction="none", data_range=1.0)
    for real_A, real_B in loader:
        fake_B, real_B = eval_G(real_A.to(device)).float(), real_B.to(device)
        fake01, real01 = (fake_B + 1) / 2, (real_B + 1) / 2
        totals["val_L1"] += (fake_B - real_B).abs().mean(dim=(1, 2, 3)).sum().item()
        totals["val_PSNR"] += psnr(fake01, real01, dim=(1, 2, 3), **per_image).sum().item()
        if with_ssim:
            totals["val_SSIM"] += ssim(fake01, real01, **per_image).sum().item()
    means = {key: total / len(loader.dataset) for key, total in totals.items()}
    return {**means, "val_SSIM": means["val_SSIM"] if with_ssim else None}
