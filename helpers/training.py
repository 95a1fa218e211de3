"""Exercise 3's bookkeeping, which the training loop calls but a student need not read.

    validate(eval_G, loader, device)            mean L1, PSNR and SSIM of the generator on the validation pairs
    check_finite(losses, epoch, checkpoint)     stop on a NaN/inf loss before anything is saved
    check_output_dir(out_dir, files, resume, restart)  before any work: writable, and no run replaced by accident
    resolve_settings(args, ckpt, defaults, quick)       the run's settings: defaults < --quick < flags < checkpoint
"""

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from helpers.cli import LessonError, shown
from helpers.files import check_writable_folder


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
    saved = ckpt["settings"]
    for key, value in {**(quick if args.quick else {}), **asked}.items():
        if key != "epochs" and value != saved[key]:
            raise LessonError(f"the checkpoint was trained with --{key.replace('_', '-')} {saved[key]}, "
                              f"not {value}; drop that flag to resume, or train afresh without --resume")
    return {**saved, "epochs": asked.get("epochs", saved["epochs"])}
