"""Exercise 3: train pix2pix to colour anime line sketches (real_A = sketch, real_B = colour image).

    python preprocess_anime_sketches.py --demo 200   # or the Kaggle pairs: see the lesson
    python exercise3_train.py                        # the lesson's run: 100 epochs, batch 4, 256 px
    python exercise3_train.py --quick                # a small preset, about 10 minutes on a 2-core CPU
    python exercise3_train.py --resume               # go on after Ctrl+C or a crash
    python exercise3_train.py --sketch my_sketch.png # colour your own sketch with generator_weights.pth
    torchrun --standalone --nproc_per_node=2 exercise3_train.py  # 2 GPUs; --batch-size is per GPU

Reads --data/{train,val}/{sketches,colors}/NAME.png (with no val/, a fixed 5% of train is held out).
Writes into --output-dir: exercise3_epoch_{E}.png (fixed validation sketches | generated | target at
10/25/50/75/100% of the epochs), exercise3_training_progress.png (losses and validation L1),
metrics.csv (one row per epoch; row 0 is the untrained G), exercise3_checkpoint.pth (all --resume
needs, after every epoch) and generator_weights.pth (at the end and on Ctrl+C).
"""

import argparse
import csv
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from tqdm import tqdm

import distributed
from anime_pairs import NO_DATA_HINT, PairedSketchDataset, split_pairs
from fast_paths import (activate, add_fast_path_arguments, dataloader_options, fast_path_from_args, make_grad_scaler,
                        maybe_compile, prepare_for_training, prepare_input, train_autocast)
from lesson_utils import (DEVICE_CHOICES, LessonError, atomic_path, choose_device, fail, image_to_tensor,
                          save_image_atomic, save_labelled_grid, tensor_to_image)
from pix2pix_models import (PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator, count_parameters,
                            init_weights)

HERE = Path(__file__).resolve().parent
LR = 2e-4  # §3.3: Adam, learning rate 0.0002
BETA1 = 0.5  # §3.3: momentum 0.5 instead of Adam's 0.9, which makes GAN training oscillate
LAMBDA_L1 = 100  # §4.2: L1 weighted 100x against the GAN term
PREVIEW_IMAGES = 4  # validation sketches shown in every exercise3_epoch_{E}.png
MILESTONES = (0.10, 0.25, 0.50, 0.75, 1.00)  # fractions of the epochs that get a preview grid
FORMAT_VERSION = 1
CHECKPOINT, WEIGHTS = "exercise3_checkpoint.pth", "generator_weights.pth"

# The lesson's run, and what --quick changes. A step costs 87 GFLOP per image at ngf = ndf = 64 and
# 5.8 at 16 (work grows with width squared; D costs as much as G, so both shrink). Image size cannot
# shrink: the U-Net halves it 8 times to 1x1, so 128 px fails. In plain fp32 on a quiet 2-core CPU, an epoch
# of the demo set (180 training pairs) took ~20 s; after 20, validation L1 was a fifth of the untrained G's.
DEFAULTS = dict(epochs=100, batch_size=4, lr=LR, beta1=BETA1, lambda_l1=LAMBDA_L1, ngf=64, ndf=64,
                image_size=256, max_images=None, val_images=100, seed=0)
QUICK = dict(epochs=20, ngf=16, ndf=16, max_images=200)
RUN_SETTINGS = tuple(DEFAULTS)  # what a checkpoint fixes; --epochs alone may change on --resume


def train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, lambda_L1, fast, scaler):
    """One pix2pix update, D then G (§3.3). Returns the loss parts and D's mean probabilities.
    Forward passes and losses run under the fast path's autocast; `scaler` scales fp16 losses (else a no-op)."""
    with train_autocast(fast):
        fake_B = net_G(real_A)
    net_D.requires_grad_(True)
    opt_D.zero_grad(set_to_none=True)
    with train_autocast(fast):
        pred_real = net_D(real_A, real_B)  # (N, 1, 30, 30) logits, one per 70x70 patch
        pred_fake = net_D(real_A, fake_B.detach())  # detach: D's loss must not train G
        loss_D_real = F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
        loss_D_fake = F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
    scaler.scale(0.5 * (loss_D_real + loss_D_fake)).backward()  # §3.3: halved, so D learns slower than G
    scaler.step(opt_D)

    net_D.requires_grad_(False)  # G's loss needs gradients through D, not for D's weights
    opt_G.zero_grad(set_to_none=True)
    with train_autocast(fast):
        pred = net_D(real_A, fake_B)
        loss_G_GAN = F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))  # "D, call this real"
        loss_G_L1 = F.l1_loss(fake_B, real_B)
    scaler.scale(loss_G_GAN + lambda_L1 * loss_G_L1).backward()
    scaler.step(opt_G)
    scaler.update()  # once per iteration, after both optimizers stepped
    parts = dict(G_GAN=loss_G_GAN, G_L1=loss_G_L1, D_real=loss_D_real, D_fake=loss_D_fake,
                 D_of_real=torch.sigmoid(pred_real).mean(), D_of_fake=torch.sigmoid(pred_fake).mean())
    return {k: v.item() for k, v in parts.items()}


def check_finite(losses, epoch, checkpoint):
    """Stop on a NaN/inf loss before anything is saved, so the last good checkpoint stays as it was."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise LessonError(f"the {bad[0]} loss became {losses[bad[0]]} in epoch {epoch}: training diverged; "
                          f"{checkpoint} still holds the last good epoch; restart with a smaller --lr")


def build_generator(model_args, norm_layer=nn.BatchNorm2d):
    return UNetGenerator(model_args["in_channels"], model_args["out_channels"], model_args["ngf"], norm_layer)


def refresh_twin(eval_G, net_G):
    """Copy net_G's weights into eval_G, which previews and validation use: the paper's test protocol.

    The paper tests with BatchNorm in training mode, i.e. each image normalised by its own
    statistics at batch size 1. Running net_G itself in train mode would do that, but would also
    move its BatchNorm running averages: a side effect on the model being trained, and --resume
    would no longer repeat a run exactly. The twin is built with PerImageBatchNorm2d, which uses
    per-image statistics and never touches buffers; eval() turns dropout off so epochs compare.
    """
    eval_G.load_state_dict(net_G.state_dict())
    return eval_G.eval()


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


def milestone_epochs(epochs):
    return sorted({max(1, math.ceil(f * epochs)) for f in MILESTONES})


def save_generator(net_G, model_args, image_size, epoch, path):
    """generator_weights.pth: the state_dict plus what rebuilds the model, for load_generator()."""
    with atomic_path(path) as tmp:
        torch.save(dict(format_version=FORMAT_VERSION, model_args=model_args, image_size=image_size,
                        epoch=epoch, state_dict=net_G.state_dict()), tmp)


def load_generator(path=HERE / WEIGHTS, device="cpu"):
    """Rebuild a trained generator in one call, ready for colorize(): paper test protocol, dropout off."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)  # a .pth is a pickle: no code
        net_G = build_generator(saved["model_args"], PerImageBatchNorm2d)
        net_G.load_state_dict(saved["state_dict"])
    except FileNotFoundError:
        raise LessonError(f"no trained generator at {path}; train one with `python exercise3_train.py`") from None
    except Exception as exc:
        raise LessonError(f"{path} is not a generator_weights.pth written by exercise3_train.py "
                          f"({type(exc).__name__}: {exc})") from None
    net_G.image_size = saved.get("image_size", DEFAULTS["image_size"])
    return net_G.eval().to(device)


@torch.inference_mode()
def colorize(net_G, sketch):
    """A sketch (path or PIL image, any size) -> the generator's colour PIL image (image_size square).

    Like the training sketches it should be dark lines on white; a transparent background becomes white.
    """
    image = (Image.open(sketch) if isinstance(sketch, (str, Path)) else sketch).convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    image = image.resize((net_G.image_size,) * 2, Image.BICUBIC)
    device = next(net_G.parameters()).device
    return tensor_to_image(net_G(image_to_tensor(image)[None].to(device))[0])


def save_progress_plot(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [h for h in history if h["epoch"] > 0]
    x = [h["epoch"] for h in rows]
    fig, (ax_g, ax_d, ax_v) = plt.subplots(1, 3, figsize=(15, 4))
    ax_g.plot(x, [h["G_GAN"] for h in rows], label="G GAN part")
    ax_g.plot(x, [h["G_L1"] for h in rows], label="G L1 part (before x lambda)")
    ax_d.plot(x, [h["D_real"] for h in rows], label="D on real pairs")
    ax_d.plot(x, [h["D_fake"] for h in rows], label="D on generated pairs")
    for ax in (ax_g, ax_d):
        ax.axhline(math.log(2), color="grey", ls=":", label="log 2 = 0.69: D undecided")
    ax_v.plot([h["epoch"] for h in history], [h["val_L1"] for h in history], "o-", label="validation L1")
    for ax, title in ((ax_g, "Generator loss"), (ax_d, "Discriminator loss"), (ax_v, "Validation L1 (lower is better)")):
        ax.set(title=title, xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_metrics(history, path):
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[-1]))
        writer.writeheader()
        writer.writerows(history)


def load_checkpoint(path):
    if not path.is_file():
        raise LessonError(f"--resume found no {path}; train without --resume first (or check --output-dir)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {ckpt.get('format_version')!r}, expected {FORMAT_VERSION}")
        missing = {"epoch", "settings", "net_G", "net_D", "opt_G", "opt_D", "history", "rng"} - ckpt.keys()
        if missing:
            raise KeyError(f"no {sorted(missing)[0]!r}")
        return ckpt
    except Exception as exc:
        raise LessonError(f"{path} is damaged or not an Exercise 3 checkpoint ({type(exc).__name__}: {exc}); "
                          "delete it and train without --resume") from None


def rng_states():
    return dict(torch=torch.get_rng_state(), python=random.getstate(),
                numpy=torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
                numpy_pos=int(np.random.get_state()[2]),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])


def set_rng_states(states):
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    np.random.set_state(("MT19937", states["numpy"].numpy().astype(np.uint32), states["numpy_pos"], 0, 0.0))
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d, q = DEFAULTS, QUICK
    p.add_argument("--data", type=Path, default=Path("anime_processed"), help="preprocessed pairs (default: anime_processed/)")
    p.add_argument("--epochs", type=int, help=f"passes over the training pairs (default: {d['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"pairs per step; under torchrun per process, so the global "
                   f"batch is N times this (default: {d['batch_size']})")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default: {d['lr']})")
    p.add_argument("--beta1", type=float, help=f"Adam beta1 (default: {d['beta1']})")
    p.add_argument("--lambda-l1", type=float, help=f"weight of the L1 term (default: {d['lambda_l1']})")
    p.add_argument("--max-images", type=int, help="use only the first N training pairs (default: all)")
    p.add_argument("--val-images", type=int, help=f"validate on the first N val pairs (default: {d['val_images']})")
    p.add_argument("--ngf", type=int, help=f"G's width, 64 in the paper; smaller is faster (default: {d['ngf']})")
    p.add_argument("--ndf", type=int, help=f"D's width, 64 in the paper (default: {d['ndf']})")
    p.add_argument("--image-size", type=int, help=f"training size, a multiple of 256 (default: {d['image_size']})")
    p.add_argument("--seed", type=int, help=f"seed for weights, order, jitter and dropout (default: {d['seed']})")
    p.add_argument("--quick", action="store_true", help=(
        f"CPU preset, about 10 minutes on 2 cores with the demo set: --ngf {q['ngf']} --ndf {q['ndf']} "
        f"(15x less work per image), --max-images {q['max_images']} (the demo set), --epochs {q['epochs']}; "
        "256 px stays (the U-Net needs it). Flags you give still win."))
    p.add_argument("--output-dir", type=Path, default=HERE, help="where outputs go (default: this script's folder)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="auto = cuda, then mps, then cpu (default: auto)")
    p.add_argument("--workers", type=int, help="data-loading processes (default: 0 on CPU, 4 on a GPU)")
    p.add_argument("--resume", action="store_true", help=f"continue from --output-dir/{CHECKPOINT} with its settings")
    p.add_argument("--sketch", type=Path, help="colour this sketch with --weights and save NAME_colorized.png; no training")
    p.add_argument("--weights", type=Path, help=f"--sketch: generator to use (default: --output-dir/{WEIGHTS})")
    p.add_argument("--no-sync-bn", action="store_true", help="under torchrun on GPUs: BatchNorm on each process's "
                   "own batch instead of SyncBatchNorm over the global batch (default: SyncBatchNorm)")
    add_fast_path_arguments(p)
    return p.parse_args(argv)


def resolve_settings(args, ckpt):
    """Defaults < --quick < your flags; on --resume the checkpoint's settings, where only --epochs may change."""
    asked = {k: getattr(args, k) for k in RUN_SETTINGS if getattr(args, k) is not None}
    if ckpt is None:
        return {**DEFAULTS, **(QUICK if args.quick else {}), **asked}
    saved = ckpt["settings"]
    for key, value in {**(QUICK if args.quick else {}), **asked}.items():
        if key != "epochs" and value != saved[key]:
            raise LessonError(f"the checkpoint was trained with --{key.replace('_', '-')} {saved[key]}, "
                              f"not {value}; drop that flag to resume, or train afresh without --resume")
    return {**saved, "epochs": asked.get("epochs", saved["epochs"])}


def colorize_sketch(args):
    net_G = load_generator(args.weights or args.output_dir / WEIGHTS, choose_device(args.device))
    if not args.sketch.is_file():
        raise LessonError(f"no sketch at {args.sketch}")
    out = args.output_dir / f"{args.sketch.stem}_colorized.png"
    save_image_atomic(colorize(net_G, args.sketch), out)
    print(f"Coloured {args.sketch} -> {out}")


def main(argv=None):
    args = parse_args(argv)
    world = distributed.world_from_env()  # rank 0 of 1 unless started by torchrun
    try:
        if args.sketch:
            return colorize_sketch(args)
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
    fast = activate(fast_path_from_args(args, device))
    say = print if world.main else (lambda *a, **k: None)  # rank 0 alone talks and writes files
    ckpt_path = out_dir / CHECKPOINT
    ckpt = load_checkpoint(ckpt_path) if args.resume else None
    s = resolve_settings(args, ckpt)
    if s["image_size"] % 256:
        raise LessonError(f"--image-size {s['image_size']} must be a multiple of 256: the U-Net halves it 8 times")
    if not (args.data / "train").is_dir():
        raise LessonError(f"no training data in {args.data / 'train'}; {NO_DATA_HINT}")
    train_pairs, val_pairs, val_from = split_pairs(args.data)
    train_pairs, val_pairs = train_pairs[:s["max_images"]], val_pairs[:s["val_images"]]
    if not train_pairs or not val_pairs:
        raise LessonError(f"{args.data} needs at least one training and one validation pair; {NO_DATA_HINT}")
    workers = args.workers if args.workers is not None else (0 if device.type == "cpu" else 4)
    train_data = PairedSketchDataset(train_pairs, s["image_size"])
    val_data = PairedSketchDataset(val_pairs, s["image_size"])
    sampler = distributed.ShardedEpochSampler(len(train_data), s["seed"], world)  # one process: all the pairs
    # Own generators: a DataLoader otherwise draws its worker seed from the global RNG, which dropout uses.
    loader = DataLoader(train_data, batch_size=s["batch_size"], sampler=sampler, **dataloader_options(fast, workers),
                        generator=torch.Generator().manual_seed(s["seed"]))
    val_loader = DataLoader(val_data, batch_size=s["batch_size"], **dataloader_options(fast, workers),
                            generator=torch.Generator().manual_seed(s["seed"]))
    preview_A, preview_B = map(torch.stack, zip(*(val_data[i] for i in range(min(PREVIEW_IMAGES, len(val_data))))))

    model_args = dict(in_channels=3, out_channels=3, ngf=s["ngf"])
    net_G, eval_G = build_generator(model_args), build_generator(model_args, PerImageBatchNorm2d)
    net_D = PatchGANDiscriminator(in_channels=6, ndf=s["ndf"])
    torch.manual_seed(s["seed"]), random.seed(s["seed"]), np.random.seed(s["seed"])
    init_weights(net_G), init_weights(net_D)  # after the seed: the same --seed gives the same start
    if world.rank:  # the same start everywhere, but each rank its own dropout masks
        torch.manual_seed(s["seed"] * 1_000_003 + world.rank)
    net_G, net_D = prepare_for_training(net_G, fast).train(), prepare_for_training(net_D, fast).train()
    eval_G = eval_G.to(device)
    # What trains: DDP around each net under torchrun, compiled with --compile. net_G / net_D stay the plain
    # modules, whose state_dicts the checkpoints hold (no "module." or "_orig_mod." prefixes).
    sync_bn = not args.no_sync_bn
    train_G, train_D = (maybe_compile(distributed.wrap(net, world, device, sync_bn), fast) for net in (net_G, net_D))
    opt_G = torch.optim.Adam(net_G.parameters(), lr=s["lr"], betas=(s["beta1"], 0.999), **fast.adam_options)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=s["lr"], betas=(s["beta1"], 0.999), **fast.adam_options)
    scaler = make_grad_scaler(fast)  # loss scaling for fp16 on CUDA; passes straight through otherwise
    history, done = [], 0  # done: the last epoch whose checkpoint is on disk
    if ckpt is not None:
        for target, key in ((net_G, "net_G"), (net_D, "net_D"), (opt_G, "opt_G"), (opt_D, "opt_D")):
            target.load_state_dict(ckpt[key])
        history, done = ckpt["history"], ckpt["epoch"]
        rngs = ckpt.get("rng_ranks") or [ckpt["rng"]]  # one state per rank of the run that saved it
        set_rng_states(rngs[world.rank] if len(rngs) == world.size else ckpt["rng"])
    elif ckpt_path.exists():
        say(f"note: starting afresh; {ckpt_path} will be replaced (use --resume to continue it)")

    say("Exercise 3: pix2pix, sketch -> colour")
    if world.distributed:
        norm = "SyncBatchNorm over the global batch" if sync_bn and device.type == "cuda" else "each process's own batch"
        say(f"  DistributedDataParallel: {world.size} processes, global batch {world.size * s['batch_size']}, "
            f"BatchNorm statistics of {norm}")
    say(f"  device: {device}   data: {args.data} ({len(train_data)} training pairs, "
          f"{len(val_data)} validation pairs from {val_from})   outputs: {out_dir}")
    say(f"  epochs: {s['epochs']}   batch size: {s['batch_size']}   batches per epoch: {len(loader)}   "
        f"image size: {s['image_size']}   workers: {workers}   seed: {s['seed']}")
    say(f"  lr: {s['lr']}   beta1: {s['beta1']}   lambda_L1: {s['lambda_l1']}")
    say(f"  net_G: U-Net, ngf {s['ngf']}, {count_parameters(net_G):,} parameters   "
        f"net_D: PatchGAN, ndf {s['ndf']}, {count_parameters(net_D):,} parameters")
    say(fast.describe())
    if done >= s["epochs"]:
        say(f"The checkpoint is already at epoch {done}; pass a larger --epochs to train on.")
    milestones = milestone_epochs(s["epochs"])

    try:
        if not history and world.main:  # row 0: the untrained generator, the baseline the lesson compares against
            history.append(dict(epoch=0, **validate(refresh_twin(eval_G, net_G), val_loader, device)))
            say(f"epoch 0 (untrained G): val L1 {history[0]['val_L1']:.4f}", flush=True)
        for epoch in range(done + 1, s["epochs"] + 1):
            started, sums = time.perf_counter(), {}
            sampler.set_epoch(epoch)
            for real_A, real_B in tqdm(loader, desc=f"epoch {epoch}/{s['epochs']}", leave=False, disable=not world.main):
                real_A, real_B = (prepare_input(x, fast, training=True) for x in (real_A, real_B))
                losses = train_step(train_G, train_D, opt_G, opt_D, real_A, real_B, s["lambda_l1"], fast, scaler)
                losses = distributed.mean_over_ranks(losses, world, device)  # so every rank sees a NaN together
                check_finite(losses, epoch, ckpt_path)
                sums = {k: sums.get(k, 0.0) + v for k, v in losses.items()}
            rngs = distributed.gather(rng_states(), world)  # every rank's, for an exact --resume
            if not world.main:
                continue
            row = dict(epoch=epoch, **{k: v / len(loader) for k, v in sums.items()})
            row.update(validate(refresh_twin(eval_G, net_G), val_loader, device), seconds=round(time.perf_counter() - started, 2))
            history.append(row)
            say(f"epoch {epoch}/{s['epochs']}  G: GAN {row['G_GAN']:.3f} + {s['lambda_l1']:g} x L1 {row['G_L1']:.4f}"
                  f"  D: real {row['D_real']:.3f} fake {row['D_fake']:.3f}  D(real) {row['D_of_real']:.2f}"
                  f" D(fake) {row['D_of_fake']:.2f}  val L1 {row['val_L1']:.4f} PSNR {row['val_PSNR']:.2f}"
                  f" SSIM {row['val_SSIM']:.3f}  {row['seconds']:.0f}s", flush=True)
            if epoch in milestones:
                with torch.inference_mode():
                    fake = eval_G(preview_A.to(device)).cpu()
                save_labelled_grid(out_dir / f"exercise3_epoch_{epoch}.png",
                                   [list(t) for t in zip(preview_A, fake, preview_B)],
                                   [f"val {i + 1}" for i in range(len(fake))], col_titles=["sketch (input)", "generated", "target"],
                                   title=f"Epoch {epoch}/{s['epochs']}: validation L1 {row['val_L1']:.3f}")
            write_metrics(history, out_dir / "metrics.csv")
            save_progress_plot(history, out_dir / "exercise3_training_progress.png")
            with atomic_path(ckpt_path) as tmp:
                torch.save(dict(format_version=FORMAT_VERSION, epoch=epoch, settings=s, model_args=model_args,
                                net_G=net_G.state_dict(), net_D=net_D.state_dict(), opt_G=opt_G.state_dict(),
                                opt_D=opt_D.state_dict(), history=history, rng=rngs[0], rng_ranks=rngs), tmp)
            done = epoch
    except KeyboardInterrupt:  # Ctrl+C: keep what was learnt, exit without a traceback
        if world.main:
            save_generator(net_G, model_args, s["image_size"], done, out_dir / WEIGHTS)
        say(f"\nInterrupted: saved the current generator to {out_dir / WEIGHTS}; "
              f"`python exercise3_train.py --resume` continues after epoch {done}.", flush=True)
        raise SystemExit(130) from None
    except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
        if "out of memory" not in str(exc) and "can't allocate memory" not in str(exc):
            raise
        raise LessonError(f"{device} ran out of memory at --batch-size {s['batch_size']}; "
                          f"try --batch-size {max(1, s['batch_size'] // 2)} (or a smaller --ngf)") from None
    if world.distributed:  # DDP's promise, checked: every rank took the same steps
        say(f"ranks agree on the weights: {distributed.parameters_agree((net_G, net_D), world)}")
    if world.main:
        save_generator(net_G, model_args, s["image_size"], done, out_dir / WEIGHTS)
    say(f"Done: {out_dir / WEIGHTS}, {out_dir / 'metrics.csv'}, {out_dir / 'exercise3_training_progress.png'}")
    distributed.finish(world, completed=True)


if __name__ == "__main__":
    main()
