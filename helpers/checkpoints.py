"""Weights files: reading any .pth safely, and the two formats exercise3_train.py writes.

    read_weights(path, what, fix)      torch.load(weights_only=True), one sentence for every failure
    save_generator                     generator_weights.pth (open_generator in facades_generator)
    save_checkpoint / load_checkpoint  exercise3_checkpoint.pth: all that --resume needs

Each format is written and validated here, in one place: a reader refuses what a writer never made.
"""

import torch

from helpers.lesson import LessonError, read_weights, shown

FORMAT_VERSION = 1  # of the two files below; a reader refuses another version rather than guess
D_KEYS = ("net_D", "opt_D")  # in every checkpoint but those of --no-gan runs, which have no D
CHECKPOINT_KEYS = ("epoch", "settings", "model_args", "net_G", "opt_G", "history", "rng_ranks")


def save_generator(path, net_G, model_args, image_size, epoch):
    """generator_weights.pth: the state_dict and the constructor arguments that rebuild G."""
    torch.save(
        dict(
            format_version=FORMAT_VERSION,
            model_args=model_args,
            image_size=image_size,
            epoch=epoch,
            state_dict=net_G.state_dict(),
        ),
        path,
    )


def save_checkpoint(path, epoch, settings, model_args, nets, optimizers, history, rng_ranks):
    """exercise3_checkpoint.pth: the nets and optimizers (G first, then D unless --no-gan), the
    settings and the history so far, and every process's random-number states."""
    state = dict(
        format_version=FORMAT_VERSION,
        epoch=epoch,
        settings=settings,
        model_args=model_args,
        history=history,
        rng_ranks=rng_ranks,
    )
    for kind, net, opt in zip("GD", nets, optimizers, strict=False):  # --no-gan: G alone
        state[f"net_{kind}"], state[f"opt_{kind}"] = net.state_dict(), opt.state_dict()
    torch.save(state, path)


def load_checkpoint(path):
    """The dict save_checkpoint wrote, or a LessonError saying what is wrong with the file."""
    fix = "train afresh with --restart instead of --resume"
    ckpt = read_weights(path, "checkpoint", fix)
    if not isinstance(ckpt, dict) or ckpt.get("format_version") != FORMAT_VERSION:
        raise LessonError(
            f"{shown(path)} is not an Exercise 3 checkpoint of format {FORMAT_VERSION}; {fix}."
        )
    no_gan = isinstance(ckpt.get("settings"), dict) and ckpt["settings"].get("no_gan")
    missing = [key for key in CHECKPOINT_KEYS + ((), D_KEYS)[not no_gan] if key not in ckpt]
    if missing:
        raise LessonError(f"{shown(path)} is damaged (no {missing[0]!r}); {fix}.")
    return ckpt
