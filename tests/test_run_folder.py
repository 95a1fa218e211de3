"""Exercise 3's output folder when things go wrong: two runs at once, Ctrl+C and SIGTERM (also while
saving), a full disk, and --resume and --restart used wrongly. Nothing a run kept may be lost, and
what a run says about the files it kept must be true."""

import errno
import io
import os
import shutil
import signal

import pytest
import torch

import exercise3_train as ex3
from facades_generator import open_generator
from tests.exercise3_support import interrupt_when, refused, run, start_training
from training import run as training_run
from training.run import CHECKPOINT, LOCK, METRICS, WEIGHTS

pytestmark = pytest.mark.usefixtures("one_thread")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A finished 2-epoch run (read-only for the tests: copy it to change it)."""
    out = tmp_path_factory.mktemp("runs") / "trained"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", io.StringIO())
        run(data, out, "--epochs", "2")
    return out


@pytest.fixture
def copy(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "out")


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@posix_only
@pytest.mark.slow  # a second run while the first trains in its own process
def test_a_second_run_into_the_same_folder_names_the_running_one(data, tmp_path, capsys):
    out = tmp_path / "out"
    first = start_training(data, out)
    try:
        next(line for line in first.stdout if line.startswith("Exercise 3"))  # it holds the folder
        for flags in ([], ["--restart"], ["--resume"]):
            code, err = refused(capsys, data, out, *flags)
            assert code == 2 and f"another run is training into {out}" in err, err
            assert f"pid {first.pid}" in err and "exercise3_train.py" in err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    run(data, out, "--epochs", "1", "--restart")  # the lock went with the first run
    assert not (out / LOCK).exists()


@posix_only
@pytest.mark.slow  # trains in a child process until a signal stops it
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_keeps_the_last_epoch_and_says_so(data, tmp_path, signum):
    """Ctrl+C, a closed lid or a cluster's time limit: exit 130, no traceback, and the files say
    the epoch the message names (metrics.csv is never ahead of the checkpoint)."""
    out = tmp_path / "out"
    proc = start_training(data, out)
    stdout, stderr = interrupt_when(proc, lambda line: line.startswith("epoch 2/"), signum)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    saved = torch.load(out / CHECKPOINT, weights_only=True)["epoch"]
    assert f"Interrupted: {out} holds epoch {saved} " in stdout and saved >= 1
    assert f"exercise3_train.py --resume --output-dir {out}` goes on" in stdout
    assert torch.load(out / WEIGHTS, weights_only=True)["epoch"] == saved
    assert (out / METRICS).read_text().splitlines()[-1].startswith(f"{saved},")
    assert open_generator(out / WEIGHTS)[0] is not None
    assert not list(out.glob(".*"))  # no lock, no half-written file left behind


def test_ctrl_c_while_saving_keeps_every_earlier_file(copy, data, capsys, monkeypatch):
    """--restart over a finished run, interrupted (before or) while its first epoch's files are
    written: the earlier run's files stay as they were."""
    before = snapshot(copy)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ex3, "save_epoch", interrupted)
    code, said = refused(capsys, data, copy, "--epochs", "1", "--restart")
    assert code == 130 and "nothing was saved" in said
    assert snapshot(copy) == before  # metrics.csv and the progress plot too


def test_a_restart_replaces_the_whole_earlier_run(copy, data):
    run(data, copy, "--epochs", "1", "--restart")
    assert not (copy / "exercise3_epoch_2.png").exists()  # the earlier run's figures went too
    assert torch.load(copy / CHECKPOINT, weights_only=True)["epoch"] == 1


def test_a_full_disk_is_one_sentence_and_keeps_the_last_epoch(copy, data, capsys, monkeypatch):
    """The checkpoint's write fails for want of space (torch.save raises a RuntimeError while
    handling the file's OSError): one sentence, and epoch 2's files as they were."""
    before = snapshot(copy)

    class FullDisk(io.BytesIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(training_run, "open", lambda path, mode: FullDisk(), raising=False)
    code, err = refused(capsys, data, copy, "--resume", "--epochs", "3")
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1
    assert f"could not write epoch 3's files into {copy}" in err and "disk full" in err
    assert "epoch 2's files are kept" in err
    assert snapshot(copy) == before  # nothing half-written, no .part file


@pytest.mark.parametrize(
    "flags, damage, words",
    [
        (["--epochs", "1"], None, ["already holds a run", "--resume", "--restart"]),
        (["--resume", "--restart"], None, ["--restart", "not allowed with", "--resume"]),
        (["--resume", "--ngf", "16"], None, ["trained with --ngf 8, not 16"]),
        (["--resume", "--no-gan"], None, ["trained without --no-gan"]),
        (["--resume"], "remove", [CHECKPOINT, "does not exist"]),
        (["--resume"], b"half a download", ["damaged", CHECKPOINT]),
        (["--resume", "--epochs", "3"], "nan", ["NaN or infinite weights"]),
        (["--restart", "--no-gan", "--lambda-l1", "0"], None, ["no loss"]),
    ],
)
def test_a_folder_that_holds_a_run_is_never_lost(copy, data, capsys, flags, damage, words):
    """A new run, a wrong --resume, a damaged checkpoint or no loss: refused before any work."""
    if damage == "remove":
        (copy / CHECKPOINT).unlink()
    elif damage == "nan":
        ckpt = torch.load(copy / CHECKPOINT, weights_only=True)
        ckpt["net_G"]["down1.0.weight"][0, 0, 0, 0] = float("nan")
        torch.save(ckpt, copy / CHECKPOINT)
    elif damage:
        (copy / CHECKPOINT).write_bytes(damage)
    before = snapshot(copy)
    code, err = refused(capsys, data, copy, *flags)
    assert code == 2 and "Traceback" not in err and all(word in err for word in words), err
    assert snapshot(copy) == before


@pytest.mark.parametrize("where", ["read-only", "under a file"])
def test_an_output_dir_that_cannot_be_written_fails_before_training(data, tmp_path, capsys, where):
    if where == "read-only" and (os.name != "posix" or os.geteuid() == 0):
        pytest.skip("root can write into read-only folders")
    (tmp_path / "locked").mkdir(0o500)
    (tmp_path / "a_file").write_text("a file where a folder should be")
    out = tmp_path / ("locked" if where == "read-only" else "a_file/out")
    code, err = refused(capsys, data, out)
    assert code == 2 and "cannot write into --output-dir" in err


def test_resume_blames_only_flags_that_were_typed(data, tmp_path, capsys):
    """--quick --resume over a --quick --ngf 8 run: --quick's ngf 16 was never typed; it resumes."""
    quick = ["--data", str(data), "--output-dir", str(tmp_path), "--quick"]
    ex3.main([*quick, "--ngf", "8", "--ndf", "8", "--epochs", "1", "--max-images", "3"])
    ex3.main([*quick, "--epochs", "2", "--resume"])
    assert torch.load(tmp_path / WEIGHTS, weights_only=True)["model_args"]["ngf"] == 8
    code, err = refused(capsys, data, tmp_path, "--quick", "--ngf", "16", "--resume")
    assert code == 2 and "was trained with --ngf 8, not 16; drop --ngf" in err


def test_more_workers_than_cores_are_capped_with_a_note(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "process_cpu_count", lambda: 1, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    run(data, tmp_path / "out", "--epochs", "1", "--workers", "32")
    assert "--workers 32 is more than the 1 cores; using 1" in capsys.readouterr().out
