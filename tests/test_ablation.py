"""Exercise 3's "Modify" step, the paper's objective ablation (§4.2, Fig. 4): --no-gan (L1 alone,
no D is built), --lambda-l1 0 (GAN alone), how --resume keeps the choice, and colorize_sketch.py's
grid comparing the runs. Tiny synthetic pairs and narrow nets, as in test_train.py."""

import copy
import csv
import io
import shutil
import warnings

import pytest
import torch
from PIL import Image

import colorize_sketch
import exercise3_train as ex3
from pix2pix_models import UNetGenerator, init_weights
from tests.exercise3_support import run
from training.recipe import train_step
from training.run import CHECKPOINT, PROGRESS, SETTINGS, WEIGHTS, resume_settings, save_figures

pytestmark = pytest.mark.usefixtures("one_thread")  # small networks (tests/conftest.py says why)


def no_discriminator(*args, **kwargs):
    raise AssertionError("a PatchGANDiscriminator was built")


def two_epochs(data, out, *flags):
    """(out, what it printed) of a 2-epoch run (read-only for the tests); --no-gan builds no D."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", printed := io.StringIO())
        if "--no-gan" in flags:
            patch.setattr(ex3, "PatchGANDiscriminator", no_discriminator)
        run(data, out, "--epochs", "2", *flags)
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def l1_only(data, tmp_path_factory):
    return two_epochs(data, tmp_path_factory.mktemp("runs") / "l1_only", "--no-gan")


@pytest.fixture(scope="module")
def gan_only(data, l1_only):
    return two_epochs(data, l1_only[0].parent / "gan_only", "--lambda-l1", "0")


def test_no_gan_step_is_lambda_times_l1_alone():
    """With no D, G's step is exactly the one of lambda * L1 (the paper's "L1" row of Fig. 4)."""
    torch.manual_seed(0)
    net_G = init_weights(UNetGenerator(ngf=8)).train()
    twin = copy.deepcopy(net_G)
    real_A, real_B = torch.rand(2, 3, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    torch.manual_seed(1)  # the same dropout masks in both
    opt = torch.optim.SGD(net_G.parameters(), lr=0.1)
    losses = train_step(net_G, None, opt, None, real_A, real_B, 100)
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
    for name in ("exercise3_epoch_2.png", "exercise3_training_progress.png", CHECKPOINT, WEIGHTS):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("exercise3_patchgan_*"))  # no D, nothing to map
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    assert ckpt["settings"]["no_gan"] is True and not {"net_D", "opt_D"} & ckpt.keys()
    header = next(csv.reader(open(out / "metrics.csv")))
    assert header == ["epoch", "G_L1", "val_L1", "val_PSNR", "val_SSIM", "seconds"]  # no D columns
    assert "net_D: none (--no-gan)" in printed and "objective: L1 alone" in printed
    line = next(line for line in printed.splitlines() if line.startswith("epoch 2/2"))
    assert "100 x L1" in line and "D" not in line.split("val")[0]


def test_the_progress_plot_says_there_is_no_d(tmp_path):
    history = [dict(epoch=0, val_L1=0.5), *(dict(epoch=e, G_L1=0.3, val_L1=0.4) for e in (1, 2))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty legend would warn
        save_figures(tmp_path.joinpath, history, 2, None, *torch.zeros(3, 1, 3, 8, 8))
    assert (tmp_path / PROGRESS).exists() and not list(tmp_path.glob("*patchgan*"))


def test_gan_alone_trains_both_nets(gan_only):
    out, printed = gan_only
    assert "lambda_L1: 0.0" in printed and "objective: GAN alone" in printed
    assert (out / "exercise3_patchgan_2.png").stat().st_size > 0
    row = list(csv.DictReader(open(out / "metrics.csv")))[-1]
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "D_of_real", "D_of_fake"} <= row.keys()
    assert {"net_D", "opt_D"} <= torch.load(out / CHECKPOINT, weights_only=True).keys()


def test_resume_keeps_no_gan_without_the_flag(data, l1_only, tmp_path, monkeypatch):
    out = shutil.copytree(l1_only[0], tmp_path / "l1_only")
    monkeypatch.setattr(ex3, "PatchGANDiscriminator", no_discriminator)
    run(data, out, "--epochs", "3", "--resume")
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["settings"]["no_gan"] and "net_D" not in ckpt


def test_a_run_from_before_a_setting_existed_resumes_as_it_trained(tmp_path):
    old = {k: v for k, v in vars(ex3.parse_args([])).items() if k in SETTINGS}
    del old["epochs_decay"], old["no_gan"]  # runs from before they existed decayed nothing, had D
    torch.save(dict(format_version=1, settings=old), tmp_path / CHECKPOINT)
    resume_settings(args := ex3.parse_args(["--resume", "--output-dir", str(tmp_path)]))
    assert (args.epochs_decay, args.no_gan) == (0, False)


def test_colorize_compares_the_runs_in_one_grid(data, l1_only, gan_only, tmp_path, monkeypatch):
    loose = shutil.copy(data / "val" / "sketches" / "v1.png", tmp_path / "my_sketch.png")
    sketches = [data / "val" / "sketches" / "v1.png", data / "val" / "sketches" / "v2.png", loose]
    drawn, real_save_grid = {}, colorize_sketch.save_grid

    def spy(path, rows, titles, **kw):
        drawn.update(rows=rows, titles=titles, kw=kw)
        real_save_grid(path, rows, titles, **kw)

    monkeypatch.setattr(colorize_sketch, "save_grid", spy)
    weights = [str(folder / WEIGHTS) for folder in (l1_only[0], gan_only[0])]
    grid = ["--grid", str(tmp_path / "grid.png")]
    colorize_sketch.main([*map(str, sketches), "--weights", *weights, *grid])
    assert drawn["titles"] == ["sketch", "l1_only", "gan_only", "target"]  # a row per run
    assert drawn["kw"]["col_titles"] == ["v1", "v2", "my_sketch"]
    assert drawn["rows"][-1][2] is None and drawn["rows"][-1][0] is not None  # a pair has a target
    with Image.open(tmp_path / "grid.png") as image:
        assert image.mode in ("RGB", "RGBA")  # full colour, not a palette
    colorize_sketch.main([str(sketches[0]), "--weights", *weights, "--output-dir", str(tmp_path)])
    assert (tmp_path / "v1_colorized_gan_only.png").exists()  # an image per run, named after it
    assert (tmp_path / "v1_colorized_l1_only.png").exists()
