"""Exercise 3: train pix2pix to colour anime line sketches (real_A = sketch, real_B = colour image).

    python preprocess_anime_sketches.py --demo 200   # or the Kaggle pairs: see the lesson
    python exercise3_train.py --quick                # a small preset for a CPU (minutes, not hours)
    python exercise3_train.py                        # the paper's networks, 100 epochs, batch 4
    python exercise3_train.py --resume               # go on after Ctrl+C, SIGTERM or a crash
    torchrun --standalone --nproc_per_node=2 exercise3_train.py  # 2 GPUs; --batch-size per GPU
    python colorize_sketch.py my_sketch.png          # then colour your own sketch with the result
    python exercise3_train.py --quick --lambda-l1 0 --output-dir gan_only  # Fig. 4: GAN alone
    python exercise3_train.py --quick --no-gan --output-dir l1_only        # L1 alone (no D)

Reads --data/{train,val}/{sketches,colors}/NAME.png (no val/: 5% of train is held out). Writes
into --output-dir after every epoch: generator_weights.pth (for colorize_sketch.py),
exercise3_checkpoint.pth (for --resume), metrics.csv; at a quarter of the epochs and at the end also
exercise3_training_progress.png, exercise3_epoch_{E}.png and exercise3_patchgan_{E}.png.
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import default_collate
from tqdm import tqdm

from helpers.lesson import DEVICE_CHOICES, ArgumentParser, LessonError, at_least
from helpers.lesson import choose_device, fail, path_arg, seed_number
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, UNetGenerator, init_weights
from pix2pix_models import generator_at_test_time, translate
from training.data import make_loaders
from training.recipe import BETA1, LAMBDA_L1, LR, StepSpeed, lr_factor, train_step, validate
from training.run import RunFolder, describe_run, epoch_line, restore, resume_settings, rng_states
from training.run import save_epoch, save_figures

MILESTONES = (0.25, 1.00)  # fractions of the epochs that get figures (and SSIM): early, and the end
PREVIEW_IMAGES = 4  # validation sketches shown in every exercise3_epoch_{E}.png
# --quick, the CPU preset (docs/training.rst has its runs): narrow networks (3.4 GFLOP per image and
# step instead of 87). The image size cannot shrink: the U-Net halves it 8 times to 1x1.
QUICK = dict(epochs=6, batch_size=2, lr=1e-3, ngf=16, ndf=8, max_images=200)
WIDTH = at_least(1, below=1025)  # 16 times the paper's 64 is already 14 billion weights in G


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help shows the docstring as written and every flag's default."""


def parse_args(argv=None):
    """The flags (the paper's recipe, §3.3, by default), parsed once; args.typed: those given."""
    p, flags = ArgumentParser(description=__doc__, formatter_class=HelpFormatter), []

    def add(*names, group=p, **options):
        flags.append(group.add_argument(*names, **options))

    add("--data", type=path_arg, default=Path("anime_processed"), help="the preprocessed pairs")
    add("--output-dir", type=path_arg, default=Path("."), help="where the outputs go")
    preset = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in QUICK.items())
    add("--quick", action="store_true", help=f"the CPU preset: {preset} (flags you give still win)")
    add("--epochs", type=at_least(1), default=100, help="passes over the training pairs")
    add("--epochs-decay", type=at_least(0), help="the last, lr falling to 0; None: half of them")
    add("--batch-size", type=at_least(1), default=4, help="pairs per step (per process)")
    add("--lr", type=at_least(0.0, float, exclusive=True), default=LR, help="Adam's learning rate")
    add("--beta1", type=at_least(0.0, float, below=1.0), default=BETA1, help="Adam's beta1")
    add("--lambda-l1", type=at_least(0.0, float), default=LAMBDA_L1, help="0: GAN alone")
    add("--no-gan", action="store_true", help="L1 alone: no discriminator is built")
    add("--ngf", type=WIDTH, default=64, help="G's width")
    add("--ndf", type=WIDTH, default=64, help="D's width")
    # the U-Net halves it 8 times; open_image reads no side above 4096 (MAX_PIXELS)
    sizes = dict(type=int, choices=range(IMAGE_SIZE, 4097, IMAGE_SIZE), metavar="N")
    add("--image-size", **sizes, default=IMAGE_SIZE, help="a multiple of 256 up to 4096")
    add("--max-images", type=at_least(1), help="train on the first N pairs only; None: all")
    add("--val-images", type=at_least(1), default=100, help="validation pairs")
    add("--seed", type=seed_number, default=0, help="for weights, order, jitter and dropout")
    add("--device", choices=DEVICE_CHOICES, default="auto", help="cuda, then mps, then cpu")
    add("--workers", type=at_least(0), help="loading processes; None: 0 on CPU, 4 on a GPU")
    add("--fp32", action="store_true", help="the official way: fp32, NCHW, plain Adam")
    add("--compile", action="store_true", help="torch.compile both networks (minutes at first)")
    add("--no-sync-bn", action="store_true", help="torchrun on GPUs: BatchNorm per process")
    one = p.add_mutually_exclusive_group()  # --resume goes on with a run, --restart replaces it
    add("--resume", group=one, action="store_true", help="continue the run in --output-dir")
    add("--restart", group=one, action="store_true", help="replace it (at epoch 1's end)")
    unset = object()  # argparse fills in a default only where the namespace holds none
    args = p.parse_args(argv, argparse.Namespace(**{flag.dest: unset for flag in flags}))
    args.typed = {key for key, value in vars(args).items() if value is not unset}
    preset = QUICK if "quick" in args.typed else {}
    for flag in (flag for flag in flags if getattr(args, flag.dest) is unset):
        setattr(args, flag.dest, preset.get(flag.dest, flag.default))
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        device = choose_device(args.device)
        if "RANK" in os.environ:  # torchrun: a process per GPU (or CPU share), each its own rank
            if device.type == "cuda":  # each process its own GPU, NCCL between them
                device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
                torch.cuda.set_device(device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank = dist.get_rank() if dist.is_initialized() else 0
        if rank > 0:  # the first process alone prints: the others would say the same
            sys.stdout = open(os.devnull, "w")
        with RunFolder(args.output_dir, args.restart, main=rank == 0) as folder:
            train(args, folder, rank, device)
    except LessonError as exc:
        text = str(exc)  # from a loading worker: its whole traceback, the sentence on the last line
        fail(text.splitlines()[-1].split(": ", 1)[1] if "Original Traceback" in text else text)
    except (RuntimeError, MemoryError) as exc:
        # torch.OutOfMemoryError on a GPU; the CPU's allocator's RuntimeError has only its text
        oom = isinstance(exc, (torch.OutOfMemoryError, MemoryError))
        if not (oom or "DefaultCPUAllocator" in str(exc)):
            raise
        smaller = "a smaller --image-size, --ngf or --ndf, or --quick"
        smaller = f"--batch-size {args.batch_size // 2}" if args.batch_size > 1 else smaller
        fail(f"training ran out of memory at --batch-size {args.batch_size}; try {smaller}")
    except KeyboardInterrupt:  # Ctrl+C before the run's folder was opened
        print("\nInterrupted before training started; nothing was written.")
        raise SystemExit(130) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def for_training(net, device, args):
    """What takes the steps: under torchrun a DDP copy (gradients averaged); compiled if asked."""
    if net is not None and dist.is_initialized():
        if device.type == "cuda" and not args.no_sync_bn:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)  # in place: net_G stays the module
        net = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(net) if net is not None and args.compile else net


def mean_over_processes(losses, device):
    """Under torchrun, each loss averaged over all processes (the whole global batch's)."""
    if not dist.is_initialized():
        return losses
    values = torch.tensor(list(losses.values()), dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return dict(zip(losses, (values / dist.get_world_size()).tolist(), strict=True))


def train(args, folder, rank, device):
    checkpoint = resume_settings(args)  # refuses another run's folder; --resume: its settings
    ranks = dist.get_world_size() if dist.is_initialized() else 1
    loader, val_loader = make_loaders(args, rank, ranks, device)
    previews = [val_loader.dataset[i] for i in range(min(PREVIEW_IMAGES, len(val_loader.dataset)))]
    preview_A, preview_B = default_collate(previews)

    # The two networks (pix2pix_models.py), and how every step runs on this device.
    speed = StepSpeed.choose(device, fp32=args.fp32)
    # CUDA: time cuDNN's convolution algorithms once for the run's fixed shapes (process-wide)
    torch.backends.cudnn.benchmark = device.type == "cuda" and not args.fp32
    torch.manual_seed(args.seed * 1_000_003)  # the same --seed, the same start, in every process
    model_args = dict(in_channels=3, out_channels=3, ngf=args.ngf)
    net_G = init_weights(UNetGenerator(**model_args))
    # D judges (sketch, image) pairs: 6 channels in. --no-gan: L1 alone, no D at all.
    net_D = None if args.no_gan else init_weights(PatchGANDiscriminator(6, args.ndf))
    nets = [net_G] if net_D is None else [net_G, net_D]
    for net in nets:
        net.to(device, memory_format=speed.memory_format)
    adam = dict(lr=args.lr, betas=(args.beta1, 0.999), **speed.adam_options)
    optimizers = [torch.optim.Adam(net.parameters(), **adam) for net in nets]
    opt_G, opt_D = optimizers if net_D is not None else (optimizers[0], None)
    if rank > 0:  # each process its own dropout masks
        torch.manual_seed(args.seed * 1_000_003 + rank)
    history = restore(checkpoint, nets, optimizers, rank, ranks)  # --resume: where it stopped
    folder.saved = checkpoint["epoch"] if checkpoint else None
    # G's own weights with the paper's test-time statistics (§3.3), for validation and previews.
    eval_G = generator_at_test_time(model_args, net_G.state_dict())
    train_G, train_D = for_training(net_G, device, args), for_training(net_D, device, args)
    describe_run(args, device, speed, loader, val_loader, nets, folder.saved)

    if not history:  # row 0: the untrained generator, the baseline the lesson compares against
        history.append(dict(epoch=0, **validate(eval_G, val_loader, device, with_ssim=False)))
        print(epoch_line(history[0], args), flush=True)
    milestones = {max(1, math.ceil(f * args.epochs)) for f in MILESTONES}
    for epoch in range(len(history), args.epochs + 1):  # history: one row per epoch, from 0
        started, totals = time.perf_counter(), {}
        for opt in optimizers:  # the official schedule: constant, then a linear decay
            opt.param_groups[0]["lr"] = args.lr * lr_factor(epoch, args.epochs, args.epochs_decay)
        loader.sampler.set_epoch(epoch)
        for real_A, real_B in tqdm(loader, f"epoch {epoch}", leave=False, disable=rank > 0):
            real_A = real_A.to(device, memory_format=speed.memory_format, non_blocking=True)
            real_B = real_B.to(device, memory_format=speed.memory_format, non_blocking=True)
            losses = train_step(
                train_G, train_D, opt_G, opt_D, real_A, real_B, args.lambda_l1, speed
            )
            losses = mean_over_processes(losses, device)  # so every process sees a NaN together
            folder.check_finite(losses, epoch, args.lambda_l1)
            totals = {k: totals.get(k, 0.0) + v for k, v in losses.items()}
        row = dict(epoch=epoch, **{k: v / len(loader) for k, v in totals.items()})
        row.update(validate(eval_G, val_loader, device, with_ssim=epoch in milestones))
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        print(epoch_line(row, args), flush=True)
        rngs = rng_states()  # every process's, for an exact --resume
        if rank == 0:  # the first process alone writes: all of an epoch's files, or none
            with folder.epoch_files(epoch) as stage:
                if epoch in milestones:  # figures (and SSIM) at milestones only: they take time
                    fake_B = translate(eval_G, preview_A)
                    save_figures(stage, history, args.epochs, net_D, preview_A, fake_B, preview_B)
                save_epoch(stage, args, model_args, nets, optimizers, history, rngs)
        folder.saved = epoch
    folder.finish(nets)


if __name__ == "__main__":
    main()
