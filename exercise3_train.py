"""Exercise 3: train pix2pix to colour anime line sketches (real_A = sketch, real_B = colour image).

    python preprocess_anime_sketches.py --demo 200   # or the Kaggle pairs: see the lesson
    python exercise3_train.py --quick                # a small preset for a CPU (minutes, not hours)
    python exercise3_train.py                        # the paper's networks, 100 epochs, batch 4
    python exercise3_train.py --resume               # go on after Ctrl+C, SIGTERM or a crash
    torchrun --standalone --nproc_per_node=2 exercise3_train.py  # 2 GPUs; --batch-size per GPU
    python colorize_sketch.py my_sketch.png          # then colour your own sketch with the result
    python exercise3_train.py --quick --lambda-l1 0 --output-dir gan_only  # Fig. 4: GAN alone
    python exercise3_train.py --quick --no-gan --output-dir l1_only        # L1 alone (no D)

Reads --data/{train,val}/{sketches,colors}/NAME.png (with no val/, 5% of train is held out).
Writes into --output-dir (default: the current folder) after every epoch, all files together:
generator_weights.pth (what colorize_sketch.py loads), exercise3_checkpoint.pth (all that --resume
needs), metrics.csv (a row per epoch; row 0 is the untrained G), exercise3_training_progress.png
(losses and validation L1); at a quarter of the epochs and at the end also exercise3_epoch_{E}.png
(fixed validation sketches, generated, target) and exercise3_patchgan_{E}.png (D's 30x30
verdicts on the real and the generated pairs; not with --no-gan). --fp32 trains the official way;
by default each step runs in the reduced precision the hardware computes natively
(training/recipe.py).
"""

import argparse
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from helpers.lesson import ArgumentParser, LessonError, above, at_least, choose_device, fail
from helpers.lesson import DEVICE_CHOICES, multiple_of, seed_number
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, UNetGenerator, init_weights, translate
from pix2pix_models import generator_at_test_time
from training.data import EpochSampler, PairedSketchDataset, load_pairs, make_loaders
from training.recipe import BETA1, LAMBDA_L1, LR, StepSpeed, lr_factor, train_step
from training.recipe import check_finite, validate
from training.run import RunFolder, describe_run, epoch_line, resume_settings, say, seed_everything

MILESTONES = (0.25, 1.00)  # fractions of the epochs that get figures (and SSIM): early, and the end
PREVIEW_IMAGES = 4  # validation sketches shown in every exercise3_epoch_{E}.png
# --quick, the CPU preset, on the demo set's 180 pairs: narrow networks (work grows with the width
# squared: 3.4 GFLOP per image and step at ngf 16 and ndf 8, 87 at the paper's 64), 6 epochs with
# the official decay over the last 3, batch 2 (the paper used 1 for facades) and 5 times the
# paper's learning rate. On the demo set that reaches in 6 epochs the validation L1 that 20 epochs
# of lr 2e-4 at batch 4 reached (docs/training.rst has the runs). The image size cannot shrink:
# the U-Net halves it 8 times to 1x1.
QUICK = dict(epochs=6, batch_size=2, lr=1e-3, ngf=16, ndf=8, max_images=200)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help shows the docstring as written and every flag's default."""


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add = p.add_argument
    add("--data", type=Path, default=Path("anime_processed"), help="the preprocessed pairs")
    add("--output-dir", type=Path, default=Path("."), help="where the outputs go")
    preset = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in QUICK.items())
    add("--quick", action="store_true", help=f"the CPU preset: {preset} (flags you give still win)")
    # The paper's recipe (training/recipe.py) and the run's size.
    add("--epochs", type=at_least(1), default=100, help="passes over the training pairs")
    add(
        "--epochs-decay",
        type=at_least(0),
        help="the last epochs, with a learning rate falling "
        "linearly to 0 as in the official code (default: half of --epochs)",
    )
    add("--batch-size", type=at_least(1), default=4, help="pairs per step (per process)")
    add("--lr", type=above(0), default=LR, help="Adam's learning rate")
    add("--beta1", type=at_least(0.0, float), default=BETA1, help="Adam's beta1")
    add("--lambda-l1", type=at_least(0.0, float), default=LAMBDA_L1, help="0: GAN alone")
    add("--no-gan", action="store_true", help="L1 alone: no discriminator is built")
    add("--ngf", type=at_least(1), default=64, help="G's width (the paper's 64)")
    add("--ndf", type=at_least(1), default=64, help="D's width (the paper's 64)")
    add("--image-size", type=multiple_of(IMAGE_SIZE), default=IMAGE_SIZE, help="a multiple of 256")
    add("--max-images", type=at_least(1), help="train on the first N pairs only (default: all)")
    add("--val-images", type=at_least(1), default=100, help="validation pairs")
    add("--seed", type=seed_number, default=0, help="for weights, order, jitter and dropout")
    # How it runs.
    add("--device", choices=DEVICE_CHOICES, default="auto", help="auto = cuda, then mps, then cpu")
    add("--workers", type=at_least(0), help="loading processes (default: 0 on CPU, 4 on a GPU)")
    add(
        "--fp32",
        action="store_true",
        help="the official way: fp32, NCHW, plain Adam (default: "
        "the reduced precision the hardware computes natively, channels_last, fused Adam)",
    )
    add("--compile", action="store_true", help="torch.compile both networks (minutes at first)")
    add("--no-sync-bn", action="store_true", help="torchrun on GPUs: BatchNorm per process")
    add("--resume", action="store_true", help="continue the run in --output-dir, with its settings")
    add("--restart", action="store_true", help="replace the run in --output-dir (at epoch 1's end)")
    args = p.parse_args(argv)
    if args.quick:  # the preset replaces the defaults; flags typed on the command line still win
        p.set_defaults(**QUICK)
        args = p.parse_args(argv)
    unset = object()  # parsed again into a namespace of placeholders: what is left was not given
    given = p.parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(args), unset)))
    args.typed = {key for key, value in vars(given).items() if value is not unset}  # for --resume
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        rank, device = start_processes(choose_device(args.device))
        with RunFolder(args.output_dir, args.resume, args.restart, main=rank == 0) as folder:
            train(args, folder, rank, device)
    except LessonError as exc:
        fail(str(exc))
    except (torch.OutOfMemoryError, RuntimeError) as exc:  # a GPU's memory, or the CPU's
        if "out of memory" not in str(exc) and "can't allocate memory" not in str(exc):
            raise
        size, half = args.batch_size, max(1, args.batch_size // 2)
        fail(f"training ran out of memory at --batch-size {size}; try --batch-size {half}")
    except KeyboardInterrupt:  # Ctrl+C before the run's folder was opened
        print("\nInterrupted before training started; nothing was written.")
        raise SystemExit(130) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def start_processes(device):
    """torchrun starts one process per GPU and sets RANK, WORLD_SIZE and LOCAL_RANK in each; a plain
    `python` run sets none and is one process. Returns (this process's rank, the device it uses)."""
    if "RANK" not in os.environ:
        return 0, device
    if device.type == "cuda":  # each process its own GPU, NCCL between them
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")  # gloo: CPU processes
    return dist.get_rank(), device


def load_data(args, rank, device):
    """Pairs on disk -> (real_A, real_B) batches, jittered alike, a shard per process."""
    train_pairs, val_pairs, _ = load_pairs(args.data, args.max_images, args.val_images)
    train_data = PairedSketchDataset(train_pairs, args.image_size)
    val_data = PairedSketchDataset(val_pairs, args.image_size)
    ranks = dist.get_world_size() if dist.is_initialized() else 1
    sampler = EpochSampler(len(train_data), args.seed, rank, ranks)
    loader, val_loader = make_loaders(
        train_data, val_data, sampler, args.batch_size, args.workers, device
    )
    return loader, val_loader, val_data.first(PREVIEW_IMAGES)


def for_training(net, device, args):
    """What takes the steps: under torchrun a DDP copy per process, whose gradients DDP averages
    (SyncBatchNorm: BatchNorm over the global batch, GPUs only); compiled on request."""
    if net is not None and dist.is_initialized():
        if device.type == "cuda" and not args.no_sync_bn:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)  # in place: net_G stays the module
        net = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(net) if net is not None and args.compile else net


def milestone_epochs(epochs):
    return sorted({max(1, math.ceil(f * epochs)) for f in MILESTONES})


def adam(net, args, speed):
    return torch.optim.Adam(net.parameters(), args.lr, (args.beta1, 0.999), **speed.adam_options)


def mean_over_processes(losses, device):
    """Under torchrun, each loss averaged over all processes (the whole global batch's)."""
    if not dist.is_initialized():
        return losses
    values = torch.tensor(list(losses.values()), dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return dict(zip(losses, (values / dist.get_world_size()).tolist(), strict=True))


def train(args, folder, rank, device):
    checkpoint = folder.read_checkpoint()  # with --resume; else None
    args = resume_settings(args, checkpoint)  # your flags, or the checkpoint's settings
    loader, val_loader, (preview_A, preview_B) = load_data(args, rank, device)

    # The two networks (pix2pix_models.py) and how every step runs on this device.
    speed = StepSpeed.choose(device, fp32=args.fp32)
    seed_everything(args.seed)  # the same --seed gives the same start, in every process
    model_args = dict(in_channels=3, out_channels=3, ngf=args.ngf)
    net_G = init_weights(UNetGenerator(**model_args))
    # D judges (sketch, image) pairs: 6 channels in. --no-gan: L1 alone, no D at all.
    net_D = None if args.no_gan else init_weights(PatchGANDiscriminator(6, args.ndf))
    nets = [net for net in (net_G, net_D) if net is not None]
    for net in nets:
        net.to(device, memory_format=speed.memory_format).train()
    optimizers = [adam(net, args, speed) for net in nets]
    opt_G, opt_D = optimizers if net_D is not None else (optimizers[0], None)
    if rank > 0:
        seed_everything(args.seed, rank)  # but each process its own dropout masks
    history = folder.restore(checkpoint, nets, optimizers)  # --resume: where it stopped
    # G's own weights with the paper's test-time statistics (§3.3), for validation and previews.
    eval_G = generator_at_test_time(model_args, net_G.state_dict())
    train_G, train_D = for_training(net_G, device, args), for_training(net_D, device, args)
    describe_run(args, device, speed, loader, val_loader, nets, folder.saved)

    if not history:  # row 0: the untrained generator, the baseline the lesson compares against
        history.append(dict(epoch=0, **validate(eval_G, val_loader, device, with_ssim=False)))
        say(epoch_line(history[0], args))
    for epoch in range(len(history), args.epochs + 1):  # history: one row per epoch, from 0
        started, totals = time.perf_counter(), {}
        for opt in optimizers:  # the official schedule: constant, then a linear decay to zero
            opt.param_groups[0]["lr"] = args.lr * lr_factor(epoch, args.epochs, args.epochs_decay)
        loader.sampler.set_epoch(epoch)
        for real_A, real_B in tqdm(loader, f"epoch {epoch}", leave=False, disable=rank > 0):
            real_A = real_A.to(device, memory_format=speed.memory_format, non_blocking=True)
            real_B = real_B.to(device, memory_format=speed.memory_format, non_blocking=True)
            losses = train_step(
                train_G, train_D, opt_G, opt_D, real_A, real_B, args.lambda_l1, speed
            )
            losses = mean_over_processes(losses, device)  # so every process sees a NaN together
            check_finite(losses, epoch, folder.checkpoint)
            totals = {k: totals.get(k, 0.0) + v for k, v in losses.items()}
        row = dict(epoch=epoch, **{k: v / len(loader) for k, v in totals.items()})
        milestone = epoch in milestone_epochs(args.epochs)  # figures, and SSIM (slow to compute)
        row.update(validate(eval_G, val_loader, device, with_ssim=milestone))
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        say(epoch_line(row, args))
        with folder.epoch_files(epoch, args.epochs) as files:  # all of an epoch's files, or none
            if milestone:
                fake_B = translate(eval_G, preview_A)
                files.previews(preview_A, fake_B, preview_B, row["val_L1"])
                files.patchgan_maps(net_D, preview_A, preview_B, fake_B)
                files.progress_plot(history)
            files.metrics(history)
            files.checkpoint(args, model_args, nets, optimizers, history)
    folder.finish(nets)


if __name__ == "__main__":
    main()
