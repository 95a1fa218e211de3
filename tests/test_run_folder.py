"""Exercise 3's output folder when things go wrong: two runs at once, SIGTERM, Ctrl+C during a save,
a full disk, and the flags --resume and --restart used wrongly. Nothing a run kept may be lost, and
whatever a run says about the files it kept must be true."""

import os
import resource
import shutil
import signal

import pytest
import torch
from PIL import Image

import exercise3_train as ex3
import training.data
from facades_generator import open_generator
from tests.exercise3_support import TINY, exit_code_and_error, interrupt_when, run, start_training
from training import run as training_run
from training.run import CHECKPOINT, LOCK, METRICS, WEIGHTS

pytestmark = pytest.mark.usefixtures("one_thread")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and resource limits")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A finished 2-epoch run (read-only for the tests: copy it to change it)."""
    out = tmp_path_factory.mktemp("runs") / "trained"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", open(os.devnull, "w"))
        run(data, out, "--epochs", "2")
    return out


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def copy_of(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "out")
    return tmp_path / "out"


@posix_only
@pytest.mark.slow
def test_a_second_run_into_the_same_folder_names_the_running_one(data, tmp_path, capsys):
    out = tmp_path / "out"
    first = start_training(data, out)
    try:
        for line in first.stdout:  # wait until the first run holds the folder
            if line.startswith("Exercise 3"):
                break
        for flags in ([], ["--restart"], ["--resume"]):
            code, err = exit_code_and_error(
                capsys, ["--data", str(data), "--output-dir", str(out), *TINY, *flags]
            )
            assert code == 2 and f"another run is training into {out}" in err, err
            assert f"pid {first.pid}" in err and "exercise3_train.py" in err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    run(data, out, "--epochs", "1", "--restart")  # the lock went with the first run
    assert not (out / LOCK).exists()


@posix_only
@pytest.mark.slow
def test_sigterm_is_ctrl_c(data, tmp_path):
    """A closed laptop lid or a cluster's time limit: the same message and exit as Ctrl+C, and the
    files say the same epoch (metrics.csv is never ahead of the checkpoint)."""
    out = tmp_path / "out"
    proc = start_training(data, out)
    stdout, stderr = interrupt_when(
        proc, lambda line: line.startswith("epoch 2/"), signum=signal.SIGTERM
    )
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    saved = torch.load(out / CHECKPOINT, weights_only=True)["epoch"]
    assert f"Interrupted: {out} holds epoch {saved} " in stdout
    assert torch.load(out / WEIGHTS, weights_only=True)["epoch"] == saved
    assert (out / METRICS).read_text().splitlines()[-1].startswith(f"{saved},")
    assert not list(out.glob(".*"))  # no lock, no .part file


def test_ctrl_c_while_saving_keeps_every_earlier_file(trained, tmp_path, data, capsys, monkeypatch):
    """--restart over a finished run, interrupted while its first epoch's files are being
    written."""
    out = copy_of(trained, tmp_path)
    before = snapshot(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training_run, "save_checkpoint", interrupted)
    with pytest.raises(SystemExit) as exc:
        ex3.main(
            ["--data", str(data), "--output-dir", str(out), *TINY, "--epochs", "1", "--restart"]
        )
    assert exc.value.code == 130 and "nothing was saved" in capsys.readouterr().out
    assert snapshot(out) == before  # metrics.csv and the progress plot too


def test_a_restart_replaces_the_whole_earlier_run(trained, tmp_path, data):
    out = copy_of(trained, tmp_path)
    run(data, out, "--epochs", "1", "--restart")
    assert not (out / "exercise3_epoch_2.png").exists()  # the earlier run's figures went with it
    assert torch.load(out / CHECKPOINT, weights_only=True)["epoch"] == 1


def limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


@posix_only
def test_a_full_disk_is_one_sentence_and_keeps_the_last_epoch(trained, tmp_path, data):
    out = copy_of(trained, tmp_path)
    before = snapshot(out)
    proc = start_training(data, out, "--resume", setup=limit_file_size)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    error = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"could not write epoch 3's files into {out}" in error[0]
    assert "is the disk full? the files of epoch 2 are kept" in error[0].replace("The", "the")
    assert snapshot(out) == before  # nothing half-written, no .part file


def test_resume_and_restart_together_is_refused(trained, data, capsys):
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(trained), "--resume", "--restart"]
    )
    assert code == 2 and "choose one" in err


def test_resume_blames_only_flags_that_were_typed(data, tmp_path, capsys):
    """--quick --resume over a --quick --ngf 8 run: --quick's ngf 16 was never typed; it resumes."""
    out = tmp_path / "out"
    small = ["--max-images", "3", "--val-images", "1", "--batch-size", "2"]
    ex3.main(
        [
            "--data",
            str(data),
            "--output-dir",
            str(out),
            "--quick",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--epochs",
            "1",
            *small,
        ]
    )
    ex3.main(
        ["--data", str(data), "--output-dir", str(out), "--quick", "--epochs", "2", "--resume"]
    )
    assert open_generator(out / WEIGHTS)[0].down1[0].out_channels == 8
    code, err = exit_code_and_error(
        capsys,
        ["--data", str(data), "--output-dir", str(out), "--quick", "--ngf", "16", "--resume"],
    )
    assert code == 2 and "was trained with --ngf 8, not 16; drop --ngf" in err


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(2**63), str(2**70)])
def test_seeds_outside_32_bits_are_refused_before_any_work(data, tmp_path, capsys, seed):
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(tmp_path / "o"), "--seed", seed]
    )
    assert code == 2 and "--seed" in err and not (tmp_path / "o").exists()


def test_more_workers_than_cores_are_capped_with_a_note(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training.data, "cpu_cores", lambda: 1)
    run(data, tmp_path / "out", "--epochs", "1", "--workers", "32")
    assert "--workers 32 is more than the 1 cores; using 1" in capsys.readouterr().out


def test_a_checkpoint_with_nan_weights_is_refused(trained, tmp_path, data, capsys):
    out = copy_of(trained, tmp_path)
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    weight = ckpt["net_G"]["down1.0.weight"]
    weight[0, 0, 0, 0] = float("nan")
    torch.save(ckpt, out / CHECKPOINT)
    code, err = exit_code_and_error(
        capsys, ["--data", str(data), "--output-dir", str(out), "--resume", "--epochs", "3"]
    )
    assert code == 2 and "holds NaN or infinite weights" in err


@posix_only
def test_training_reads_the_pairs_verify_reads(data, tmp_path, capsys):
    """A folder and a FIFO named like pairs are skipped with a word (as --verify reports them); an
    image under 32x32 is refused in one sentence instead of being blown up to 286x286."""
    odd = tmp_path / "data"
    shutil.copytree(data, odd)
    for kind in ("sketches", "colors"):
        (odd / "train" / kind / "zz.png").mkdir()
        os.mkfifo(odd / "train" / kind / "ff.png")
    run(odd, tmp_path / "out", "--epochs", "1")
    printed = capsys.readouterr().out
    assert "ff.png: it is a named pipe (FIFO), not an image file" in printed
    assert "zz.png: it is a folder, not an image file" in printed and "3 training pairs" in printed
    for kind in ("sketches", "colors"):
        Image.new("RGB", (2, 1)).save(odd / "train" / kind / "a.png")
    code, err = exit_code_and_error(
        capsys, ["--data", str(odd), "--output-dir", str(tmp_path / "o2"), *TINY, "--epochs", "1"]
    )
    assert code == 2 and "a.png is 2x1 pixels, under 32x32" in err and "--verify" in err
