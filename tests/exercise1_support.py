"""What the facades tests share: running Exercise 1, a spy on its grid, stand-in photos, facades
pairs, Exercise 3 weights, and the session's network instead of re-reading 218 MB. Every network
here has random weights: its facades are noise, never results."""

import numpy as np
import pytest
import torch
from PIL import Image

import exercise1_observe
import helpers.figures
from facades_generator import AUTHORS, snap_to_palette
from helpers.facade_labels import draw_facade
from painter.server import random_design
from pix2pix_models import IMAGE_SIZE, UNetGenerator, init_weights


def run(args, capsys):  # Exercise 1's main(args); what it printed
    exercise1_observe.main([str(a) for a in args])
    return capsys.readouterr()


def refused(main, args, capsys):
    """main(args) refused in one sentence, exit status 2, no traceback: the sentence."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def reuse_network(checkpoint, random_generator, monkeypatch):
    """Exercise 1's open_generator gives the session's network for `checkpoint`; any other file is
    read for real."""
    real = exercise1_observe.open_generator

    def open_generator(path, device=None, dropout=False, fast=False):
        if path != checkpoint:
            return real(path, device, dropout, fast)
        net_G = (random_generator(dropout=True) if dropout else random_generator()).to(device)
        if fast:
            from speed import fast_generator

            net_G = fast_generator(net_G, device)
        return net_G, AUTHORS, IMAGE_SIZE

    monkeypatch.setattr(exercise1_observe, "open_generator", open_generator)


def spy_on_grid(monkeypatch):
    """Record what Exercise 1 puts in its grid (and still save the real figure)."""
    calls = []

    def spy(path, rows, row_titles, **kwargs):
        calls.append(dict(path=path, rows=rows, row_titles=row_titles, **kwargs))
        return helpers.figures.save_grid(path, rows, row_titles, **kwargs)

    monkeypatch.setattr(exercise1_observe, "save_grid", spy)
    return calls


def photo_like(size=256, seed=0):  # a smooth beige 'photo' with noise: far from the palette
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90, 210, size)[None, :, None] * np.array([1.0, 0.9, 0.75])
    return np.clip(ramp + rng.normal(0, 15, (size, size, 3)), 0, 255).astype(np.uint8)


def write_facades_pairs(folder, count=3, seed=0):
    """Pairs laid out like the pix2pix facades set (512x256 JPEGs, photo LEFT, label RIGHT), their
    labels drawn by the shipped designer, each class of the 'photo' a muted colour with noise."""
    rng = np.random.default_rng(seed)
    muted = rng.integers(50, 190, size=(12, 3))  # far from the saturated palette
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        label = draw_facade(random_design(rng))
        photo = muted[snap_to_palette(np.asarray(label))] + rng.normal(0, 12, (256, 256, 3))
        pair = Image.new("RGB", (512, 256))
        pair.paste(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), (0, 0))
        pair.paste(label, (256, 0))
        paths.append(folder / f"{i + 1}.jpg")
        pair.save(paths[-1], quality=95)
    return paths


def write_exercise3_weights(path, ngf=8, epoch=3, image_size=256, seed=0, **replace):
    """A generator_weights.pth as exercise3_train.py writes it, random; `replace` overrides."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = init_weights(UNetGenerator(ngf=ngf)).state_dict()
    model_args = dict(in_channels=3, out_channels=3, ngf=ngf)
    saved = dict(format_version=1, model_args=model_args, image_size=image_size, epoch=epoch)
    torch.save({**saved, "state_dict": state_dict, **replace}, path)
    return path
