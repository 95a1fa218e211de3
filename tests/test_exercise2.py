"""Exercise 2 end to end: each experiment alone writes its one figure and prints its numbers; the
skip cuts, the dropout seeds and bad flags. The checkpoint has RANDOM weights in the official
layout (tests/official_reference.py): its pictures and numbers are noise, not results."""

import os
import re
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

import exercise2_explore
from exercise2_explore import DEFAULT_DESIGN, GUESSED, MASK_VALUE, SKIP_READERS
from exercise2_explore import WINDOW_DESIGNS, dropout_samples, skips_cut
from facades_generator import AUTHORS, CLASS_NAMES, PALETTE, SAMPLE_LABELS_DIR, load_label
from facades_generator import snap_to_palette
from helpers.facade_labels import draw_facade
from helpers.lesson import tensor_to_image
from pix2pix_models import UNetGenerator, translate
from tests.exercise1_support import refused

LABEL = SAMPLE_LABELS_DIR / "townhouse_4_floors.png"


@pytest.fixture
def model_inputs(checkpoint, random_generator, monkeypatch):
    """The session's networks for the script (read once per protocol), and every batch the script
    hands to them."""

    def open_generator(path, device, fast=False, **protocol):
        assert path == checkpoint and str(device) == "cpu" and not fast
        return random_generator(**protocol), AUTHORS, 256

    batches, real_translate = [], exercise2_explore.translate

    def spy(net_G, labels):
        batches.append(labels.clone())
        return real_translate(net_G, labels)

    monkeypatch.setattr(exercise2_explore, "open_generator", open_generator)
    monkeypatch.setattr(exercise2_explore, "translate", spy)
    return batches


def run(experiment, checkpoint, out_dir, capsys, *extra):
    """The experiment's printed numbers; it wrote exactly its own figure, no temporary beside it."""
    argv = ["--experiment", experiment, "--checkpoint", checkpoint, "--output-dir", out_dir]
    exercise2_explore.main([str(a) for a in [*argv, "--device", "cpu", *extra]])
    assert [p.name for p in out_dir.iterdir()] == [f"exercise2_{experiment}.png"]
    with Image.open(out_dir / f"exercise2_{experiment}.png") as figure:
        assert figure.width > 600 and figure.height > 200
    return capsys.readouterr().out


def number(text, prefix):
    return float(re.search(re.escape(prefix) + r"\s*([-\d.e]+)", text).group(1))


def test_windows_experiment(checkpoint, tmp_path, capsys, model_inputs):
    output = run("windows", checkpoint, tmp_path, capsys)
    assert [batch.shape for batch in model_inputs] == [(len(WINDOW_DESIGNS), 3, 256, 256)]
    for name, design in WINDOW_DESIGNS.items():
        assert f"{name}: {design.window_count()} windows, {design.floors + 1} storeys" in output


def test_partial_experiment_hides_regions_with_mid_grey_only(
    checkpoint, tmp_path, capsys, model_inputs
):
    output = run("partial", checkpoint, tmp_path / "0", capsys)
    run("partial", checkpoint, tmp_path / "1", capsys, "--seed", "1")
    full, top, _, blocks, all_but_wall = model_inputs[0]
    assert (top[:, :128] == MASK_VALUE).all() and torch.equal(top[:, 128:], full[:, 128:])
    for masked in model_inputs[0][1:]:
        changed = (masked != full).any(dim=0)
        assert changed.any() and (masked[:, changed] == MASK_VALUE).all()
    wall = snap_to_palette(np.asarray(draw_facade(DEFAULT_DESIGN))) == CLASS_NAMES.index("facade")
    assert torch.equal((all_but_wall != MASK_VALUE).all(dim=0), torch.from_numpy(wall))
    assert not torch.equal(blocks, model_inputs[1][3])  # --seed moves the random blocks
    assert "top half: 50% hidden" in output and "vertical strip: 25% hidden" in output


def test_colors_experiment_feeds_your_label_unsnapped(checkpoint, tmp_path, capsys, model_inputs):
    own = tmp_path / "in" / (os.fsdecode(b"fa\xe7ade") + ".jpg")  # a name that is not UTF-8
    own.parent.mkdir()
    draw_facade(DEFAULT_DESIGN).save(own, quality=80)  # JPEG noise: off-palette colours on disk
    output = run("colors", checkpoint, tmp_path / "out", capsys, "--labels", own.parent)
    [batch] = model_inputs
    real, guessed, shifted, random, _ = (np.asarray(tensor_to_image(t)) for t in batch)
    classes = snap_to_palette(real)
    assert (PALETTE[classes] == real).all()  # its label, snapped to the palette
    walls = classes == CLASS_NAMES.index("facade")
    assert (guessed[walls] == GUESSED["facade"]).all()  # grey, not snapped back
    for colours in (shifted, random):  # read as other classes nearly everywhere
        assert (snap_to_palette(colours) != classes).mean() > 0.9
    assert "colors, fa\ufffdade.jpg:" in output
    assert number(output, "real palette: distance") == 0.0
    assert number(output, "guessed colours: distance") > 20


def test_consistency_experiment(checkpoint, tmp_path, capsys, model_inputs):
    output = run("consistency", checkpoint, tmp_path, capsys)
    assert number(output, "default run 2: max |diff|") == 0
    assert number(output, "same --seed: max |diff|") == 0
    assert number(output, "dropout std: mean") > 0
    assert number(output, "running stats (--eval): mean |diff|") > 0


def test_skips_experiment_cuts_from_the_innermost_outward(
    checkpoint, tmp_path, capsys, model_inputs
):
    output = run("skips", checkpoint, tmp_path, capsys)
    assert len(model_inputs) == 1 + len(SKIP_READERS)  # the full network, then one pass per cut
    assert all(torch.equal(batch, model_inputs[0]) for batch in model_inputs)
    cuts = re.findall(r"^  (d7(?:\.\.d\d)?) cut: 2x2(?: to (\d+)x\d+)? levels, change ([\d.]+)$",
                      output, flags=re.M)  # fmt: skip
    assert [cut for cut, _, _ in cuts] == ["d7"] + [f"d7..d{k}" for k in range(6, 0, -1)]
    assert [size for _, size, _ in cuts] == ["", "4", "8", "16", "32", "64", "128"]
    assert all(float(change) > 0 for _, _, change in cuts)


def test_dropout_varies_between_seeds_and_a_seed_reproduces_it(random_generator):
    net_G, label = random_generator(dropout=True), load_label(LABEL)
    first, again, other = (dropout_samples(net_G, label, seed, samples=1) for seed in (0, 0, 1))
    assert first.shape == (1, 3, 256, 256)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_cutting_skips_zeroes_only_what_crosses_to_the_decoder(random_generator):
    net_G, label = random_generator(), load_label(LABEL)[None]
    plain = translate(net_G, label)
    with skips_cut(net_G, ()):
        assert torch.equal(translate(net_G, label), plain)  # no cut: exactly the plain network
    seen = {}

    def keep(name, module, args):  # what the block reads
        seen[name] = args[0].clone()

    with skips_cut(net_G, ("d7", "d1")):  # hooks registered after the cuts see what blocks read
        blocks = ("down2", "up2", "up3", "final")
        hooks = [getattr(net_G, b).register_forward_pre_hook(partial(keep, b)) for b in blocks]
        cut = translate(net_G, label)
        for hook in hooks:
            hook.remove()
    assert not torch.equal(cut, plain)
    with torch.no_grad():
        assert torch.equal(seen["down2"], net_G.down1(label))  # the encoder path still has d1
    assert (seen["final"][:, :64] == 0).all() and (seen["final"][:, 64:] != 0).any()  # d1 cut
    assert (seen["up2"][:, :512] == 0).all() and (seen["up3"][:, :512] != 0).any()  # d7, not d6
    assert not any(module._forward_pre_hooks for module in net_G.modules())


def test_skips_cut_finds_a_wrapped_unet_and_removes_its_hooks_on_errors():
    wrapped = torch.nn.Sequential(UNetGenerator(ngf=8).eval())  # as --fast wraps the network
    with pytest.raises(RuntimeError), skips_cut(wrapped, list(SKIP_READERS)):
        assert len(wrapped[0].final._forward_pre_hooks) == 1
        raise RuntimeError("a failure inside the block")
    assert not any(module._forward_pre_hooks for module in wrapped.modules())


def test_guessed_colours_are_nearest_other_classes():
    # The README's point: red "windows" are nearest the pillar colour, so the model sees pillars.
    guessed = np.array([list(GUESSED.values())], dtype=np.uint8)
    nearest = [CLASS_NAMES[i] for i in snap_to_palette(guessed)[0]]
    assert nearest[1] == "pillar" and not set(nearest) & set(GUESSED)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--design", ""], "--design is not a valid facade design"),
        (["--design", "[" * 100_000], "--design is not a valid facade design"),
        (["--labels", "EMPTY"], "no label images in"),
        (["--output-dir", "A_FILE/figures"], "cannot write into --output-dir"),
        (["--output-dir", str(SAMPLE_LABELS_DIR)], "sample_facades"),  # the shipped labels
        (["--labels", "in/exercise2_colors.png", "--output-dir", "in"], "exercise2_colors.png"),
        (["--checkpoint", "nowhere/facades_generator.pth"], "download_pretrained.py"),
    ],
)
def test_bad_inputs_are_one_sentence_and_write_nothing(tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "A_FILE").write_text("a file where a folder should be")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "exercise2_colors.png").write_bytes(LABEL.read_bytes())  # a label
    args = ["--checkpoint", "none.pth", "--output-dir", "out", *args]
    err = refused(exercise2_explore.main, args, capsys)
    assert words in err and ("no pretrained" not in err or "nowhere" in err)  # before any work
    assert [p.name for p in tmp_path.rglob("*.png")] == ["exercise2_colors.png"]  # the label
    assert (tmp_path / "in" / "exercise2_colors.png").read_bytes() == LABEL.read_bytes()
