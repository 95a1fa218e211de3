"""Exercise 3: train pix2pix to colour anime line sketches (real_A = sketch, real_B = colour image).

    python preprocess_anime_sketches.py --demo 200   # or the Kaggle pairs: see the lesson
    python exercise3_train.py --quick                # a small preset for a CPU (minutes, not hours)
    python exercise3_train.py                        # the paper's networks: 100 epochs, batch 4, 256 px
    python exercise3_train.py --resume               # go on after Ctrl+C or a crash
    torchrun --standalone --nproc_per_node=2 exercise3_train.py  # 2 GPUs; --batch-size is per GPU
    python colorize_sketch.py my_sketch.png          # then colour your own sketch with the result
    python exercise3_train.py --quick --lambda-l1 0 --output-dir gan_only  # the paper's ablation (Fig. 4): GAN alone,
    python exercise3_train.py --quick --no-gan --output-dir l1_only        # L1 alone (no D at all)

Reads --data/{train,val}/{sketches,colors}/NAME.png (with no val/, a fixed 5% of train is held out).
Writes into --output-dir (default: the current folder): exercise3_epoch_{E}.png (fixed validation
sketches, generated, target, at 10/25/50/75/100% of the epochs), exercise3_patchgan_{E}.png (at the
same epochs, D's 30x30 verdicts on the real and on the generated pairs; not with --no-gan),
exercise3_training_progress.png (losses and validation L1), metrics.csv (one row per epoch; row 0 is
the untrained G), exercise3_checkpoint.pth (all --resume needs, after every epoch) and generator_weights.pth.
Mixed precision is used where the hardware computes it natively; --fp32 trains the official way.
"""

import argparse
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

import speed
from training import distributed
from training.data import NO_DATA_HINT, PairedSketchDataset, derived_seed, make_loaders, split_pairs
from helpers.checkpoints import load_checkpoint, rng_states, save_checkpoint, save_generator, set_rng_states
from helpers.cli import (ArgumentParser, LessonError, above, add_device_argument, at_least, choose_device, fail,
                         multiple_of, shown)
from helpers.figures import save_grid, save_patchgan_maps, save_progress_plot
from helpers.files import write_csv
from training.run import (check_finite, check_output_dir, describe_run, epoch_line, explain_out_of_memory,
                              resolve_settings, validate)
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator, init_weights
from training.recipe import BETA1, LAMBDA_L1, LR, StepSpeed, train_step

PREVIEW_IMAGES = 4  # validation sketches shown in every exercise3_epoch_{E}.png
MILESTONES = (0.10, 0.25, 0.50, 0.75, 1.00)  # fractions of the epochs that get a preview grid
CHECKPOINT, WEIGHTS = "exercise3_checkpoint.pth", "generator_weights.pth"

# The lesson's run, and what --quick changes. A step costs 87 GFLOP per image at ngf = ndf = 64 and
# 5.8 at 16 (work grows with width squared; D costs as much as G, so both shrink). Image size cannot
# shrink: the U-Net halves it 8 times to 1x1, so 128 px fails.
DEFAULTS = dict(epochs=100, batch_size=4, lr=LR, beta1=BETA1, lambda_l1=LAMBDA_L1, ngf=64, ndf=64,
                image_size=IMAGE_SIZE, max_images=None, val_images=100, seed=0, no_gan=False)
QUICK = dict(epochs=20, ngf=16, ndf=16, max_images=200)


def build_generator(model_args, norm_layer=nn.BatchNorm2d):
    return UNetGenerator(**model_args, norm_layer=norm_layer)


def refresh_twin(eval_G, net_G):
    """Copy net_G's weights into eval_G, which previews and validation use, and return it in eval mode.

    The paper tests with BatchNorm in training mode, i.e. each image normalised by its own statistics at
    batch size 1. Running net_G itself in train mode would also move its running averages (a side effect
    on the model being trained, and --resume would no longer repeat a run exactly). The twin has
    PerImageBatchNorm2d, which never touches buffers; eval() turns dropout off so epochs compare."""
    eval_G.load_state_dict(net_G.state_dict())
    return eval_G.eval()


def milestone_epochs(epochs):
    return sorted({max(1, math.ceil(f * epochs)) for f in MILESTONES})


def parse_args(argv):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d, q = DEFAULTS, QUICK
    p.add_argument("--data", type=Path, default=Path("anime_processed"), help="preprocessed pairs (default: anime_processed/)")
    p.add_argument("--epochs", type=at_least(1), help=f"passes over the training pairs (default: {d['epochs']})")
    p.add_argument("--batch-size", type=at_least(1), help=f"pairs per step; under torchrun per process, so the "
                   f"global batch is N times this (default: {d['batch_size']})")
    p.add_argument("--lr", type=above(0), help=f"Adam learning rate (default: {d['lr']})")
    p.add_argument("--beta1", type=at_least(0.0, float), help=f"Adam beta1 (default: {d['beta1']})")
    p.add_argument("--lambda-l1", type=at_least(0.0, float), help=f"L1's weight; 0: GAN alone (default: {d['lambda_l1']})")
    p.add_argument("--no-gan", action="store_true", default=None, help="L1 alone: no discriminator is built or "
                   "trained, G's loss is lambda x L1 (default: off, the full objective)")
    p.add_argument("--max-images", type=at_least(1), help="use only the first N training pairs (default: all)")
    p.add_argument("--val-images", type=at_least(1), help=f"validate on the first N val pairs (default: {d['val_images']})")
    p.add_argument("--ngf", type=at_least(1), help=f"G's width, 64 in the paper; smaller is faster (default: {d['ngf']})")
    p.add_argument("--ndf", type=at_least(1), help=f"D's width, 64 in the paper (default: {d['ndf']})")
    p.add_argument("--image-size", type=multiple_of(IMAGE_SIZE), help=f"training size, a multiple of {IMAGE_SIZE}: "
                   f"the U-Net halves it 8 times (default: {d['image_size']})")
    p.add_argument("--seed", type=int, help=f"seed for weights, order, jitter and dropout (default: {d['seed']})")
    p.add_argument("--quick", action="store_true", help=(
        f"CPU preset: --ngf {q['ngf']} --ndf {q['ndf']} (15x less work per image), --max-images {q['max_images']} "
        f"(the demo set), --epochs {q['epochs']}; 256 px stays (the U-Net needs it). Flags you give still win."))
    p.add_argument("--output-dir", type=Path, default=Path("."), help="where outputs go (default: the current folder)")
    add_device_argument(p)
    p.add_argument("--workers", type=at_least(0), help="data-loading processes (default: 0 on CPU, 4 on a GPU)")
    p.add_argument("--resume", action="store_true", help=f"continue from --output-dir/{CHECKPOINT} with its settings")
    p.add_argument("--restart", action="store_true", help="start afresh even if --output-dir holds another run "
                   "(its files are replaced when the first epoch ends)")
    p.add_argument("--fp32", action="store_true", help="the official way: fp32, NCHW, plain Adam (default: mixed "
                   "precision, channels_last and fused Adam where the hardware does them natively)")
    p.add_argument("--compile", action="store_true", help="torch.compile both networks (minutes of compiling first)")
    p.add_argument("--no-sync-bn", action="store_true", help="under torchrun on GPUs: BatchNorm on each process's "
                   "own batch instead of SyncBatchNorm over the global batch (default: SyncBatchNorm)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    world = distributed.world_from_env()  # rank 0 of 1 unless started by torchrun
    try:
        train(args, world)
    except LessonError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # Ctrl+C before training started: nothing to save
        print("\nInterrupted before training started; nothing was written.")
        raise SystemExit(130) from None
    finally:
        distributed.finish(world, completed=False)  # leaves the process group after an error; else a no-op


def train(args, world):
    out_dir, device = args.output_dir, distributed.start(world, choose_device(args.device))
    say = print if world.main else (lambda *a, **k: None)  # rank 0 alone talks and writes files
    check_output_dir(out_dir, (CHECKPOINT, WEIGHTS), args.resume, args.restart)
    ckpt_path = out_dir / CHECKPOINT
    ckpt = load_checkpoint(ckpt_path) if args.resume else None
    s = resolve_settings(args, ckpt, DEFAULTS, QUICK)  # defaults < --quick < your flags; --resume: the checkpoint's
    if s["no_gan"] and s["lambda_l1"] == 0:
        raise LessonError("--no-gan with --lambda-l1 0 leaves the generator no loss to learn from; drop one of them")
    train_pairs, val_pairs, val_from = split_pairs(args.data)
    train_pairs, val_pairs = train_pairs[:s["max_images"]], val_pairs[:s["val_images"]]
    if not train_pairs or not val_pairs:
        raise LessonError(f"{shown(args.data)} needs at least one training and one validation pair; {NO_DATA_HINT}")
    workers = args.workers if args.workers is not None else (0 if device.type == "cpu" else 4)
    train_data, val_data = PairedSketchDataset(train_pairs, s["image_size"]), PairedSketchDataset(val_pairs, s["image_size"])
    sampler = distributed.ShardedEpochSampler(len(train_data), s["seed"], world)  # one process: all the pairs
    loader, val_loader = make_loaders(train_data, val_data, sampler, s["batch_size"], workers, s["seed"], device)
    preview_A, preview_B = map(torch.stack, zip(*(val_data[i] for i in range(min(PREVIEW_IMAGES, len(val_data))))))

    # Speed, in plain view: built once here from the device (--fp32: the official way).
    step_speed = StepSpeed.choose(device, args.fp32)
    dtype, memory_format, adam = step_speed.dtype, step_speed.memory_format, step_speed.adam_options
    if not args.fp32:
        say(*speed.tune_process(device), sep="\n")  # process-wide: allocator on CPUs, cuDNN autotuner and TF32 on GPUs

    model_args = dict(in_channels=3, out_channels=3, ngf=s["ngf"])
    net_G, eval_G = build_generator(model_args), build_generator(model_args, PerImageBatchNorm2d).to(device)
    net_D = judge_D = None  # --no-gan: no discriminator at all
    if not s["no_gan"]:  # judge_D: D's twin that draws the PatchGAN maps, so net_D's BatchNorm averages stay put
        net_D, judge_D = PatchGANDiscriminator(6, s["ndf"]), PatchGANDiscriminator(6, s["ndf"]).to(device)
    nets = [net for net in (net_G, net_D) if net is not None]
    torch.manual_seed(s["seed"]), random.seed(s["seed"]), np.random.seed(s["seed"])
    for net in nets:  # after the seed: the same --seed gives the same start
        init_weights(net).to(device, memory_format=memory_format).train()
    if world.rank:  # the same start everywhere, but each rank its own dropout masks
        torch.manual_seed(derived_seed(s["seed"], world.rank))
    # What trains: DDP around each net under torchrun (a no-op with one process), compiled on request.
    # net_G and net_D stay the plain modules whose state_dicts the checkpoints hold.
    train_G, train_D = (distributed.wrap(net, world, device, sync_bn=not args.no_sync_bn) for net in (net_G, net_D))
    if args.compile:
        train_G, train_D = (torch.compile(net) if net else None for net in (train_G, train_D))
    opt_G, opt_D = (torch.optim.Adam(net.parameters(), lr=s["lr"], betas=(s["beta1"], 0.999), **adam) if net else None
                    for net in (net_G, net_D))
    history, done = [], 0  # done: the last epoch whose checkpoint is on disk
    if ckpt is not None:
        for target, key in ((net_G, "net_G"), (net_D, "net_D"), (opt_G, "opt_G"), (opt_D, "opt_D")):
            if target is not None:  # --no-gan: no D to restore
                target.load_state_dict(ckpt[key])
        history, done = ckpt["history"], ckpt["epoch"]
        rngs = ckpt.get("rng_ranks") or [ckpt["rng"]]  # one state per rank of the run that saved it
        set_rng_states(rngs[world.rank] if len(rngs) == world.size else ckpt["rng"])

    describe_run(say, s, args, world, device, train_data, val_data, val_from, loader, workers, dtype,
                 nets=(net_G, net_D), done=done)
    milestones, first_epoch = milestone_epochs(s["epochs"]), done + 1

    try:
        if not history and world.main:  # row 0: the untrained generator, the baseline the lesson compares against
            history.append(dict(epoch=0, **validate(refresh_twin(eval_G, net_G), val_loader, device)))
            say(f"epoch 0 (untrained G): val L1 {history[0]['val_L1']:.4f}", flush=True)
        for epoch in range(first_epoch, s["epochs"] + 1):
            started, sums = time.perf_counter(), {}
            sampler.set_epoch(epoch)
            for real_A, real_B in tqdm(loader, desc=f"epoch {epoch}/{s['epochs']}", leave=False, disable=not world.main):
                real_A, real_B = (x.to(device, memory_format=memory_format, non_blocking=True) for x in (real_A, real_B))
                losses = train_step(train_G, train_D, opt_G, opt_D, real_A, real_B, s["lambda_l1"], step_speed)
                losses = distributed.mean_over_ranks(losses, world, device)  # so every rank sees a NaN together
                check_finite(losses, epoch, ckpt_path)
                sums = {k: sums.get(k, 0.0) + v for k, v in losses.items()}
            rngs = distributed.gather(rng_states(), world)  # every rank's, for an exact --resume
            if not world.main:
                done = epoch
                continue
            row = dict(epoch=epoch, **{k: v / len(loader) for k, v in sums.items()})
            row.update(validate(refresh_twin(eval_G, net_G), val_loader, device), seconds=round(time.perf_counter() - started, 2))
            history.append(row)
            say(epoch_line(row, s["epochs"], s["lambda_l1"]), flush=True)
            if epoch in milestones:
                with torch.inference_mode():
                    fake = eval_G(preview_A.to(device)).cpu()
                save_grid(out_dir / f"exercise3_epoch_{epoch}.png", [list(preview_A), list(fake), list(preview_B)],
                          ["sketch (input)", "generated", "target"], col_titles=[f"val {i + 1}" for i in range(len(fake))],
                          title=f"Epoch {epoch}/{s['epochs']}: validation L1 {row['val_L1']:.3f}")
                if net_D is not None:  # the same images through D's eyes: one verdict per 70x70 patch (§3.2.2)
                    save_patchgan_maps(out_dir / f"exercise3_patchgan_{epoch}.png", net_D, judge_D, preview_A,
                                       preview_B, fake, title=f"Epoch {epoch}/{s['epochs']}: D's verdict per 70x70 patch (1 = real)")
            write_csv(history, out_dir / "metrics.csv")
            save_progress_plot(history, out_dir / "exercise3_training_progress.png")
            d_state = {} if net_D is None else dict(net_D=net_D.state_dict(), opt_D=opt_D.state_dict())
            save_checkpoint(ckpt_path, epoch=epoch, settings=s, model_args=model_args, net_G=net_G.state_dict(),
                            opt_G=opt_G.state_dict(), history=history, rng=rngs[0], rng_ranks=rngs, **d_state)
            done = epoch
    except KeyboardInterrupt:  # Ctrl+C: keep what this run learnt, exit without a traceback
        if done < first_epoch:  # not one epoch finished: nothing of this run is worth a file
            say(f"\nInterrupted before epoch {first_epoch} ended; nothing was saved and the files in "
                f"{shown(out_dir)} are as they were.", flush=True)
        elif world.main:
            save_generator(net_G, model_args, s["image_size"], done, out_dir / WEIGHTS)
            again = "" if out_dir == Path(".") else f" --output-dir {shown(out_dir)}"  # the command that resumes it
            say(f"\nInterrupted: saved the current generator to {shown(out_dir / WEIGHTS)}; "
                f"`python exercise3_train.py --resume{again}` continues after epoch {done}.", flush=True)
        raise SystemExit(130) from None
    except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
        explain_out_of_memory(exc, device, s["batch_size"])  # out of memory: one sentence with a smaller batch
        raise  # anything else: the real traceback
    if world.distributed:  # DDP's promise, checked: every rank took the same steps
        say(f"ranks agree on the weights: {distributed.parameters_agree(nets, world)}")
    if world.main:
        save_generator(net_G, model_args, s["image_size"], done, out_dir / WEIGHTS)
    say(f"Done: {shown(out_dir / WEIGHTS)}, {shown(out_dir / 'metrics.csv')}, "
        f"{shown(out_dir / 'exercise3_training_progress.png')}")
    distributed.finish(world, completed=True)


if __name__ == "__main__":
    main()
