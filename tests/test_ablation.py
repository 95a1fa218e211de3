"""Exercise 3's "Modify" step, the paper's objective ablation (§4.2, Fig. 4): --no-gan (L1 alone, no
D is built), --lambda-l1 0 (GAN alone), how --resume keeps the choice, and colorize_sketch.py's
comparison grid of several runs. Tiny synthetic pairs and narrow nets, as in test_train.py."""

import copy
import csv
import shutil
import warnings

import pytest
import torch
from PIL import Image

import colorize_sketch
import exercise3_train as ex3
from facades_generator import open_generator
from helpers.lesson import LessonError
from pix2pix_models import UNetGenerator, init_weights
from tests.exercise3_support import exit_code_and_error, run
from training.figures import save_progress_plot
from training.recipe import train_step
from training.run import CHECKPOINT, WEIGHTS, resume_settings

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: small networks, one thread


def no_discriminator(*args, **kwargs):
    raise AssertionError("a PatchGANDiscriminator was built")


def two_epochs(data, out, *flags):
    """A 2-epoch run into `out`, shared (read-only) by the tests below; returns (out, what it
    printed)."""
    log = out.parent / f"{out.name}.txt"
    with open(log, "w") as stdout, pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", stdout)
        run(data, out, "--epochs", "2", *flags)
    return out, log.read_text()


@pytest.fixture(scope="module")
def l1_only(data, tmp_path_factory):
    """A --no-gan run, during which building a discriminator fails the test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ex3, "PatchGANDiscriminator", no_discriminator)
        return two_epochs(data, tmp_path_factory.mktemp("runs") / "l1_only", "--no-gan")


@pytest.fixture(scope="module")
def gan_only(data, l1_only):
    return two_epochs(data, l1_only[0].parent / "gan_only", "--lambda-l1", "0")


def test_no_gan_step_is_lambda_times_l1_alone():
    """With no D, G's gradient step is exactly the one of lambda * L1 (the paper's "L1" row of Fig.
    4)."""
    torch.manual_seed(0)
    net_G = init_weights(UNetGenerator(ngf=8)).train()
    twin = copy.deepcopy(net_G)
    real_A, real_B = torch.rand(2, 3, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    torch.manual_seed(1)  # the same dropout masks in both
    losses = train_step(
        net_G, None, torch.optim.SGD(net_G.parameters(), lr=0.1), None, real_A, real_B, 100
    )
    torch.manual_seed(1)
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    l1 = torch.nn.functional.l1_loss(twin(real_A), real_B)
    (100 * l1).backward()
    opt.step()
    assert losses.keys() == {"G_L1"} and losses["G_L1"] == pytest.approx(l1.item())
    for (name, a), b in zip(net_G.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_no_gan_trains_the_generator_alone(l1_only):
    out, printed = l1_only
    for name in (
        "exercise3_epoch_1.png",
        "exercise3_epoch_2.png",
        "exercise3_training_progress.png",
        "metrics.csv",
        CHECKPOINT,
        WEIGHTS,
    ):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("exercise3_patchgan_*"))  # no D, nothing to map
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    assert ckpt["settings"]["no_gan"] is True and not {"net_D", "opt_D"} & ckpt.keys()
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    # no D columns at all
    assert list(rows[0]) == ["epoch", "G_L1", "val_L1", "val_PSNR", "val_SSIM", "seconds"]
    assert "net_D: none (--no-gan)" in printed and "objective: L1 alone" in printed
    epoch_lines = [line for line in printed.splitlines() if line.startswith("epoch 2/2")]
    assert (
        len(epoch_lines) == 1
        and "100 x L1" in epoch_lines[0]
        and "D" not in epoch_lines[0].split("val")[0]
    )


def test_the_progress_plot_says_there_is_no_d(l1_only, tmp_path):
    history = [
        dict(epoch=0, val_L1=0.5),
        dict(epoch=1, G_L1=0.3, val_L1=0.4),
        dict(epoch=2, G_L1=0.2, val_L1=0.3),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty legend would warn
        save_progress_plot(tmp_path / "plot.png", history)
    assert Image.open(tmp_path / "plot.png").size[0] > 0


def test_gan_alone_trains_both_nets(gan_only):
    out, printed = gan_only
    assert "lambda_L1: 0.0" in printed and "objective: GAN alone" in printed
    assert (out / "exercise3_patchgan_2.png").stat().st_size > 0
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "D_of_real", "D_of_fake"} <= rows[-1].keys()
    assert {"net_D", "opt_D"} <= torch.load(out / CHECKPOINT, weights_only=True).keys()


def test_resume_keeps_no_gan_and_refuses_to_add_it(
    data, l1_only, gan_only, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "l1_only"
    shutil.copytree(l1_only[0], out)
    monkeypatch.setattr(ex3, "PatchGANDiscriminator", no_discriminator)
    run(data, out, "--epochs", "3", "--resume")  # without the flag: the checkpoint's setting holds
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["settings"]["no_gan"] and "net_D" not in ckpt
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(gan_only[0]), "--resume", "--no-gan"]
    )
    assert code == 2 and "trained without --no-gan" in err


def test_settings_from_before_no_gan_existed_mean_the_full_objective(tmp_path):
    old = {k: v for k, v in ex3.parse_args([]).__dict__.items() if k not in ("no_gan", "typed")}
    checkpoint = {"settings": old}
    assert resume_settings(ex3.parse_args(["--resume"]), checkpoint).no_gan is False
    with pytest.raises(LessonError, match="trained without --no-gan"):
        resume_settings(ex3.parse_args(["--resume", "--no-gan"]), checkpoint)
    checkpoint = {"settings": {**old, "no_gan": True}}
    assert resume_settings(ex3.parse_args(["--resume", "--no-gan"]), checkpoint).no_gan


def test_no_gan_with_no_l1_is_refused(data, tmp_path, capsys):
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(tmp_path), "--no-gan", "--lambda-l1", "0"]
    )
    assert code == 2 and "no loss" in err and not list(tmp_path.iterdir())


def test_comparison_grid_has_a_row_per_run(data, l1_only, gan_only, tmp_path, monkeypatch):
    loose = tmp_path / "my_sketch.png"  # not in a sketches/ folder: no target to show
    shutil.copy(data / "val" / "sketches" / "v1.png", loose)
    sketches = [data / "val" / "sketches" / "v1.png", data / "val" / "sketches" / "v2.png", loose]
    drawn, real_save_grid = {}, colorize_sketch.save_grid
    monkeypatch.setattr(
        colorize_sketch,
        "save_grid",
        lambda path, rows, titles, **kw: (
            drawn.update(rows=rows, titles=titles, kw=kw),
            real_save_grid(path, rows, titles, **kw),
        ),
    )
    weights = [str(run_dir / WEIGHTS) for run_dir in (l1_only[0], gan_only[0])]
    colorize_sketch.main(
        [*map(str, sketches), "--weights", *weights, "--grid", str(tmp_path / "grid.png")]
    )
    assert drawn["titles"] == ["sketch", "l1_only", "gan_only", "target"]
    assert drawn["kw"]["col_titles"] == ["v1", "v2", "my_sketch"] and all(
        len(r) == 3 for r in drawn["rows"]
    )
    # a target only where a pair has one
    assert drawn["rows"][-1][2] is None and drawn["rows"][-1][0] is not None
    net_G, _, size = open_generator(weights[1])
    alone = colorize_sketch.colorize(net_G, Image.open(sketches[0]), size)
    # gan_only's row is its output
    assert torch.equal(drawn["rows"][2][0], colorize_sketch.image_to_tensor(alone))
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.mode in ("RGB", "RGBA")  # full colour, not a palette

    colorize_sketch.main(
        [str(sketches[0]), "--weights", *weights, "--output-dir", str(tmp_path / "each")]
    )
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == [
        "v1_colorized_gan_only.png",
        "v1_colorized_l1_only.png",
    ]
