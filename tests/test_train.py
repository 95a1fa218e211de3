"""Exercise 3's training: the files a run writes, exact --resume, the schedule, the paired jitter,
the held-out split, validation and the figures, and every bad input refused in one sentence. Tiny
synthetic pairs and narrow nets (--ngf 8 --ndf 8) keep each run to seconds."""

import copy
import csv
import io
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

import colorize_sketch
import exercise3_train as ex3
from pix2pix_models import PatchGANDiscriminator, UNetGenerator, generator_at_test_time
from pix2pix_models import init_weights
from tests.exercise3_support import refused, run, write_pairs
from training import run as training_run
from training.data import HOLDOUT_PERCENT, PairedSketchDataset, split_pairs
from training.recipe import lr_factor
from training.run import CHECKPOINT, WEIGHTS
from helpers.lesson import LessonError

pytestmark = pytest.mark.usefixtures("one_thread")  # small networks (tests/conftest.py says why)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One 2-epoch run, shared read-only (copy it to change it); returns (folder, its stdout)."""
    out = tmp_path_factory.mktemp("trained") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", printed := io.StringIO())
        run(data, out, "--epochs", "2")
    return out, printed.getvalue()


@pytest.fixture
def trained_copy(trained, tmp_path):
    return shutil.copytree(trained[0], tmp_path / "out")


def test_a_run_writes_every_promised_file(data, trained, tmp_path):
    out, printed = trained
    header = ["device: cpu", "3 training pairs", "2 validation pairs", "batches per epoch: 2"]
    assert all(fact in printed for fact in [*header, "lambda_L1: 100", "D(real)", "D(fake)"])
    for name in ["exercise3_training_progress.png", "metrics.csv", CHECKPOINT, WEIGHTS]:
        assert (out / name).stat().st_size > 0, name
    for epoch in (1, 2):  # milestones of 2 epochs: a quarter (rounded up) and the end
        assert (out / f"exercise3_epoch_{epoch}.png").exists()
        assert (out / f"exercise3_patchgan_{epoch}.png").exists()
    table = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["epoch"] for r in table] == ["0", "1", "2"]  # row 0: the untrained generator
    assert all(math.isfinite(float(value)) for row in table[1:] for value in row.values())
    assert table[0]["val_SSIM"] == "" and float(table[0]["val_L1"]) > 0
    saved = torch.load(out / WEIGHTS, weights_only=True)  # the format other scripts read
    assert saved.keys() == {"format_version", "model_args", "image_size", "epoch", "state_dict"}
    assert saved["model_args"] == dict(in_channels=3, out_channels=3, ngf=8) and saved["epoch"] == 2
    sketch = str(data / "val" / "sketches" / "v1.png")  # colorize_sketch.py reads the weights
    colorize_sketch.main([sketch, "--weights", str(out / WEIGHTS), "--output-dir", str(tmp_path)])
    assert Image.open(tmp_path / "v1_colorized.png").size == (256, 256)


def test_ctrl_c_then_resume_repeats_the_run_exactly(data, tmp_path, capsys, monkeypatch):
    """Stopped as epoch 3 begins (Ctrl+C), then --resume with workers: the same nets and history
    as one whole run, the learning-rate decay of the last two epochs included."""
    drawn = []  # the epochs that get figures: a quarter of the run (rounded up) and the end
    monkeypatch.setattr(ex3, "save_figures", lambda _, history, *a: drawn.append(history[-1]))
    run(data, tmp_path / "whole", "--epochs", "4")
    assert [row["epoch"] for row in drawn] == [1, 4]

    def ctrl_c_in_epoch_3(epoch, epochs, epochs_decay):
        if epoch == 3:
            raise KeyboardInterrupt
        return lr_factor(epoch, epochs, epochs_decay)

    with monkeypatch.context() as patch:
        patch.setattr(ex3, "lr_factor", ctrl_c_in_epoch_3)
        code, said = refused(capsys, data, tmp_path / "split", "--epochs", "4")
    assert code == 130 and "Interrupted: " in said and "holds epoch 2" in said
    run(data, tmp_path / "split", "--resume", "--workers", "1")
    split, whole = (
        torch.load(tmp_path / d / CHECKPOINT, weights_only=True) for d in ("split", "whole")
    )
    assert split["epoch"] == whole["epoch"] == 4 and split["settings"]["epochs_decay"] == 2
    for key in ("net_G", "net_D"):
        for name, tensor in whole[key].items():
            assert torch.equal(split[key][name], tensor), (key, name)
    for a, b in zip(split["history"], whole["history"], strict=True):  # None: SSIM not measured
        assert a.keys() == b.keys() and all(a[k] == b[k] for k in a if k != "seconds")
    ssim = [row["val_SSIM"] for row in split["history"]]  # at milestones only: it takes time
    assert [value is None for value in ssim] == [True, False, True, True, False]


@pytest.mark.parametrize("epochs, decay", [(200, 100), (6, 3), (7, 0), (5, 5)])
def test_the_learning_rate_follows_the_official_linear_schedule(epochs, decay):
    """The official `--lr_policy linear` (models/networks.py): its epochs count from 0, and its
    scheduler steps after each epoch; the last epoch trains at 1/(decay + 1)."""
    for epoch in range(1, epochs + 1):
        official = 1.0 - max(0, epoch - 1 + 1 - (epochs - decay)) / float(decay + 1)
        assert lr_factor(epoch, epochs, decay) == pytest.approx(official)
    assert lr_factor(epochs, epochs, decay) == pytest.approx(1 / (decay + 1))


def test_figures_change_nothing_in_training(data, trained, tmp_path, monkeypatch):
    """The same run without figures ends with bit-for-bit the same nets, running averages too."""
    monkeypatch.setattr(ex3, "save_figures", lambda *args: None)
    run(data, tmp_path, "--epochs", "2")
    with_figures, without = (
        torch.load(d / CHECKPOINT, weights_only=True) for d in (trained[0], tmp_path)
    )
    for key in ("net_G", "net_D"):
        assert with_figures[key].keys() == without[key].keys()
        assert all(torch.equal(with_figures[key][k], v) for k, v in without[key].items()), key


def test_patchgan_maps_show_ds_training_verdicts(tmp_path, monkeypatch):
    """Each map is D's own 30x30 verdicts on the pair, as in a training step (train-mode
    BatchNorm), laid over the image it judges; D and the random numbers are left as they were."""
    torch.manual_seed(0)
    net_D = init_weights(PatchGANDiscriminator(ndf=8)).train()
    net_D(torch.randn(2, 3, 256, 256), torch.randn(2, 3, 256, 256))  # running averages to lose
    real_A, real_B, fake_B = (torch.rand(3, 3, 256, 256) * 2 - 1 for _ in range(3))
    before, rng = copy.deepcopy(net_D.state_dict()), torch.get_rng_state()
    grids = []
    monkeypatch.setattr(training_run, "save_grid", lambda *args: grids.append(args))
    history = [dict(epoch=1, G_L1=0.3, val_L1=0.3)]
    training_run.save_figures(tmp_path.joinpath, history, 1, net_D, real_A, fake_B, real_B)
    _, maps, titles, *_ = grids[1]
    assert titles == ["sketch (input)", "D on the real pair", "D on the generated pair"]
    for row, images in zip(maps[1:], (real_B, fake_B), strict=True):
        with torch.no_grad():
            expected = torch.sigmoid(copy.deepcopy(net_D)(real_A, images))[:, 0]
        for heat, image, verdicts in zip(row, images, expected, strict=True):
            assert heat.values.shape == (30, 30) and torch.equal(heat.under, image)
            assert torch.allclose(heat.values, verdicts, atol=1e-6)
    assert all(torch.equal(v, before[k]) for k, v in net_D.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)  # nothing random drawn: --resume stays exact


def test_validation_twin_gives_per_image_statistics_without_side_effects():
    """generator_at_test_time: each image normalised by its own statistics (§3.3) with dropout off,
    G's running averages untouched, and G's own weights (it follows every training step)."""
    torch.manual_seed(0)
    net_G, images = init_weights(UNetGenerator(ngf=8)).train(), torch.randn(3, 3, 256, 256)
    net_G(torch.randn(2, 3, 256, 256))  # running averages to lose
    before = copy.deepcopy(net_G.state_dict())
    twin = generator_at_test_time(dict(ngf=8), net_G.state_dict())
    with torch.no_grad():
        together = twin(images)
        assert all(torch.equal(v, before[k]) for k, v in net_G.state_dict().items())
        for dropout in [m for m in net_G.modules() if isinstance(m, torch.nn.Dropout)]:
            dropout.eval()  # the paper's protocol image by image: train-mode BatchNorm, no dropout
        alone = torch.cat([net_G(images[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)
    with torch.no_grad():
        next(net_G.parameters()).add_(1.0)
    assert torch.equal(next(net_G.parameters()), next(twin.parameters()))


def test_jitter_moves_both_images_of_a_pair_alike(tmp_path):
    write_pairs(tmp_path, "train", ["same"], size=256, identical=True)  # sketch == colour
    dataset = PairedSketchDataset(split_pairs(tmp_path)[0], image_size=256)  # one pair: no val
    jittered = [dataset[0, seed] for seed in range(6)]  # (index, jitter seed), as in training
    assert all(a.shape == (3, 256, 256) and torch.equal(a, b) for a, b in jittered)
    assert all(-1 <= a.min() and a.max() <= 1 for a, _ in jittered)
    assert not all(torch.equal(jittered[0][0], a) for a, _ in jittered[1:])  # it does move
    assert torch.equal(dataset[0][0], dataset[0][0])  # validation: resized, never jittered


def test_held_out_split_is_fixed_by_name_and_never_trained_on(tmp_path, capsys):
    code, err = refused(capsys, tmp_path, tmp_path / "out")  # no data yet: how to make some
    assert code == 2 and "preprocess_anime_sketches.py --demo 200" in err
    write_pairs(tmp_path, "train", [f"{i:05d}" for i in range(200)], size=8)
    train, val = split_pairs(tmp_path)
    assert 0 < len(val) < 0.15 * 200 and HOLDOUT_PERCENT == 5
    assert not set(train) & set(val) and len(train) + len(val) == 200
    write_pairs(tmp_path, "train", [f"new{i}" for i in range(50)], size=8, seed=5)  # it grows
    assert set(val) <= set(split_pairs(tmp_path)[1])


def test_pairs_are_read_by_the_rule_verify_checks(data, tmp_path, capsys):
    """A lone file, a folder and a FIFO named like pairs are skipped with a word; an image under
    32x32 is refused in one sentence instead of being blown up to 286x286."""
    odd = shutil.copytree(data / "train", tmp_path / "train")
    shutil.copy(odd / "sketches" / "a.png", odd / "sketches" / "lonely.png")
    for kind in ("sketches", "colors"):
        (odd / kind / "zz.png").mkdir()
        if hasattr(os, "mkfifo"):  # POSIX
            os.mkfifo(odd / kind / "ff.png")
        Image.new("RGB", (2, 1)).save(odd / kind / "a.png")
    pairs = sorted(sum(split_pairs(tmp_path), []))  # a, b, c
    printed = capsys.readouterr().out
    assert len(pairs) == 3 and "lonely.png: no" in printed and "zz.png: it is a folder" in printed
    assert "ff.png: it is a named pipe" in printed or not hasattr(os, "mkfifo")
    with pytest.raises(LessonError, match="a.png is 2x1 pixels, under 32x32; .*--verify"):
        PairedSketchDataset(pairs, 256)[0]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_data_file_broken_during_training_is_one_sentence(data, tmp_path, capsys, workers):
    """A training image replaced by a decompression bomb after the run started: one sentence
    naming it, also when a DataLoader worker process met it."""
    broken = shutil.copytree(data, tmp_path / "data")
    Image.new("L", (12000, 12000)).save(broken / "train" / "colors" / "b.png")  # > 4096 x 4096
    code, err = refused(capsys, broken, tmp_path / "out", "--epochs", "1", "--workers", workers)
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1
    assert "b.png is too large" in errors[0] and "--verify" in errors[0]


# Adam needs 0 <= beta1 < 1; sizes and widths that would only fail in memory; seeds beyond what
# torch, random and numpy accept
BAD = "--epochs 0|--batch-size -4|--lr nan|--lr inf|--ngf x|--beta1 1.5|--beta1 1|--beta1 inf|"
BAD += "--lambda-l1 inf|--image-size 300|--image-size 2560000|--ngf 100000000|--ndf 0|--seed -1"


@pytest.mark.parametrize(
    "flag, value", [case.split() for case in BAD.split("|")] + [("--seed", str(2**32))]
)
def test_bad_numbers_are_one_sentence_before_any_work(data, tmp_path, capsys, flag, value):
    code, err = refused(capsys, data, tmp_path / "o", flag, value)
    assert code == 2 and flag in err and "Traceback" not in err and err.count("error:") == 1
    assert not (tmp_path / "o").exists()


def test_paths_expand_the_home_folder():
    args = ex3.parse_args(["--data", "~/sets", "--output-dir", "~/run"])
    assert (args.data, args.output_dir) == (Path.home() / "sets", Path.home() / "run")


def test_the_quick_preset_and_help_say_what_they_change(capsys):
    with pytest.raises(SystemExit):
        ex3.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # wrapped at "-"
    assert all(f"--{k.replace('_', '-')} {v}" in help_text for k, v in ex3.QUICK.items())
    assert "(default: 100)" in help_text and "(default: 0.0002)" in help_text
    args = ex3.parse_args([])  # the paper's recipe and networks, 100 epochs at batch 4
    assert (args.lr, args.beta1, args.lambda_l1, args.ngf, args.ndf) == (2e-4, 0.5, 100, 64, 64)
    assert (args.epochs, args.batch_size, args.image_size) == (100, 4, 256)
    quick = vars(ex3.parse_args(["--quick", "--epochs", "3"]))
    assert {k: quick[k] for k in ex3.QUICK} == {**ex3.QUICK, "epochs": 3}  # a typed flag wins
    assert quick["typed"] == {"quick", "epochs"} and quick["beta1"] == 0.5


@pytest.mark.parametrize(
    "trained_before, flags",
    [(False, ["--lr", "1e308"]), (False, ["--lambda-l1", "1e308"]), (True, [])],
)
def test_a_diverging_run_says_what_was_kept_and_what_to_change(
    data, trained_copy, capsys, monkeypatch, trained_before, flags
):
    """A NaN loss stops before anything is saved; the message says whether an epoch was kept and
    suggests the flag that fits (a huge --lambda-l1 before --lr)."""
    good = (trained_copy / CHECKPOINT).read_bytes()
    nan = dict(G_GAN=math.nan, G_L1=0.1, D_real=0.5, D_fake=0.5, D_of_real=0.5, D_of_fake=0.5)
    monkeypatch.setattr(ex3, "train_step", lambda *args: nan)
    out = trained_copy if trained_before else trained_copy.parent / "new"
    resume = ["--resume", "--epochs", "3"] if trained_before else []
    code, err = refused(capsys, data, out, *resume, *flags)
    assert code == 2 and "G_GAN" in err and "nan" in err and "diverged" in err
    kept = "keeps epoch 2, the last good one" if trained_before else "nothing was saved yet"
    assert kept in err and ("--lambda-l1 or --lr" in err) == ("--lambda-l1" in flags)
    assert (trained_copy / CHECKPOINT).read_bytes() == good


@pytest.mark.parametrize("batch, advice", [("4", "--batch-size 2"), ("1", "--image-size")])
def test_out_of_memory_suggests_what_can_help(data, tmp_path, capsys, monkeypatch, batch, advice):
    def oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ex3, "train_step", oom)
    code, err = refused(capsys, data, tmp_path, "--batch-size", batch, "--epochs", "1")
    assert code == 2 and "out of memory" in err and advice in err


def test_a_busy_machine_is_told_about_omp_wait_policy(data, tmp_path, capsys, monkeypatch):
    """A load above the cores makes spinning threads wait for descheduled ones: the run says what
    to do, unless OMP_WAIT_POLICY is set (docs/troubleshooting.rst has the figures)."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    run(data, tmp_path / "a", "--epochs", "1")
    said = capsys.readouterr().out
    assert "busy (load 9.0 on 2 cores): start Python with OMP_WAIT_POLICY" in said
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    run(data, tmp_path / "b", "--epochs", "1")
    assert "machine is busy" not in capsys.readouterr().out
