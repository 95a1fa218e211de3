"""Weights files: reading any .pth safely, and the two formats exercise3_train.py writes.

    read_weights(path, what, fix)      torch.load(weights_only=True), one sentence for every failure
    save_generator / load_generator    generator_weights.pth: a trained G and what rebuilds it
    save_checkpoint / load_checkpoint  exercise3_checkpoint.pth: all that --resume needs

Each format is written and validated here, in one place: a reader refuses what a writer never made.
"""

import torch

from helpers.lesson import LessonError, read_weights, shown
from pix2pix_models import generator_at_test_time

FORMAT_VERSION = 1  # of the two files below; a reader refuses another version rather than guess
D_KEYS = ("net_D", "opt_D")  # in every checkpoint but those of --no-gan runs, which have no D
CHECKPOINT_KEYS = ("epoch", "settings", "model_args", "net_G", "opt_G", "history", "rng_ranks")


def is_exercise3_file(obj):
    """True for the dicts exercise3_train.py writes (generator_weights.pth and the checkpoint)."""
    return (
        isinstance(obj, dict)
        and "format_version" in obj
        and ("state_dict" in obj or "net_G" in obj)
    )


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


def load_generator(path):
    """(net_G, image_size) from a generator_weights.pth: the U-Net it describes, with the paper's
    test-time normalisation (each image's own statistics, §3.3), dropout off."""
    fix = "train one with `python exercise3_train.py`, or pass its generator_weights.pth"
    saved = read_weights(path, "generator weights", fix)
    if not (is_exercise3_file(saved) and "state_dict" in saved):
        hint = ""
        if is_exercise3_file(saved):
            hint = " (that is the checkpoint; pass generator_weights.pth from the same folder)"
        raise LessonError(
            f"{shown(path)} is not a generator_weights.pth written by exercise3_train.py"
            f"{hint}; pass that file with --weights."
        )
    try:
        return generator_at_test_time(saved["model_args"], saved["state_dict"]), int(
            saved["image_size"]
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise LessonError(
            f"{shown(path)} does not fit the generator it describes "
            f"({type(exc).__name__}); train again or pass another --weights."
        ) from None


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
