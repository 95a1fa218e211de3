"""What the Exercise 1 test files share: running its main(), a spy on its grid, stand-in photos
and facades pairs, and the session's random-weight network instead of re-reading 218 MB.

Every network here has random weights: its facades are noise, never results.
"""

import numpy as np
import torch
from PIL import Image

import exercise1_observe
import facades_generator
import helpers.figures
from helpers.checkpoints import save_generator
from helpers.facade_labels import draw_facade, random_design
from facades_generator import snap_to_palette
from pix2pix_models import UNetGenerator, init_weights


def run(args, capsys):
    exercise1_observe.main([str(a) for a in args])
    return capsys.readouterr()


def reuse_network(checkpoint, random_generator, monkeypatch):
    """create_facades_generator(checkpoint) gives the session's network (the module's default
    protocol only); any other file is read for real."""
    real = facades_generator.create_facades_generator

    def create(path, device=None, **kwargs):
        if path != checkpoint:
            return real(path, device, **kwargs)
        assert kwargs == {"dropout": False}
        return random_generator().to(device)

    monkeypatch.setattr(facades_generator, "create_facades_generator", create)


def spy_on_grid(monkeypatch):
    """Record what exercise1 puts in its grid (and still save the real figure)."""
    calls = []

    def spy(path, rows, row_titles, **kwargs):
        calls.append(dict(path=path, rows=rows, row_titles=row_titles, **kwargs))
        return helpers.figures.save_grid(path, rows, row_titles, **kwargs)

    monkeypatch.setattr(exercise1_observe, "save_grid", spy)
    return calls


def photo_like(size=256, seed=0):
    """A smooth beige 'photo' with noise: nothing like the saturated label palette."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90, 210, size)[None, :, None] * np.array([1.0, 0.9, 0.75])
    return np.clip(ramp + rng.normal(0, 15, (size, size, 3)), 0, 255).astype(np.uint8)


def write_facades_pairs(folder, count=3, seed=0):
    """Pairs laid out like the pix2pix facades set (512x256 JPEGs, photo LEFT, label RIGHT), their
    labels drawn by the shipped designer; the 'photo' paints each class a muted colour of its own,
    with noise. Returns the files."""
    rng = np.random.default_rng(seed)
    muted = rng.integers(50, 190, size=(12, 3))  # far from the saturated palette
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        label = draw_facade(random_design(rng))
        classes = snap_to_palette(np.asarray(label))  # (256, 256) class indices
        photo = np.clip(muted[classes] + rng.normal(0, 12, (256, 256, 3)), 0, 255)
        pair = Image.new("RGB", (512, 256))
        pair.paste(Image.fromarray(photo.astype(np.uint8)), (0, 0))
        pair.paste(label, (256, 0))
        paths.append(folder / f"{i + 1}.jpg")
        pair.save(paths[-1], quality=95)
    return paths


def write_exercise3_weights(path, ngf=8, epoch=3, image_size=256, seed=0):
    """A generator_weights.pth as exercise3_train.py writes it, with its initial (random) weights:
    the plumbing of a trained model, not a trained one."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    net_G = init_weights(UNetGenerator(ngf=ngf))
    save_generator(path, net_G, dict(in_channels=3, out_channels=3, ngf=ngf), image_size, epoch)
    return path
