"""One run of exercise3_train.py: its folder, its settings, and what it prints.

RunFolder        --output-dir, one run at a time: checks, a lock, --resume, Ctrl+C and SIGTERM
EpochFiles       all of an epoch's files, written together: previews, maps, metrics, checkpoint
resume_settings  the run's settings: your flags, or the checkpoint's on --resume
seed_everything  torch, random and numpy seeded from --seed (and a stream: a process, say)
describe_run, epoch_line, say   what the run prints (say: on the first process only)
"""

import os
import random
import signal
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist

from helpers.checkpoints import load_checkpoint, save_checkpoint, save_generator
from helpers.lesson import LessonError, shown
from helpers.lesson import check_writable_folder, new_file_mode, write_csv
from pix2pix_models import count_parameters
from speed.precision import busy_note
from training.data import derived_seed
from training.figures import save_patchgan_maps, save_previews, save_progress_plot
from training.state import hold_lock, interrupt, is_disk_full, rng_states, set_rng_states
from training.state import signals_held, weights_digest

CHECKPOINT, WEIGHTS, METRICS = "exercise3_checkpoint.pth", "generator_weights.pth", "metrics.csv"
PROGRESS, LOCK = "exercise3_training_progress.png", ".exercise3.lock"
# What a checkpoint keeps of the settings: --resume takes them, and refuses a flag that changes one,
# but for --epochs and --epochs-decay (train on).
SETTINGS = "epochs epochs_decay batch_size lr beta1 lambda_l1 no_gan ngf ndf image_size".split()
SETTINGS += ["seed", "max_images", "val_images"]
# A setting newer than a checkpoint: what runs trained with before it existed.
OLDER_RUNS = dict(epochs_decay=0, no_gan=False)


class RunFolder:
    """--output-dir for one run at a time. Used as `with RunFolder(...) as folder:`, it refuses a
    folder it cannot write into or that holds another run (unless --resume or --restart), locks it
    while the run trains, and turns Ctrl+C and SIGTERM into one sentence saying what was kept."""

    def __init__(self, path, resume=False, restart=False, main=True):
        self.path, self.resume, self.restart, self.main = path, resume, restart, main
        self.checkpoint = path / CHECKPOINT
        self.saved, self.lock = None, None  # saved: the last epoch whose files are all on disk

    def __enter__(self):
        if self.resume and self.restart:
            raise LessonError(
                "--resume goes on with the run in the folder, --restart replaces it; choose one"
            )
        if self.main:
            problem = check_writable_folder(self.path)
            if problem:
                raise LessonError(
                    f"cannot write into --output-dir {shown(self.path)} ({problem}); "
                    "choose another --output-dir"
                )
            self.lock = hold_lock(self.path / LOCK)  # before the checks: two runs may start at once
        try:
            self.check_contents()
        except BaseException:
            self.release()
            raise
        self.on_sigterm = signal.signal(signal.SIGTERM, interrupt)  # a closed lid, a time limit
        return self

    def check_contents(self):
        earlier = [name for name in (CHECKPOINT, WEIGHTS) if (self.path / name).exists()]
        if earlier and not (self.resume or self.restart):
            raise LessonError(
                f"{shown(self.path)} already holds a run ({', '.join(earlier)}); add "
                "--resume to continue it, choose a new --output-dir, or add "
                "--restart to train afresh and replace it"
            )
        if self.resume and not self.checkpoint.exists():
            raise LessonError(
                f"--resume: {shown(self.path)} holds no {CHECKPOINT} to go on "
                "from; train without --resume"
            )
        if self.main:
            for leftover in self.path.glob(".*.part"):  # what a killed run was writing
                leftover.unlink(missing_ok=True)

    def release(self):
        if self.lock is not None:
            os.unlink(self.path / LOCK)
            os.close(self.lock)
            self.lock = None

    def __exit__(self, kind, exc, traceback):
        signal.signal(signal.SIGTERM, self.on_sigterm)
        self.release()
        if kind is KeyboardInterrupt and self.main:
            print(f"\n{self.interrupted()}", flush=True)
            raise SystemExit(130) from None

    def interrupted(self):
        if self.saved is None:
            return (
                f"Interrupted before an epoch ended; nothing was saved and the files in "
                f"{shown(self.path)} are as they were."
            )
        again = "" if str(self.path) == "." else f" --output-dir {shown(self.path)}"
        return (
            f"Interrupted: {shown(self.path)} holds epoch {self.saved} ({WEIGHTS}, {METRICS}, "
            f"{CHECKPOINT}); `python exercise3_train.py --resume{again}` goes on."
        )

    def read_checkpoint(self):
        return load_checkpoint(self.checkpoint) if self.resume else None

    def restore(self, checkpoint, nets, optimizers):
        """On --resume: nets, optimizers and this process's random numbers as the checkpoint left
        them; returns the history so far ([] for a new run)."""
        if checkpoint is None:
            return []
        for kind, net, opt in zip("GD", nets, optimizers, strict=False):  # --no-gan: G alone
            net.load_state_dict(checkpoint[f"net_{kind}"])
            opt.load_state_dict(checkpoint[f"opt_{kind}"])
        rank, ranks = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        rngs = checkpoint["rng_ranks"]  # one state per process of the run that saved it
        set_rng_states(rngs[rank] if len(rngs) == ranks else rngs[0])
        self.saved = checkpoint["epoch"]
        return checkpoint["history"]

    @contextmanager
    def epoch_files(self, epoch, epochs):
        """Stage the epoch's files under hidden names and, once all are written, rename them into
        place (Ctrl+C and SIGTERM wait for the renames). A failure leaves the folder as it was."""
        files = EpochFiles(self, epoch, epochs)
        try:
            yield files
            with signals_held():
                for name, tmp in files.staged.items():
                    os.chmod(tmp, new_file_mode())  # the user's usual permissions, not 0600
                    os.replace(tmp, self.path / name)
                if self.restart and self.saved is None:  # the replaced run's other figures go too
                    for old in set(self.path.glob("exercise3_*_*.png")) - set(files.done()):
                        old.unlink()
        except (OSError, RuntimeError) as exc:
            if not is_disk_full(exc):
                raise
            kept = "the folder is as it was; free some space first"
            if self.saved:
                kept = f"the files of epoch {self.saved} are kept; free some space, then --resume"
            reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
            raise LessonError(
                f"could not write epoch {epoch}'s files into {shown(self.path)} "
                f"({reason}): is the disk full? {kept}"
            ) from None
        finally:  # what an interrupted or failed write left (the lock makes every .part ours)
            for tmp in self.path.glob(".*.part") if self.main else ():
                tmp.unlink(missing_ok=True)
        self.saved = epoch

    def finish(self, nets):
        if dist.is_initialized():  # DDP's promise, checked: every process took the same steps
            digests = [None] * dist.get_world_size()
            dist.all_gather_object(digests, weights_digest(nets))
            say(f"processes agree on the weights: {len(set(digests)) == 1}")
            dist.barrier()  # rank 0 may still be writing
        say(f"Done: {', '.join(shown(self.path / name) for name in (WEIGHTS, METRICS, PROGRESS))}")


class EpochFiles:
    """The files of one epoch, staged by RunFolder.epoch_files. The first process alone writes; the
    others of a torchrun only take part in gathering the random-number states."""

    def __init__(self, folder, epoch, epochs):
        self.folder, self.epoch, self.epochs, self.staged = folder, epoch, epochs, {}

    def stage(self, name):
        self.staged[name] = self.folder.path / f".{name}.part"
        return self.staged[name]

    def done(self):
        return [self.folder.path / name for name in self.staged]

    def previews(self, real_A, fake_B, real_B, val_L1):
        if self.folder.main:
            path = self.stage(f"exercise3_epoch_{self.epoch}.png")
            title = f"Epoch {self.epoch}/{self.epochs}: validation L1 {val_L1:.3f}"
            save_previews(path, title, real_A, fake_B, real_B)

    def patchgan_maps(self, net_D, real_A, real_B, fake_B):
        if self.folder.main and net_D is not None:  # --no-gan: no D, no maps
            path = self.stage(f"exercise3_patchgan_{self.epoch}.png")
            title = f"Epoch {self.epoch}/{self.epochs}: D's verdict per 70x70 patch (1 = real)"
            save_patchgan_maps(path, title, net_D, real_A, real_B, fake_B)

    def metrics(self, history):
        if self.folder.main:
            write_csv(history, self.stage(METRICS))

    def progress_plot(self, history):
        if self.folder.main:
            save_progress_plot(self.stage(PROGRESS), history)

    def checkpoint(self, args, model_args, nets, optimizers, history):
        """exercise3_checkpoint.pth, and generator_weights.pth from the same epoch."""
        rngs = [rng_states()]  # every process's, for an exact --resume
        if dist.is_initialized():
            rngs = [None] * dist.get_world_size()
            dist.all_gather_object(rngs, rng_states())
        if self.folder.main:
            settings = {key: getattr(args, key) for key in SETTINGS}
            save_checkpoint(
                self.stage(CHECKPOINT),
                self.epoch,
                settings,
                model_args,
                nets,
                optimizers,
                history,
                rngs,
            )
            save_generator(self.stage(WEIGHTS), nets[0], model_args, args.image_size, self.epoch)


def resume_settings(args, checkpoint):
    """`args` with the run's settings: as given (or defaulted) for a new run; on --resume the
    checkpoint's, where only --epochs and --epochs-decay may differ from what it trained with."""
    if checkpoint is not None:
        saved = {**OLDER_RUNS, **checkpoint["settings"]}
        for key in sorted(args.typed & set(SETTINGS) - {"epochs", "epochs_decay"}):
            if getattr(args, key) != saved[key]:
                raise LessonError(
                    f"the checkpoint in {shown(args.output_dir)} was trained "
                    f"{trained_with(key, saved[key], getattr(args, key))}; drop "
                    f"{flag(key)} to resume, or train afresh with --restart"
                )
        for key in set(SETTINGS) - (args.typed & {"epochs", "epochs_decay"}):
            setattr(args, key, saved[key])
    if args.epochs_decay is None:
        args.epochs_decay = args.epochs // 2  # the official schedule: half constant, half decaying
    if args.epochs_decay > args.epochs:
        raise LessonError(
            f"--epochs-decay {args.epochs_decay} is more than --epochs "
            f"{args.epochs}; the decay is the last part of the run"
        )
    if args.no_gan and args.lambda_l1 == 0:
        raise LessonError(
            "--no-gan with --lambda-l1 0 leaves the generator no loss to learn "
            "from; drop one of them"
        )
    return args


def flag(key):
    return f"--{key.replace('_', '-')}"


def trained_with(key, saved, given):
    if isinstance(saved, bool):
        return f"{'with' if saved else 'without'} {flag(key)}"
    return f"with {flag(key)} {saved}, not {given}"


def seed_everything(seed, stream=0):
    """Seed torch, random and numpy from (--seed, stream): stream 0 for the run's start, a process's
    rank for its own dropout masks under torchrun."""
    seed = derived_seed(seed, stream)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy takes 32-bit seeds


def say(text):
    """Print on the first process only (the one process of a plain run)."""
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(text, flush=True)


def objective(args):
    """The loss G trains on, in words (the paper's ablation, §4.2 and Fig. 4, names the three)."""
    if args.no_gan:
        return f"L1 alone ({args.lambda_l1:g} x L1; --no-gan: no D)"
    if args.lambda_l1 == 0:
        return "GAN alone (--lambda-l1 0)"
    return f"GAN + {args.lambda_l1:g} x L1 (§3.1, Eq. 4)"


def describe_run(args, device, speed, loader, val_loader, nets, done):
    """Print what this run is: device, data, settings, objective, precision, the networks' sizes."""
    val_from = "val/" if (args.data / "val").is_dir() else "held out of train/"
    net_D = f"PatchGAN, ndf {args.ndf}, {count_parameters(nets[-1]):,} parameters"
    lines = [
        "Exercise 3: pix2pix, sketch -> colour",
        f"  device: {device}   precision: {speed}   outputs: {shown(args.output_dir)}",
        f"  data: {shown(args.data)}: {len(loader.dataset)} training pairs, "
        f"{len(val_loader.dataset)} validation pairs ({val_from})",
        f"  epochs: {args.epochs} (the last {args.epochs_decay} with a falling learning rate)   "
        f"batch size: {args.batch_size}   batches per epoch: {len(loader)}   seed: {args.seed}",
        f"  lr: {args.lr}   beta1: {args.beta1}   lambda_L1: {args.lambda_l1}   "
        f"objective: {objective(args)}",
        f"  net_G: U-Net, ngf {args.ngf}, {count_parameters(nets[0]):,} parameters   "
        f"net_D: {'none (--no-gan)' if args.no_gan else net_D}",
    ]
    if dist.is_initialized():
        processes = dist.get_world_size()
        norm = "the global batch" if device.type == "cuda" and not args.no_sync_bn else "a process"
        ddp = f"  DistributedDataParallel: {processes} processes, global batch "
        lines.insert(1, f"{ddp}{processes * args.batch_size}, BatchNorm statistics of {norm}")
    if device.type == "cpu" and (note := busy_note()):
        lines.append(f"  {note}")
    if done is not None and done >= args.epochs:
        lines.append(f"The checkpoint is at epoch {done} already; pass a larger --epochs to go on.")
    say("\n".join(lines))


def epoch_line(row, args):
    """An epoch in a line: G's loss parts, D's parts and mean verdicts (with a D), validation."""
    if row["epoch"] == 0:
        return f"epoch 0 (untrained G): val L1 {row['val_L1']:.4f}"
    g = f"GAN {row['G_GAN']:.3f} + " if "G_GAN" in row else ""  # --no-gan: L1 is G's whole loss
    d = ""
    if "D_real" in row:
        d = (
            f"  D: real {row['D_real']:.3f} fake {row['D_fake']:.3f}  "
            f"D(real) {row['D_of_real']:.2f} D(fake) {row['D_of_fake']:.2f}"
        )
    ssim = "" if row["val_SSIM"] is None else f" SSIM {row['val_SSIM']:.3f}"  # at milestones
    return (
        f"epoch {row['epoch']}/{args.epochs}  G: {g}{args.lambda_l1:g} x L1 {row['G_L1']:.4f}{d}"
        f"  val L1 {row['val_L1']:.4f} PSNR {row['val_PSNR']:.2f}{ssim}  {row['seconds']:.0f}s"
    )
