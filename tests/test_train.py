"""Exercise 3 training: outputs, exact resume, Ctrl+C, the paired jitter, the held-out split and the
failure messages. Tiny synthetic pairs and narrow nets (--ngf 8 --ndf 8) keep each run to
seconds."""

import copy
import csv
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from PIL import Image

import colorize_sketch
import exercise3_train as ex3
from facades_generator import open_generator
from helpers.lesson import LessonError
from helpers.lesson import current_umask
from pix2pix_models import (
    PatchGANDiscriminator,
    UNetGenerator,
    init_weights,
    generator_at_test_time,
)
from tests.exercise3_support import (
    TINY,
    exit_code_and_error,
    interrupt_when,
    run,
    start_training,
    write_pairs,
)
from speed import precision
from training import figures, recipe
from training.data import HOLDOUT_PERCENT, PairedSketchDataset, find_pairs, split_pairs
from helpers.lesson import write_csv
from training.recipe import validate
from training.run import CHECKPOINT, WEIGHTS, EpochFiles, epoch_line

# small networks: one thread (tests/conftest.py says why)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One 2-epoch run, shared (read-only) by the tests below; its stdout is kept for the header
    test."""
    out = tmp_path_factory.mktemp("trained")
    capture = out.parent / "stdout.txt"
    with open(capture, "w") as stdout, pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", stdout)
        run(data, out, "--epochs", "2")
    return out, capture.read_text()


@pytest.fixture
def trained_copy(trained, tmp_path):
    shutil.copytree(trained[0], tmp_path / "out")
    return tmp_path / "out"


def test_milestones_are_a_quarter_and_the_end():
    assert ex3.milestone_epochs(100) == [25, 100]
    assert ex3.milestone_epochs(6) == [2, 6]  # --quick
    assert ex3.milestone_epochs(2) == [1, 2]
    assert ex3.milestone_epochs(1) == [1]


def official_linear_factor(epoch_index, n_epochs, n_epochs_decay, epoch_count=1):
    """The official `--lr_policy linear` rule (models/networks.py, get_scheduler), rebuilt: its
    epoch index counts from 0 and the scheduler steps after each epoch."""
    return 1.0 - max(0, epoch_index + epoch_count - n_epochs) / float(n_epochs_decay + 1)


@pytest.mark.parametrize("epochs, decay", [(200, 100), (6, 3), (7, 0), (5, 5)])
def test_the_learning_rate_follows_the_official_linear_schedule(epochs, decay):
    for epoch in range(1, epochs + 1):
        expected = official_linear_factor(epoch - 1, epochs - decay, decay)
        assert recipe.lr_factor(epoch, epochs, decay) == pytest.approx(expected)
    assert recipe.lr_factor(epochs, epochs, decay) == pytest.approx(1 / (decay + 1))


def test_ssim_is_measured_at_milestones_and_left_empty_elsewhere(data, tmp_path):
    """SSIM costs as much as the rest of validation: measured at milestones, an empty cell (and no
    SSIM in the epoch line) elsewhere; L1 and PSNR every epoch."""
    pairs = PairedSketchDataset(find_pairs(data / "val"), 256)
    loader = torch.utils.data.DataLoader(pairs, batch_size=2)
    net_G = generator_at_test_time(dict(ngf=8), init_weights(UNetGenerator(ngf=8)).state_dict())
    full = validate(net_G, loader, torch.device("cpu"))
    quick = validate(net_G, loader, torch.device("cpu"), with_ssim=False)
    assert 0 < full["val_SSIM"] < 1 and quick["val_SSIM"] is None
    assert quick["val_L1"] == full["val_L1"] and quick["val_PSNR"] == full["val_PSNR"]
    args = ex3.parse_args(["--epochs", "3"])
    row = dict(epoch=3, G_L1=0.2, seconds=1.0, **quick)
    assert "PSNR" in epoch_line(row, args) and "SSIM" not in epoch_line(row, args)
    assert "SSIM" in epoch_line({**row, **full}, args)
    write_csv([dict(epoch=0, **quick), row], tmp_path / "m.csv")
    assert list(csv.DictReader(open(tmp_path / "m.csv")))[1]["val_SSIM"] == ""


def test_smoke_run_writes_every_promised_file(data, trained, tmp_path):
    out, printed = trained
    for fact in (
        "device: cpu",
        "3 training pairs",
        "2 validation pairs",
        "batches per epoch: 2",
        "lambda_L1: 100",
        "D(real)",
        "D(fake)",
    ):
        assert fact in printed
    for name in (
        "exercise3_epoch_1.png",
        "exercise3_epoch_2.png",
        "exercise3_patchgan_1.png",
        "exercise3_patchgan_2.png",
        "exercise3_training_progress.png",
        "metrics.csv",
        "exercise3_checkpoint.pth",
        "generator_weights.pth",
    ):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]  # row 0: the untrained generator
    for row in rows[1:]:
        for key in (
            "G_GAN",
            "G_L1",
            "D_real",
            "D_fake",
            "D_of_real",
            "D_of_fake",
            "val_L1",
            "val_PSNR",
            "val_SSIM",
            "seconds",
        ):
            assert math.isfinite(float(row[key])), key
    assert rows[0]["val_SSIM"] == "" and float(rows[0]["val_L1"]) > 0  # row 0: L1 and PSNR

    net_G, _, size = open_generator(out / "generator_weights.pth")  # one call rebuilds it
    saved = torch.load(out / "generator_weights.pth", weights_only=True)
    assert (
        saved["model_args"] == {"in_channels": 3, "out_channels": 3, "ngf": 8}
        and saved["epoch"] == 2
    )
    sketch = data / "val" / "sketches" / "v1.png"
    assert (
        colorize_sketch.colorize(net_G, Image.open(sketch), size).size == (256, 256) == (size, size)
    )
    colorize_sketch.main(
        [
            str(sketch),
            "--weights",
            str(out / "generator_weights.pth"),
            "--output-dir",
            str(tmp_path),
        ]
    )
    with Image.open(tmp_path / "v1_colorized.png") as coloured:
        # the user's umask, not mkstemp's private 0600
        assert coloured.size == (256, 256) and oct(
            os.stat(tmp_path / "v1_colorized.png").st_mode & 0o777
        ) == oct(0o666 & ~current_umask())


def test_ctrl_c_then_resume_repeats_the_run_exactly(data, tmp_path, monkeypatch, capsys):
    """Stopped as epoch 3 begins (Ctrl+C), then --resume: the same nets and history as one whole
    run, the learning-rate decay of the last two epochs included."""
    # Pictures only (the smoke test checks them); the PatchGAN maps stay: they run D, which must not
    # matter.
    for figure in ("previews", "metrics"):
        monkeypatch.setattr(EpochFiles, figure, lambda *args, **kwargs: None)
    run(data, tmp_path / "whole", "--epochs", "4")

    def ctrl_c_in_epoch_3(epoch, epochs, epochs_decay, real=ex3.lr_factor):
        if epoch == 3:
            raise KeyboardInterrupt
        return real(epoch, epochs, epochs_decay)

    with monkeypatch.context() as patch:
        patch.setattr(ex3, "lr_factor", ctrl_c_in_epoch_3)
        code, _ = exit_code_and_error(
            capsys,
            ["--data", str(data), "--output-dir", str(tmp_path / "split"), *TINY, "--epochs", "4"],
        )
    assert (
        code == 130 and torch.load(tmp_path / "split" / CHECKPOINT, weights_only=True)["epoch"] == 2
    )
    run(data, tmp_path / "split", "--resume", "--workers", "1")  # workers must not matter
    split, whole = (
        torch.load(tmp_path / d / CHECKPOINT, weights_only=True) for d in ("split", "whole")
    )
    assert split["epoch"] == whole["epoch"] == 4 and split["settings"]["epochs_decay"] == 2
    for key in ("net_G", "net_D"):
        for name, tensor in whole[key].items():
            assert torch.allclose(split[key][name].float(), tensor.float(), atol=1e-6), (key, name)
    for a, b in zip(split["history"], whole["history"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == pytest.approx(
            {k: v for k, v in b.items() if k != "seconds"}, rel=1e-5
        )


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT, as Ctrl+C does in a terminal")
@pytest.mark.slow  # trains in a child process until a signal stops it
def test_ctrl_c_saves_the_generator_and_exits_cleanly(data, tmp_path):
    out = tmp_path / "out"
    proc = start_training(data, out)
    # Wait until a whole epoch is trained and checkpointed (the epoch line comes just before the
    # checkpoint).
    stdout, stderr = interrupt_when(
        proc, lambda line: (out / CHECKPOINT).exists() and "epoch" in line
    )
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and f"Interrupted: {out} holds epoch " in stdout
    assert f"exercise3_train.py --resume --output-dir {out}` goes on" in stdout
    saved = torch.load(out / CHECKPOINT, weights_only=True)["epoch"]
    assert saved >= 1 and f"holds epoch {saved} " in stdout  # what it says it kept is what is there
    assert torch.load(out / WEIGHTS, weights_only=True)["epoch"] == saved
    assert isinstance(open_generator(out / WEIGHTS)[0], UNetGenerator)
    assert not list(out.glob(".*"))  # no lock, no half-written file left behind


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT, as Ctrl+C does in a terminal")
@pytest.mark.slow  # trains in a child process until a signal stops it
def test_ctrl_c_before_the_first_epoch_ends_keeps_the_earlier_run(trained, tmp_path):
    """--restart into a trained folder, stopped at once: the earlier run's files are left exactly as
    they were."""
    big = tmp_path / "big"
    write_pairs(big, "train", [f"p{i:02d}" for i in range(40)])  # 20 steps: seconds for one epoch
    write_pairs(big, "val", ["v1"], seed=1)
    out = tmp_path / "out"
    shutil.copytree(trained[0], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = start_training(big, out, "--restart")
    stdout, stderr = interrupt_when(proc, lambda line: line.startswith("Exercise 3: pix2pix"))
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "nothing was saved" in stdout or "nothing was written" in stdout
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no lock file left either


def test_a_fresh_run_never_replaces_another_runs_results(data, trained, capsys):
    out = trained[0]
    before = (out / WEIGHTS).read_bytes()
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(out), *TINY, "--epochs", "1"]
    )
    assert code == 2 and "already holds a run" in err
    for choice in ("--resume", "--output-dir", "--restart"):
        assert choice in err
    assert (out / WEIGHTS).read_bytes() == before


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--epochs", "0"),
        ("--epochs", "-3"),
        ("--batch-size", "0"),
        ("--batch-size", "-4"),
        ("--lr", "-1"),
        ("--lr", "nan"),
        ("--ngf", "x"),
    ],
)
def test_bad_numbers_are_one_sentence_before_any_work(data, tmp_path, capsys, flag, value):
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(tmp_path / "o"), flag, value]
    )
    assert (
        code == 2 and flag in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root can write into read-only folders"
)
def test_read_only_output_dir_fails_before_training(data, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, err = exit_code_and_error(
            capsys, ["--data", str(data), "--output-dir", str(locked), *TINY]
        )
    finally:
        locked.chmod(0o700)
    assert code == 2 and "cannot write into --output-dir" in err


def test_impossible_output_dir_fails_before_training(data, tmp_path, capsys):
    (tmp_path / "a_file").write_text("a file where a folder should be")
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(tmp_path / "a_file" / "out"), *TINY]
    )
    assert code == 2 and "cannot write into --output-dir" in err and "Traceback" not in err


def test_no_dataset_says_how_to_make_one(tmp_path, capsys):
    code, err = exit_code_and_error(
        capsys, ["--data", str(tmp_path / "nothing"), "--output-dir", str(tmp_path)]
    )
    assert code == 2 and "preprocess_anime_sketches.py --demo 200" in err and "Traceback" not in err


def test_unpaired_files_are_named_and_skipped(tmp_path, capsys):
    write_pairs(tmp_path, "train", ["a", "b"], size=8)
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "sketches" / "lonely.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "colors" / "alone.png")
    assert [s.stem for s, _ in find_pairs(tmp_path / "train")] == ["a", "b"]
    printed = capsys.readouterr().out
    assert "lonely.png" in printed and "alone.png" in printed


def test_resume_without_or_with_a_corrupt_checkpoint_fails_clearly(data, tmp_path, capsys):
    base = ["--data", str(data), "--output-dir", str(tmp_path), "--resume"]
    code, err = exit_code_and_error(capsys, base)
    assert code == 2 and CHECKPOINT in err and "without --resume" in err
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint, half a download")
    code, err = exit_code_and_error(capsys, base)
    assert code == 2 and "damaged" in err and CHECKPOINT in err and "Traceback" not in err


def test_resume_refuses_other_network_settings(data, trained, capsys):
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(trained[0]), "--resume", "--ngf", "16"]
    )
    assert code == 2 and "--ngf 8" in err


def test_jitter_moves_both_images_of_a_pair_alike(tmp_path):
    # sketch == colour, pure noise
    write_pairs(tmp_path, "train", ["same"], size=256, identical=True)
    dataset = PairedSketchDataset(find_pairs(tmp_path / "train"), image_size=256)
    outputs = []
    for seed in range(6):
        real_A, real_B = dataset[(0, seed)]
        assert real_A.shape == (3, 256, 256) and torch.equal(real_A, real_B)
        assert -1 <= real_A.min() and real_A.max() <= 1
        outputs.append(real_A)
    # the jitter really moves things
    assert not all(torch.equal(outputs[0], o) for o in outputs[1:])
    plain_A, plain_B = dataset[0]  # validation items: resized, never jittered
    assert torch.equal(plain_A, dataset[0][0]) and torch.equal(plain_A, plain_B)


def test_held_out_split_never_contains_training_images(tmp_path):
    names = [f"{i:05d}" for i in range(200)]
    write_pairs(tmp_path, "train", names, size=8)
    train, val, where = split_pairs(tmp_path)
    assert "held out" in where and 0 < len(val) < 0.15 * len(names)
    assert not {s for s, _ in train} & {s for s, _ in val}
    assert len(train) + len(val) == len(names)
    write_pairs(tmp_path, "train", [f"new{i}" for i in range(50)], size=8, seed=5)  # the set grows
    _, val_after, _ = split_pairs(tmp_path)
    # held-out names stay held out
    assert {s.stem for s, _ in val} <= {s.stem for s, _ in val_after}
    assert HOLDOUT_PERCENT == 5


def test_validation_twin_gives_per_image_statistics_without_side_effects():
    torch.manual_seed(0)
    net_G = init_weights(UNetGenerator(ngf=8)).train()
    for _ in range(3):  # give the running averages something to lose
        net_G(torch.randn(2, 3, 256, 256))
    before = {k: v.clone() for k, v in net_G.state_dict().items()}
    twin = generator_at_test_time(dict(in_channels=3, out_channels=3, ngf=8), net_G.state_dict())
    images = torch.randn(3, 3, 256, 256)
    with torch.no_grad():
        batch_out = twin(images)
    for name, value in net_G.state_dict().items():
        assert torch.equal(value, before[name]), name  # the twin moved no running average of G's
    with torch.no_grad():
        # the paper's protocol, image by image: train-mode BN, dropout off
        for m in net_G.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
        alone = torch.cat([net_G(images[i : i + 1]) for i in range(3)])
    assert torch.allclose(batch_out, alone, atol=1e-5)
    with torch.no_grad():  # it holds G's own weights, not a copy: it follows every training step
        next(net_G.parameters()).add_(1.0)
    assert torch.equal(next(net_G.parameters()), next(twin.parameters()))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data, trained_copy, capsys, monkeypatch):
    with pytest.raises(LessonError, match="diverged"):
        ex3.check_finite({"G_GAN": 0.7, "G_L1": float("nan")}, 3, Path("ckpt.pth"))
    ex3.check_finite({"G_GAN": 0.7, "G_L1": 0.2}, 3, Path("ckpt.pth"))  # finite: no complaint

    good = (trained_copy / CHECKPOINT).read_bytes()
    monkeypatch.setattr(
        ex3,
        "train_step",
        lambda *a: dict(
            G_GAN=float("nan"), G_L1=0.1, D_real=0.5, D_fake=0.5, D_of_real=0.5, D_of_fake=0.5
        ),
    )
    capsys.readouterr()
    code, err = exit_code_and_error(
        capsys,
        ["--data", str(data), "--output-dir", str(trained_copy), "--resume", "--epochs", "3"],
    )
    assert code == 2 and "G_GAN" in err and "nan" in err and CHECKPOINT in err
    assert (trained_copy / CHECKPOINT).read_bytes() == good


def test_out_of_memory_suggests_a_smaller_batch(data, tmp_path, capsys, monkeypatch):
    def oom(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ex3, "train_step", oom)
    code, err = exit_code_and_error(
        capsys,
        [
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path),
            *TINY,
            "--batch-size",
            "4",
            "--epochs",
            "1",
        ],
    )
    assert code == 2 and "--batch-size 2" in err


def test_quick_preset_and_help_say_what_they_change(capsys):
    with pytest.raises(SystemExit):
        ex3.main(["--help"])
    # argparse wraps at "-"
    help_text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    for key, value in ex3.QUICK.items():
        assert f"--{key.replace('_', '-')} {value}" in help_text
    paper = vars(ex3.parse_args([]))  # the defaults are the paper's values
    assert (paper["epochs"], paper["batch_size"], paper["lr"], paper["beta1"]) == (
        100,
        4,
        2e-4,
        0.5,
    )
    assert (paper["lambda_l1"], paper["image_size"], paper["ngf"], paper["ndf"]) == (
        100,
        256,
        64,
        64,
    )
    quick = vars(ex3.parse_args(["--quick", "--epochs", "3"]))
    assert {k: quick[k] for k in ex3.QUICK} == {**ex3.QUICK, "epochs": 3}  # a typed flag wins
    assert (
        quick["typed"] == {"quick", "epochs"}
        and quick["lr"] == ex3.QUICK["lr"]
        and quick["beta1"] == 0.5
    )


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_data_file_broken_during_training_is_one_sentence(data, tmp_path, capsys, workers):
    """A training image replaced by a decompression bomb (or anything unreadable) after the run
    started: one sentence naming it, also when a DataLoader worker process met it."""
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    bomb = broken / "train" / "colors" / "b.png"
    Image.new("L", (12000, 12000)).save(bomb)  # 144 million pixels: over Pillow's safety limit
    code, err = exit_code_and_error(
        capsys,
        [
            "--data",
            str(broken),
            "--output-dir",
            str(tmp_path / "out"),
            *TINY,
            "--epochs",
            "1",
            "--workers",
            workers,
        ],
    )
    # tqdm's bar separates its updates with \r
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1
    assert (
        f"training image {bomb} is too large to open safely" in errors[0]
        and "--verify" in errors[0]
    )


def test_patchgan_maps_change_nothing_in_training(data, trained, tmp_path, monkeypatch):
    """The same run with the maps left out ends with bit-for-bit the same nets, D's running averages
    included."""
    monkeypatch.setattr(EpochFiles, "patchgan_maps", lambda *args, **kwargs: None)
    run(data, tmp_path, "--epochs", "2")
    assert not list(tmp_path.glob("exercise3_patchgan_*.png"))
    with_maps, without = (
        torch.load(d / CHECKPOINT, weights_only=True) for d in (trained[0], tmp_path)
    )
    for key in ("net_G", "net_D"):
        assert with_maps[key].keys() == without[key].keys()
        for name, tensor in without[key].items():
            assert torch.equal(with_maps[key][name], tensor), (key, name)


def test_patchgan_verdicts_are_ds_training_verdicts_without_touching_d(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net_D = init_weights(PatchGANDiscriminator(ndf=8)).train()
    for _ in range(3):  # give the running averages something to lose
        net_D(torch.randn(2, 3, 256, 256), torch.randn(2, 3, 256, 256))
    real_A, real_B, fake_B = (torch.rand(3, 3, 256, 256) * 2 - 1 for _ in range(3))
    before, rng = {k: v.clone() for k, v in net_D.state_dict().items()}, torch.get_rng_state()
    verdicts = figures.patchgan_verdicts(net_D, real_A, real_B)
    # what D itself says in a training step (train mode: this batch's statistics)
    with torch.no_grad():
        expected = torch.sigmoid(copy.deepcopy(net_D)(real_A, real_B))[:, 0]
    assert verdicts.shape == (3, 30, 30) and torch.allclose(verdicts, expected, atol=1e-6)
    # buffers did not move
    assert all(torch.equal(v, before[k]) for k, v in net_D.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)  # nothing random drawn: --resume stays exact

    drawn = {}
    monkeypatch.setattr(
        figures,
        "save_grid",
        lambda path, rows, row_titles, **kw: drawn.update(rows=rows, titles=row_titles),
    )
    figures.save_patchgan_maps(tmp_path / "maps.png", "t", net_D, real_A, real_B, fake_B)
    assert drawn["titles"] == ["sketch (input)", "D on the real pair", "D on the generated pair"]
    assert [len(row) for row in drawn["rows"]] == [3, 3, 3]
    for row, under in zip(drawn["rows"][1:], (real_B, fake_B), strict=True):
        for i, heat in enumerate(row):  # a 30x30 probability map laid over the image it judges
            assert (heat.vmin, heat.vmax, heat.values.shape) == (
                0.0,
                1.0,
                (30, 30),
            ) and torch.equal(heat.under, under[i])


def test_a_busy_machine_is_told_about_omp_wait_policy(data, tmp_path, capsys, monkeypatch):
    """Other programs on the cores (a load average above their number) make spinning threads wait
    for descheduled ones: the run says what to do (docs/troubleshooting.rst has the figures)."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    run(data, tmp_path / "out", "--epochs", "1")
    note = "note: this machine is busy (load 9.0 on 2 cores): start Python with OMP_WAIT_POLICY"
    assert note in capsys.readouterr().out
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert precision.busy_note() is None
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.5, 1.5))
    assert precision.busy_note() is None
