"""Weights files: loading any .pth safely with a clear error, and Exercise 3's own formats.

    read_weights(path, what, fix)      torch.load(weights_only=True) with one sentence for every failure
    save_generator / load_generator    generator_weights.pth: a trained G plus what rebuilds it
    save_checkpoint / load_checkpoint  exercise3_checkpoint.pth: all that --resume needs
    rng_states / set_rng_states        every random-number generator, for an exact --resume
"""

import pickle
import random
import zipfile

import numpy as np
import torch

from helpers.cli import LessonError, shown
from helpers.files import atomic_path
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator

FORMAT_VERSION = 1  # of the two files below; a reader refuses another version rather than guess
CHECKPOINT_KEYS = {"epoch", "settings", "net_G", "opt_G", "history", "rng"}
D_KEYS = {"net_D", "opt_D"}  # in every checkpoint but those of --no-gan runs, which have no D


def read_weights(path, what="weights file", fix="pass another file", subject=None):
    """torch.load(path, weights_only=True) on the CPU, or a LessonError naming the file, what is wrong and `fix`.

    The message reads "<what> <path> <problem>; <fix>.", or "<subject> <problem>; <fix>." if `subject` is given.

    weights_only: a .pth is a pickle, and a pickle can run any code when loaded; this refuses anything
    but tensors and plain containers. A pickle that names a function to call is reported as such;
    anything else that fails is a damaged or foreign file.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        problem = "does not exist"
    except IsADirectoryError:
        problem = "is a folder, not a file"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile,
            UnicodeDecodeError, AttributeError, KeyError, IndexError, TypeError) as exc:
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:  # the weights-only unpickler's refusal of code
            problem = "holds Python objects that could run code, so it was not loaded"
        elif isinstance(exc, EOFError) or not text:
            problem = "is empty or cut short"
        else:
            problem = "is not a PyTorch weights file (damaged, cut short, or another kind of file)"
    raise LessonError(f"{subject or f'{what} {shown(path)}'} {problem}; {fix}.")


def is_exercise3_file(obj):
    """True for the dicts exercise3_train.py writes (generator_weights.pth, exercise3_checkpoint.pth)."""
    return isinstance(obj, dict) and "format_version" in obj and ("state_dict" in obj or "net_G" in obj)


def save_generator(net_G, model_args, image_size, epoch, path):
    """generator_weights.pth: the state_dict plus the constructor arguments that rebuild the model."""
    with atomic_path(path) as tmp:
        torch.save(dict(format_version=FORMAT_VERSION, model_args=model_args, image_size=image_size,
                        epoch=epoch, state_dict=net_G.state_dict()), tmp)


def load_generator(path):
    """(net_G, image_size) from a generator_weights.pth: the U-Net it describes, with the paper's test-time
    normalisation (each image's own statistics, §3.3), in eval mode (dropout off)."""
    saved = read_weights(path, "generator weights", "train one with `python exercise3_train.py`, or pass "
                         "its generator_weights.pth with --weights")
    if not (is_exercise3_file(saved) and "state_dict" in saved):
        hint = (" (that is exercise3_checkpoint.pth; pass generator_weights.pth from the same folder)"
                if is_exercise3_file(saved) else "")
        raise LessonError(f"{shown(path)} is not a generator_weights.pth written by exercise3_train.py{hint}; "
                          "pass that file with --weights.")
    try:
        net_G = UNetGenerator(**saved["model_args"], norm_layer=PerImageBatchNorm2d)
        net_G.load_state_dict(saved["state_dict"])
        return net_G.eval(), int(saved["image_size"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise LessonError(f"{shown(path)} does not fit the generator it describes ({type(exc).__name__}); "
                          "train again or pass another --weights.") from None


def save_checkpoint(path, **state):
    with atomic_path(path) as tmp:
        torch.save(dict(format_version=FORMAT_VERSION, **state), tmp)


def load_checkpoint(path):
    fix = "delete it and train without --resume"
    ckpt = read_weights(path, "checkpoint", fix)
    if not isinstance(ckpt, dict) or ckpt.get("format_version") != FORMAT_VERSION:
        raise LessonError(f"{shown(path)} is not an Exercise 3 checkpoint of format {FORMAT_VERSION}; {fix}.")
    no_gan = isinstance(ckpt.get("settings"), dict) and ckpt["settings"].get("no_gan")
    missing = (CHECKPOINT_KEYS if no_gan else CHECKPOINT_KEYS | D_KEYS) - ckpt.keys()
    if missing:
        raise LessonError(f"{shown(path)} is damaged (no {sorted(missing)[0]!r}); {fix}.")
    return ckpt


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
