"""One run of exercise3_train.py: its folder (one run at a time, all of an epoch's files together,
Ctrl+C and SIGTERM), its two file formats, its settings on --resume, what it prints and draws."""

import copy
import csv
import hashlib
import math
import os
import signal
import sys
import time
from contextlib import contextmanager

import torch
import torch.distributed as dist
from filelock import FileLock, Timeout
from matplotlib.figure import Figure

from helpers.figures import Heat, save_figure, save_grid
from helpers.lesson import FULL_DISK, LessonError, check_writable_folder, read_weights, shown
from pix2pix_models import count_parameters
from training.recipe import LAMBDA_L1

CHECKPOINT, WEIGHTS, METRICS = "exercise3_checkpoint.pth", "generator_weights.pth", "metrics.csv"
PROGRESS, LOCK = "exercise3_training_progress.png", ".exercise3.lock"
FORMAT_VERSION = 1  # of both files; a reader refuses another version rather than guess
# What a checkpoint keeps for --resume; OLDER_RUNS: what runs made before a setting existed used
SETTINGS = "epochs epochs_decay batch_size lr beta1 lambda_l1 no_gan ngf ndf image_size".split()
SETTINGS += ["seed", "max_images", "val_images"]
OLDER_RUNS = dict(epochs_decay=0, no_gan=False)
SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl+C; a closed lid or a cluster's time limit


class RunFolder:
    """--output-dir, locked for one run; Ctrl+C and SIGTERM end it saying what the folder holds."""

    def __init__(self, path, restart=False, main=True):
        self.path, self.restart, self.main = path, restart, main
        self.saved, self.lock = None, None  # saved: the last epoch whose files are all on disk

    def __enter__(self):
        if self.main:  # the first process alone writes
            if problem := check_writable_folder(self.path):
                raise LessonError(f"cannot write into --output-dir {shown(self.path)} ({problem})")
            self.lock = FileLock(self.path / LOCK, timeout=0)  # flock: let go even after kill -9
            try:
                self.lock.acquire()
            except Timeout:
                holder = (self.path / LOCK).read_text(errors="replace").strip() or "starting"
                raise LessonError(
                    f"another run is training into {shown(self.path)} ({holder}); wait for it to "
                    "end, or choose another --output-dir"
                ) from None
            command = " ".join(["python", *sys.argv])[:300]
            (self.path / LOCK).write_text(f"pid {os.getpid()}, {time.strftime('%H:%M')}: {command}")
            for leftover in self.path.glob(".*.part"):  # what a killed run was writing
                leftover.unlink()
        # both as KeyboardInterrupt (what Python makes of Ctrl+C), the handlers before kept
        self.handlers = {sig: signal.signal(sig, signal.default_int_handler) for sig in SIGNALS}
        return self

    def __exit__(self, kind, exc, traceback):
        for sig, handler in self.handlers.items():
            signal.signal(sig, handler)
        if self.lock is not None:
            (self.path / LOCK).unlink()  # while still held: no run can lock a removed file
            self.lock.release()
        if kind is KeyboardInterrupt and self.main:
            where = shown(self.path)
            kept = f"{where} holds epoch {self.saved} ({WEIGHTS}, {METRICS}, {CHECKPOINT}); "
            kept += f"`python exercise3_train.py --resume --output-dir {where}` goes on"
            if self.saved is None:
                kept = f"nothing was saved and the files in {where} are as they were"
            print(f"\nInterrupted: {kept}.", flush=True)
            raise SystemExit(130) from None

    @contextmanager
    def epoch_files(self, epoch):
        """Yields stage(name), a hidden path for `name`; all are renamed into place together."""
        staged, caught = {}, []
        try:
            yield lambda name: staged.setdefault(name, self.path / f".{name}.part")
            for sig in SIGNALS:
                signal.signal(sig, lambda sig, frame: caught.append(sig))
            for name, tmp in staged.items():  # each made by open(): the user's usual permissions
                os.replace(tmp, self.path / name)
            if self.restart and self.saved is None:  # the replaced run's figures go too
                old = {p.name for p in self.path.glob("exercise3_*_*.png")} - staged.keys()
                for name in old:
                    (self.path / name).unlink()
        except (OSError, RuntimeError) as exc:
            # torch.save raises a RuntimeError while handling the OSError of the file it writes
            cause = exc if isinstance(exc, OSError) else exc.__context__
            if not (isinstance(cause, OSError) and cause.errno in FULL_DISK):
                raise
            kept = f"epoch {self.saved}'s files are kept; free some space, then --resume"
            kept = "the folder is as it was; free some space first" if not self.saved else kept
            where = f"epoch {epoch}'s files into {shown(self.path)} ({cause.strerror})"
            raise LessonError(f"could not write {where}: is the disk full? {kept}") from None
        finally:  # the signals as __enter__ set them; what an interrupted or failed write left
            for sig in SIGNALS:
                signal.signal(sig, signal.default_int_handler)
            for tmp in staged.values():  # (the lock makes every .part ours)
                tmp.unlink(missing_ok=True)
        if caught:
            raise KeyboardInterrupt

    def check_finite(self, losses, epoch, lambda_l1):
        """Stop on a NaN/inf loss before anything of this epoch is saved."""
        if bad := [key for key, value in losses.items() if not math.isfinite(value)]:
            kept = f"{CHECKPOINT} keeps epoch {self.saved}, the last good one"
            kept = "nothing was saved yet" if self.saved is None else kept
            fix = "a smaller --lambda-l1 or --lr" if lambda_l1 > LAMBDA_L1 else "a smaller --lr"
            what = f"the {bad[0]} loss became {losses[bad[0]]} in epoch {epoch}: training diverged"
            raise LessonError(f"{what}; {kept}; train afresh (--restart) with {fix}")

    def finish(self, nets):
        if dist.is_initialized():  # DDP's promise, checked: every process took the same steps
            weights = [p.detach().cpu().numpy().tobytes() for net in nets for p in net.parameters()]
            digests = [None] * dist.get_world_size()  # SHA-256: equal means bit for bit equal
            dist.all_gather_object(digests, hashlib.sha256(b"".join(weights)).hexdigest())
            print(f"processes agree on the weights: {len(set(digests)) == 1}")
        print("Done:", ", ".join(shown(self.path / name) for name in (WEIGHTS, METRICS, PROGRESS)))


def save_epoch(stage, args, model_args, nets, optimizers, history, rngs):
    """An epoch's metrics.csv, exercise3_checkpoint.pth (all --resume needs) and G's weights."""
    with stage(METRICS).open("w", newline="") as f:  # through the path: open() is torch.save's
        writer = csv.DictWriter(f, fieldnames=list(history[-1]))
        writer.writeheader()
        writer.writerows(history)
    epoch, settings = history[-1]["epoch"], {key: getattr(args, key) for key in SETTINGS}
    state = dict(epoch=epoch, settings=settings, model_args=model_args, history=history)
    for kind, net, opt in zip("GD", nets, optimizers, strict=False):  # --no-gan: G alone
        state[f"net_{kind}"], state[f"opt_{kind}"] = net.state_dict(), opt.state_dict()
    weights = dict(model_args=model_args, image_size=args.image_size, epoch=epoch)
    weights["state_dict"] = nets[0].state_dict()
    for name, fields in ((CHECKPOINT, dict(state, rng_ranks=rngs)), (WEIGHTS, weights)):
        with open(stage(name), "wb") as f:  # a file of ours: a full disk shows as its OSError
            torch.save(dict(format_version=FORMAT_VERSION, **fields), f)


def rng_states():
    """Every process's random-number states (dropout draws from them), for an exact --resume."""
    mine = dict(torch=torch.get_rng_state(), cuda=torch.cuda.get_rng_state_all())
    if not dist.is_initialized():
        return [mine]
    dist.all_gather_object(states := [None] * dist.get_world_size(), mine)
    return states


def restore(checkpoint, nets, optimizers, rank, ranks):
    """Nets, optimizers and this process's random numbers as the checkpoint left them; the history
    so far (none without a checkpoint)."""
    if checkpoint is None:
        return []
    for kind, net, opt in zip("GD", nets, optimizers, strict=False):
        net.load_state_dict(checkpoint[f"net_{kind}"])
        opt.load_state_dict(checkpoint[f"opt_{kind}"])
    rngs = checkpoint["rng_ranks"]  # one per process of the run that saved it
    rng = rngs[rank] if len(rngs) == ranks else rngs[0]
    torch.set_rng_state(rng["torch"])
    torch.cuda.set_rng_state_all(rng["cuda"])  # none on a CPU
    return checkpoint["history"]


def resume_settings(args):
    """--output-dir's checkpoint on --resume (else None), its settings put into `args`: a typed flag
    must agree, but for --epochs and --epochs-decay (train on)."""
    folder, checkpoint, saved = args.output_dir, None, {}
    earlier = [name for name in (CHECKPOINT, WEIGHTS) if (folder / name).exists()]
    if earlier and not (args.resume or args.restart):
        fix = "add --resume to go on, --restart to replace it, or choose another --output-dir"
        raise LessonError(f"{shown(folder)} already holds a run ({', '.join(earlier)}); {fix}")
    if args.resume:
        fix, path = "train afresh with --restart instead of --resume", folder / CHECKPOINT
        checkpoint = read_weights(path, "checkpoint", fix)
        if not isinstance(checkpoint, dict) or checkpoint.get("format_version") != FORMAT_VERSION:
            raise LessonError(f"{shown(path)} is not an Exercise 3 checkpoint, format 1; {fix}.")
        saved = {**OLDER_RUNS, **checkpoint["settings"]}
    for key in sorted(args.typed & saved.keys() & set(SETTINGS) - {"epochs", "epochs_decay"}):
        flag, value = f"--{key.replace('_', '-')}", getattr(args, key)
        was = f"{'with' if saved[key] else 'without'} {flag}"  # a switch, or a value:
        was = was if isinstance(value, bool) else f"with {flag} {saved[key]}, not {value}"
        if value != saved[key]:
            raise LessonError(f"the run was trained {was}; drop {flag}, or train afresh: --restart")
    for key in saved.keys() & set(SETTINGS) - (args.typed & {"epochs", "epochs_decay"}):
        setattr(args, key, saved[key])
    if args.epochs_decay is None:
        args.epochs_decay = args.epochs // 2  # the official schedule: half constant, half decaying
    if args.epochs_decay > args.epochs:
        raise LessonError(f"--epochs-decay {args.epochs_decay} is more than --epochs {args.epochs}")
    if args.no_gan and args.lambda_l1 == 0:
        raise LessonError("--no-gan with --lambda-l1 0 leaves G no loss to learn; drop one of them")
    return checkpoint


def describe_run(args, device, speed, loader, val_loader, nets, saved):
    """Print what this run is: device, data, settings, objective, precision, the networks' sizes."""
    objective = f"GAN + {args.lambda_l1:g} x L1 (§3.1, Eq. 4)"  # the three of §4.2 and Fig. 4
    if args.no_gan or args.lambda_l1 == 0:
        objective = "GAN alone" if args.lambda_l1 == 0 else f"L1 alone ({args.lambda_l1:g} x L1)"
    sizes = [f"{count_parameters(net):,} parameters" for net in nets]
    net_D = "none (--no-gan)" if args.no_gan else f"PatchGAN, ndf {args.ndf}, {sizes[-1]}"
    val = "val/" if (args.data / "val").is_dir() else "held out of train/"
    lines = [
        "Exercise 3: pix2pix, sketch -> colour",
        f"  device: {device}   precision: {speed}   outputs: {shown(args.output_dir)}",
        f"  data: {shown(args.data)}: {len(loader.dataset)} training pairs, "
        f"{len(val_loader.dataset)} validation pairs ({val})",
        f"  epochs: {args.epochs} (the last {args.epochs_decay} with a falling learning rate)   "
        f"batch size: {args.batch_size}   batches per epoch: {len(loader)}   seed: {args.seed}",
        f"  lr: {args.lr}   beta1: {args.beta1}   lambda_L1: {args.lambda_l1}   objective: "
        f"{objective}",
        f"  net_G: U-Net, ngf {args.ngf}, {sizes[0]}   net_D: {net_D}",
    ]
    if dist.is_initialized():
        n, sync = dist.get_world_size(), device.type == "cuda" and not args.no_sync_bn
        lines.append(
            f"  DistributedDataParallel: {n} processes, global batch {n * args.batch_size}, "
            f"BatchNorm statistics of {'the global batch' if sync else 'a process'}"
        )
    load, cores = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0, os.cpu_count() or 1
    if device.type == "cpu" and load > cores and "OMP_WAIT_POLICY" not in os.environ:
        note = f"  note: this machine is busy (load {load:.1f} on {cores} cores): start Python"
        lines.append(f"{note} with OMP_WAIT_POLICY=PASSIVE (threads spin for descheduled ones)")
    if saved is not None and saved >= args.epochs:
        lines.append(f"The checkpoint is at epoch {saved}: pass a larger --epochs to go on.")
    print("\n".join(lines), flush=True)


def epoch_line(row, args):
    """An epoch in a line: G's loss parts, D's parts and mean verdicts (with a D), validation."""
    if row["epoch"] == 0:
        return f"epoch 0 (untrained G): val L1 {row['val_L1']:.4f}"
    gan = f"GAN {row['G_GAN']:.3f} + " if "G_GAN" in row else ""  # --no-gan: L1 alone
    line = f"epoch {row['epoch']}/{args.epochs}  G: {gan}{args.lambda_l1:g} x L1 {row['G_L1']:.4f}"
    if "D_real" in row:
        line += f"  D: real {row['D_real']:.3f} fake {row['D_fake']:.3f}  "
        line += f"D(real) {row['D_of_real']:.2f} D(fake) {row['D_of_fake']:.2f}"
    line += f"  val L1 {row['val_L1']:.4f} PSNR {row['val_PSNR']:.2f}"
    line += "" if row["val_SSIM"] is None else f" SSIM {row['val_SSIM']:.3f}"  # at milestones
    return line + f"  {row['seconds']:.0f}s"


@torch.no_grad()
def save_figures(stage, history, epochs, net_D, real_A, fake_B, real_B):
    """A milestone's figures: previews and D's maps (a column per validation sketch), and the
    losses so far (a curve per column of metrics.csv; log 2 = 0.69: an undecided D)."""
    epoch, cols = history[-1]["epoch"], [f"val {i + 1}" for i in range(len(real_A))]
    title, rows = f"Epoch {epoch}/{epochs}", [list(real_A), list(fake_B), list(real_B)]
    kinds = ["sketch (input)", "generated", "target"]
    val_L1 = f"{title}: validation L1 {history[-1]['val_L1']:.3f}"
    save_grid(stage(f"exercise3_epoch_{epoch}.png"), rows, kinds, val_L1, cols)
    if net_D is not None:
        # A copy of D judges, in train mode as in a step (this batch's BatchNorm statistics): D's
        # running averages stay put and nothing random is drawn, so --resume stays exact.
        judge, rows, captions = copy.deepcopy(net_D).cpu(), [list(real_A)], [None]
        for images in (real_B, fake_B):  # real and generated pairs apart, as in a step
            verdicts = torch.sigmoid(judge(real_A, images).float())[:, 0]  # (N, 30, 30)
            pairs = zip(verdicts, images, strict=True)
            rows.append([Heat(v, 0, 1, "D: probability real", under=image) for v, image in pairs])
            captions.append([f"mean P(real) {v.mean():.2f}" for v in verdicts])
        kinds = ["sketch (input)", "D on the real pair", "D on the generated pair"]
        verdict = f"{title}: D's verdict per 70x70 patch (1 = real)"
        save_grid(stage(f"exercise3_patchgan_{epoch}.png"), rows, kinds, verdict, cols, captions)
    fig = Figure(figsize=(15, 4), layout="constrained")  # no pyplot: no window, any backend
    panels = {"G's loss": ("G_GAN", "G_L1"), "D's loss": ("D_real", "D_fake")}
    panels["validation L1 (lower is better)"] = ("val_L1",)
    for ax, (name, keys) in zip(fig.subplots(1, 3), panels.items(), strict=True):
        ax.set(title=name, xlabel="epoch")
        for key in keys:
            if rows := [h for h in history if key in h]:  # row 0: validation only
                ax.plot([h["epoch"] for h in rows], [h[key] for h in rows], ".-", label=key)
        if "D_real" in history[-1] and keys != ("val_L1",):
            ax.axhline(math.log(2), color="grey", ls=":", label="log 2 = 0.69: D undecided")
        if ax.lines:  # an empty legend is a warning
            ax.legend()
        else:
            ax.set_title("no discriminator (--no-gan: L1 alone)", color="grey")
    save_figure(fig, stage(PROGRESS))
