"""Tiny Kaggle-style pairs and the helpers that tests/test_preprocess*.py share."""

import hashlib
import io

import numpy as np
from PIL import Image

import preprocess_anime_sketches as prep
from helpers.facade_labels import draw_facade, random_design

SIZE = 32  # output side: tiny, the logic does not depend on it


def make_pair(seed, height=48):
    """A 2:1 pair shaped like Kaggle's: saturated colour blocks LEFT, black lines on white RIGHT."""
    rng = np.random.default_rng(seed)
    colour = np.zeros((height, height, 3), np.uint8)
    colour[..., 0] = 230  # reddish everywhere
    colour[..., 1] = rng.integers(0, 120)
    colour[height // 2 :, :, 2] = 200  # a magenta lower half
    return beside_a_sketch(colour, rng)


def pale_pair(seed, height=48):
    """A genuine but pale colour image (mean channel spread about 0.027, 15% white, like some
    Kaggle pairs) beside its sketch."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 3, (height, height, 1)).astype(np.uint8)
    colour = np.full((height, height, 3), (236, 230, 229), np.uint8) + noise
    colour[: height * 15 // 100] = 255  # a strip of white background
    return beside_a_sketch(colour, rng)


def beside_a_sketch(colour, rng):
    """The pair: `colour` LEFT, a sketch of two black lines on white RIGHT."""
    height = colour.shape[0]
    sketch = np.full((height, height, 3), 255, np.uint8)
    sketch[height // 3, :] = 0
    sketch[:, rng.integers(4, height - 4)] = 0
    return Image.fromarray(np.concatenate([colour, sketch], axis=1))


def write_pairs(folder, names, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        make_pair(seed + i).save(folder / f"{name}.png")


def tree_hashes(root):
    """Every file under `root` (hidden ones too) -> its SHA-256: any change, addition or removal
    shows."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run(capsys, *argv):
    """preprocess_anime_sketches.py with these arguments, at SIZE, in one process unless --workers
    says otherwise -> what it printed."""
    prep.main(["--size", str(SIZE), "--workers", "1", *map(str, argv)])
    return capsys.readouterr().out


def swap_folders(split):
    """Rename split/sketches <-> split/colors: the mistake --verify must catch."""
    (split / "sketches").rename(split / "tmp")
    (split / "colors").rename(split / "sketches")
    (split / "tmp").rename(split / "colors")


def facade_pair(seed, side=128):
    """A pix2pix facades pair, as that set lays it out (photo LEFT, label map RIGHT, JPEG): the
    label drawn by the shipped designer, the photo a dull, noisy, shaded rendering of it."""
    rng = np.random.default_rng(seed)
    label = draw_facade(random_design(rng), size=side)
    wall = np.array([150.0, 120.0, 100.0])  # brick: photos are far less saturated than labels
    photo = 0.3 * np.asarray(label, dtype=float) + 0.7 * wall + rng.normal(0, 14, (side, side, 3))
    photo += np.linspace(-25, 25, side)[:, None, None]  # light from above
    pair = np.concatenate([np.clip(photo, 0, 255).astype(np.uint8), np.asarray(label)], axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pair).save(buffer, format="JPEG", quality=90)
    return Image.open(buffer)
