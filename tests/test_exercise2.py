"""Exercise 2 end to end: each experiment alone writes its one figure and prints its numbers.

The checkpoint is a RANDOM-weight file in the official layout (tests/official_reference.py): it
drives the real loading path and the real script, and its pictures and numbers are noise, not
results. It must be full size (ngf=64): create_facades_generator only accepts the real architecture.
"""

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import exercise2_explore
import facades_generator
from exercise2_explore import (
    GUESSED_PALETTE,
    MASK_VALUE,
    WINDOW_DESIGNS,
    color_schemes,
    dropout_samples,
    region_masks,
)
from facades_generator import FETCH_WEIGHTS, load_label
from helpers.facade_labels import SAMPLE_LABELS_DIR, draw_facade
from facades_generator import CLASS_NAMES, PALETTE, snap_to_palette
from helpers.lesson import ROOT
from helpers.skip_cuts import SKIP_READERS, skips_cut
from pix2pix_models import UNetGenerator, translate


@pytest.fixture
def reuse_nets(checkpoint, random_generator, monkeypatch):
    """create_facades_generator for the script, reading the 218 MB file once per protocol."""

    def create(path, device=None, **protocol):
        assert Path(path) == checkpoint and str(device) == "cpu"
        return random_generator(**protocol)

    monkeypatch.setattr(facades_generator, "create_facades_generator", create)


@pytest.fixture
def model_inputs(monkeypatch):
    """Record every batch the script hands to the generator (and still run it)."""
    batches = []
    real_translate = exercise2_explore.translate

    def spy(net_G, labels, **kwargs):
        batches.append(labels.clone())
        return real_translate(net_G, labels, **kwargs)

    monkeypatch.setattr(exercise2_explore, "translate", spy)
    return batches


def run(experiment, checkpoint, out_dir, capsys, *extra):
    exercise2_explore.main(
        [
            "--experiment",
            experiment,
            "--checkpoint",
            str(checkpoint),
            "--output-dir",
            str(out_dir),
            "--device",
            "cpu",
            *map(str, extra),
        ]
    )
    output = capsys.readouterr().out
    figures = sorted(p.name for p in out_dir.iterdir())
    # exactly its own figure, no temporary left behind
    assert figures == [f"exercise2_{experiment}.png"]
    with Image.open(out_dir / figures[0]) as figure:
        assert figure.format == "PNG" and figure.width > 600 and figure.height > 200
    return output


def as_rgb(tensor):
    return ((tensor.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


def number_after(text, prefix):
    return float(re.search(re.escape(prefix) + r"\s*([-\d.e]+)", text).group(1))


def test_windows_experiment(checkpoint, tmp_path, capsys, reuse_nets, model_inputs):
    output = run("windows", checkpoint, tmp_path, capsys)
    assert len(model_inputs) == 1 and model_inputs[0].shape == (len(WINDOW_DESIGNS), 3, 256, 256)
    for name, design in WINDOW_DESIGNS.items():
        assert re.search(
            rf"{name}\s+{design.window_count()} windows on {design.floors + 1} storeys", output
        )


def test_partial_experiment_hides_regions_with_mid_grey_only(
    checkpoint, tmp_path, capsys, reuse_nets, model_inputs
):
    output = run("partial", checkpoint, tmp_path, capsys)
    (batch,) = model_inputs
    full, hidden = batch[0], batch[1:]
    assert len(hidden) == 4
    assert (hidden[0][:, :128] == MASK_VALUE).all() and torch.equal(
        hidden[0][:, 128:], full[:, 128:]
    )
    for masked in hidden:
        changed = (masked != full).any(dim=0)
        assert changed.any() and (masked[:, changed] == MASK_VALUE).all()
    assert re.search(r"top half\s+50.0% hidden", output) and re.search(
        r"vertical strip\s+25.0% hidden", output
    )


def test_colors_experiment_feeds_the_unsnapped_colours(
    checkpoint, tmp_path, capsys, reuse_nets, model_inputs
):
    # a student's label saved as JPEG: off-palette noise on disk
    own = tmp_path / "own" / "facade.jpg"
    own.parent.mkdir()
    draw_facade(exercise2_explore.DEFAULT_DESIGN).save(own, quality=80)
    output = run("colors", checkpoint, tmp_path / "figures", capsys, "--labels", own)
    (batch,) = model_inputs
    real, guessed = as_rgb(batch[0]), as_rgb(batch[1])
    assert np.isin(
        real.reshape(-1, 3) @ [65536, 256, 1], PALETTE.astype(np.int64) @ [65536, 256, 1]
    ).all()
    walls = snap_to_palette(real) == CLASS_NAMES.index("facade")
    assert (guessed[walls] == GUESSED_PALETTE["facade"]).all()  # grey, not snapped back to a class
    assert number_after(output, "facade.jpg: real palette         distance") == 0.0
    assert number_after(output, "facade.jpg: guessed colours      distance") > 20


def test_consistency_experiment(checkpoint, tmp_path, capsys, reuse_nets):
    output = run("consistency", checkpoint, tmp_path, capsys)
    assert "default mode (dropout off), two runs: max |diff| = 0\n" in output
    assert number_after(output, "mean per-pixel std") > 0
    assert "the same --seed again: max |diff| = 0\n" in output
    assert number_after(output, "(--eval): mean |diff| =") > 0


def test_dropout_varies_between_seeds_and_a_seed_reproduces_it(random_generator):
    # (Samples of one seed differing is the consistency experiment's std > 0 above.)
    net_dropout = random_generator(dropout=True)
    labels = load_label(SAMPLE_LABELS_DIR / "townhouse_4_floors.png").unsqueeze(0)
    first, again, other = (
        dropout_samples(net_dropout, labels, seed, samples=1) for seed in (0, 0, 1)
    )
    assert first.shape == (1, 1, 3, 256, 256)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_skips_experiment(checkpoint, tmp_path, capsys, reuse_nets, model_inputs):
    output = run("skips", checkpoint, tmp_path, capsys)
    assert len(model_inputs) == 1 + len(SKIP_READERS)  # the full network, then one pass per cut
    assert all(
        batch.shape == (1, 3, 256, 256) and torch.equal(batch, model_inputs[0])
        for batch in model_inputs
    )
    cuts = re.findall(
        r"^  (d7(?:\.\.d\d)?)\s+cut \(the 2x2 (?:level|to (\d+)x\d+ levels)\): change\s+([\d.]+)$",
        output,
        flags=re.M,
    )
    assert [cut for cut, _, _ in cuts] == [
        "d7",
        "d7..d6",
        "d7..d5",
        "d7..d4",
        "d7..d3",
        "d7..d2",
        "d7..d1",
    ]
    assert [size for _, size, _ in cuts] == ["", "4", "8", "16", "32", "64", "128"]
    # random weights: that it changes, not by how much
    assert all(float(change) > 0 for _, _, change in cuts)


def test_cutting_skips_zeroes_only_what_crosses_to_the_decoder(random_generator):
    net_G = random_generator()
    label = load_label(SAMPLE_LABELS_DIR / "townhouse_4_floors.png").unsqueeze(0)
    plain = translate(net_G, label)
    with skips_cut(net_G, ()):
        assert torch.equal(translate(net_G, label), plain)  # no cut: exactly the plain network
    seen = {}
    with skips_cut(net_G, ("d7", "d1")):
        # Registered after skips_cut's hooks, so these see what the blocks really read.
        handles = [
            getattr(net_G, block).register_forward_pre_hook(
                lambda module, args, block=block: seen.__setitem__(block, args[0].clone())
            )
            for block in ("down2", "up2", "up3", "final")
        ]
        cut = translate(net_G, label)
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        d1 = net_G.down1(label)
    assert cut.shape == plain.shape == (1, 3, 256, 256) and not torch.equal(cut, plain)
    assert torch.equal(seen["down2"], d1)  # the encoder path still carries d1
    # cat([d1, u7]): d1 zeroed
    assert (seen["final"][:, :64] == 0).all() and (seen["final"][:, 64:] != 0).any()
    # d7 cut, d6 kept
    assert (seen["up2"][:, :512] == 0).all() and (seen["up3"][:, :512] != 0).any()
    # the hooks are gone afterwards
    assert not any(module._forward_pre_hooks for module in net_G.modules())


def test_skips_cut_finds_a_wrapped_unet_and_removes_its_hooks_on_errors():
    class Wrapper(torch.nn.Module):  # as --fast wraps the network in a FastGenerator
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    wrapped = Wrapper(UNetGenerator(ngf=8).eval())
    with pytest.raises(RuntimeError), skips_cut(wrapped, list(SKIP_READERS)):
        assert len(wrapped.net.final._forward_pre_hooks) == 1
        raise RuntimeError("a failure inside the block")
    assert not any(module._forward_pre_hooks for module in wrapped.modules())


def test_missing_weights_is_one_sentence_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "facades_generator.pth"
    with pytest.raises(SystemExit) as exit_info:
        exercise2_explore.main(["--checkpoint", str(missing), "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err == f"error: no pretrained weights at {missing}; {FETCH_WEIGHTS}.\n"
    )
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--design", '{"floors": 99}'], "--design is not a valid facade design"),
        (["--labels", "EMPTY"], "no label images in"),
    ],
)
def test_bad_inputs_exit_2_before_loading_anything(args, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    with pytest.raises(SystemExit) as exit_info:
        exercise2_explore.main(
            args + ["--checkpoint", str(tmp_path / "none.pth"), "--output-dir", str(tmp_path)]
        )
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_guessed_palette_reads_as_other_classes():
    # The README's point: red "windows" are nearest the pillar colour, so the model sees pillars.
    nearest = {
        name: CLASS_NAMES[snap_to_palette(np.array([[rgb]], dtype=np.uint8))[0, 0]]
        for name, rgb in GUESSED_PALETTE.items()
    }
    assert nearest["window"] == "pillar" and all(nearest[name] != name for name in nearest)
    classes = snap_to_palette(np.asarray(draw_facade(exercise2_explore.DEFAULT_DESIGN)))
    schemes = color_schemes(classes, seed=0)
    assert np.array_equal(schemes["real palette"], PALETTE[classes])
    for name in ("hue shifted 120°", "random colours"):
        assert (snap_to_palette(schemes[name]) != classes).mean() > 0.9


def test_region_masks_cover_what_their_names_say():
    classes = snap_to_palette(np.asarray(draw_facade(exercise2_explore.DEFAULT_DESIGN)))
    masks = region_masks(classes, seed=0)
    assert (
        masks["top half"].float().mean() == 0.5 and masks["vertical strip"].float().mean() == 0.25
    )
    assert torch.equal(
        ~masks["all but the wall"], torch.from_numpy(classes == CLASS_NAMES.index("facade"))
    )
    assert torch.equal(masks["random blocks"], region_masks(classes, seed=0)["random blocks"])
    assert not torch.equal(masks["random blocks"], region_masks(classes, seed=1)["random blocks"])


def test_readme_section_names_only_real_flags(capsys):
    with pytest.raises(SystemExit):
        exercise2_explore.main(["--help"])
    flags = set(re.findall(r"--[a-z-]+", capsys.readouterr().out))
    section = (
        (ROOT / "README.rst").read_text().split(".. SECTION: exercise-2")[1].split(".. SECTION:")[0]
    )
    commands = re.findall(r"python exercise2_explore\.py[^\n]*", section)
    assert commands, "the Exercise 2 section shows no command"
    for command in commands:
        assert set(re.findall(r"--[a-z-]+", command)) <= flags, command


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux file names may be arbitrary bytes")
def test_a_label_whose_name_is_not_utf8_is_drawn_and_named(
    checkpoint, tmp_path, capsys, reuse_nets
):
    label = tmp_path / "in" / (os.fsdecode(b"fa\xe7ade") + ".png")
    label.parent.mkdir()
    draw_facade(exercise2_explore.DEFAULT_DESIGN).save(label)
    output = run("colors", checkpoint, tmp_path / "out", capsys, "--labels", label)
    assert "fa\ufffdade.png: real palette" in output


def test_an_impossible_output_dir_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "a_file").write_text("a file where a folder should be")
    with pytest.raises(SystemExit) as exit_info:
        exercise2_explore.main(
            [
                "--output-dir",
                str(tmp_path / "a_file" / "figures"),
                "--checkpoint",
                str(tmp_path / "none.pth"),
            ]
        )
    err = capsys.readouterr().err
    assert (
        exit_info.value.code == 2
        and "cannot write into --output-dir" in err
        and "no pretrained weights" not in err
    )
