"""Exercise 3's bookkeeping, which the training loop calls but a student need not read.

    validate(eval_G, loader, device)            mean L1, PSNR and SSIM of the generator on the validation pairs
    check_finite(losses, epoch, checkpoint)     stop on a NaN/inf loss before anything is saved
    check_output_dir(out_dir, files, resume, restart)  before any work: writable, and no run replaced by accident
    resolve_settings(args, ckpt, defaults, quick)       the run's settings: defaults < --quick < flags < checkpoint
    describe_run(say, s, args, ...)             the start-up description: data, settings, objective, networks
    epoch_line(row, epochs, lambda_l1)          the line printed after every epoch
    explain_out_of_memory(exc, device, batch_size)      an out-of-memory error as advice to shrink the batch
"""

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from helpers.cli import LessonError, shown
from helpers.files import check_writable_folder
from pix2pix_models import count_parameters


@torch.inference_mode()
def validate(eval_G, loader, device):
    """Mean L1 (on [-1, 1], like the training loss), PSNR and SSIM (on [0, 1]) over the val images."""
    totals, count = dict(val_L1=0.0, val_PSNR=0.0, val_SSIM=0.0), 0
    for real_A, real_B in loader:
        real_B = real_B.to(device)
        fake_B = eval_G(real_A.to(device))
        fake01, real01 = (fake_B + 1) / 2, (real_B + 1) / 2
        totals["val_L1"] += (fake_B - real_B).abs().mean(dim=(1, 2, 3)).sum().item()
        totals["val_PSNR"] += peak_signal_noise_ratio(fake01, real01, data_range=1.0, reduction="none",
                                                      dim=(1, 2, 3)).sum().item()
        totals["val_SSIM"] += structural_similarity_index_measure(fake01, real01, data_range=1.0,
                                                                  reduction="none").sum().item()
        count += len(real_A)
    return {k: v / count for k, v in totals.items()}


def check_finite(losses, epoch, checkpoint):
    """Stop on a NaN/inf loss before anything is saved, so the last good checkpoint stays as it was."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise LessonError(f"the {bad[0]} loss became {losses[bad[0]]} in epoch {epoch}: training diverged; "
                          f"{shown(checkpoint)} still holds the last good epoch; restart with a smaller --lr")


def check_output_dir(out_dir, files, resume, restart):
    """Before any work: the folder is writable, and a fresh run never replaces another run's results."""
    problem = check_writable_folder(out_dir)
    if problem:
        raise LessonError(f"cannot write into --output-dir {shown(out_dir)} ({problem}); choose another --output-dir")
    earlier = [name for name in files if (out_dir / name).exists()]
    if earlier and not (resume or restart):
        raise LessonError(f"{shown(out_dir)} already holds a run ({', '.join(earlier)}); add --resume to continue it, "
                          "choose a new --output-dir, or add --restart to train afresh and replace it")


def resolve_settings(args, ckpt, defaults, quick):
    """Defaults < --quick < your flags; on --resume the checkpoint's settings, where only --epochs may change."""
    asked = {k: getattr(args, k) for k in defaults if getattr(args, k) is not None}
    if ckpt is None:
        return {**defaults, **(quick if args.quick else {}), **asked}
    saved = {**defaults, **ckpt["settings"]}  # a setting newer than the checkpoint: it trained with the default
    for key, value in {**(quick if args.quick else {}), **asked}.items():
        if key != "epochs" and value != saved[key]:
            flag = f"--{key.replace('_', '-')}"
            trained = (f"{'with' if saved[key] else 'without'} {flag}" if isinstance(value, bool)
                       else f"with {flag} {saved[key]}, not {value}")
            raise LessonError(f"the checkpoint was trained {trained}; drop that flag to resume, "
                              "or train afresh without --resume")
    return {**saved, "epochs": asked.get("epochs", saved["epochs"])}


def objective(s):
    """The loss G trains on, in words (the paper's ablation, §4.2 and Fig. 4, names the three)."""
    if s["no_gan"]:
        return f"L1 alone ({s['lambda_l1']:g} x L1; --no-gan: no D)"
    return "GAN alone (--lambda-l1 0)" if s["lambda_l1"] == 0 else f"GAN + {s['lambda_l1']:g} x L1 (§3.1, Eq. 4)"


def describe_run(say, s, args, world, device, train_data, val_data, val_from, loader, workers, dtype, nets, done):
    """Print what this run is: device, data, settings, objective, precision and the networks' sizes."""
    net_G, net_D = nets
    say("Exercise 3: pix2pix, sketch -> colour")
    if world.distributed:
        norm = ("SyncBatchNorm over the global batch" if not args.no_sync_bn and device.type == "cuda"
                else "each process's own batch")
        say(f"  DistributedDataParallel: {world.size} processes, global batch {world.size * s['batch_size']}, "
            f"BatchNorm statistics of {norm}")
    say(f"  device: {device}   data: {shown(args.data)} ({len(train_data)} training pairs, "
        f"{len(val_data)} validation pairs from {shown(val_from)})   outputs: {shown(args.output_dir)}")
    say(f"  epochs: {s['epochs']}   batch size: {s['batch_size']}   batches per epoch: {len(loader)}   "
        f"image size: {s['image_size']}   workers: {workers}   seed: {s['seed']}")
    say(f"  lr: {s['lr']}   beta1: {s['beta1']}   lambda_L1: {s['lambda_l1']}   objective: {objective(s)}   "
        f"precision: {str(dtype).split('.')[-1]}{' (--fp32)' if args.fp32 else ''}")
    d_text = "none (--no-gan)" if net_D is None else f"PatchGAN, ndf {s['ndf']}, {count_parameters(net_D):,} parameters"
    say(f"  net_G: U-Net, ngf {s['ngf']}, {count_parameters(net_G):,} parameters   net_D: {d_text}")
    if done >= s["epochs"]:
        say(f"The checkpoint is already at epoch {done}; pass a larger --epochs to train on.")


def epoch_line(row, epochs, lambda_l1):
    """One epoch in one line: G's loss parts, D's parts and mean verdicts (if there is a D), validation, time."""
    g = f"GAN {row['G_GAN']:.3f} + " if "G_GAN" in row else ""  # --no-gan: L1 is G's whole loss
    d = (f"  D: real {row['D_real']:.3f} fake {row['D_fake']:.3f}  D(real) {row['D_of_real']:.2f}"
         f" D(fake) {row['D_of_fake']:.2f}" if "D_real" in row else "")
    return (f"epoch {row['epoch']}/{epochs}  G: {g}{lambda_l1:g} x L1 {row['G_L1']:.4f}{d}  val L1 {row['val_L1']:.4f}"
            f" PSNR {row['val_PSNR']:.2f} SSIM {row['val_SSIM']:.3f}  {row['seconds']:.0f}s")


def explain_out_of_memory(exc, device, batch_size):
    """Raise a LessonError that suggests a smaller batch if `exc` says memory ran out; else return, and the
    caller re-raises `exc` with its traceback."""
    if "out of memory" in str(exc) or "can't allocate memory" in str(exc):
        raise LessonError(f"{device} ran out of memory at --batch-size {batch_size}; "
                          f"try --batch-size {max(1, batch_size // 2)} (or a smaller --ngf)") from None
