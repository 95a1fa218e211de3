"""challenges/check.py runs each challenge in a child process: whatever a student's code does
(exit, hang, crash its process, print), every challenge gets its verdict, the exit status is 0 only
when all three are solved, Ctrl+C says "interrupted", and a bad flag names the command that
works. Each child starts Python and PyTorch: a few seconds per challenge."""

import os
import signal
import subprocess
import sys
import time

import pytest

from challenges import check
from helpers.lesson import ROOT

pytestmark = pytest.mark.slow  # a child process per challenge, and time limits to wait for

SOLVED = (
    "1. The U-Net's forward pass (challenges/solutions/unet_forward.py): solved\n"
    "2. The pix2pix losses (challenges/solutions/pix2pix_losses.py): solved\n"
    "3. The PatchGAN's receptive field (challenges/solutions/receptive_field.py): solved\n"
    "3 of 3 solved\n"
)


def test_the_solutions_as_a_script_are_solved_and_exit_0():
    command = [sys.executable, "challenges/check.py", "--solutions"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout, result.stderr) == (0, SOLVED, "")


def test_exits_and_missing_files_get_a_verdict_each_and_exit_1(tmp_path, capsys):
    (tmp_path / "unet_forward.py").write_text("import os\n\nos._exit(0)\n")
    (tmp_path / "receptive_field.py").write_text(
        "def receptive_field(convs):\n"
        '    print("hello from the student")\n'
        "    raise SystemExit(0)\n"
    )
    # pix2pix_losses.py is missing
    assert check.main(["--folder", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == (
        f"1. The U-Net's forward pass ({tmp_path}/unet_forward.py): the check ended without a "
        "verdict (exit status 0): does your code call os._exit?\n"
        f"2. The pix2pix losses ({tmp_path}/pix2pix_losses.py): {tmp_path}/pix2pix_losses.py is "
        f"missing; `git checkout -- {tmp_path}/pix2pix_losses.py` brings the stub back.\n"
        f"3. The PatchGAN's receptive field ({tmp_path}/receptive_field.py): SystemExit at line 3 "
        f"of {tmp_path}/receptive_field.py (`raise SystemExit(0)`): it ends the program; a "
        "challenge returns its result instead.\n"
        "0 of 3 solved\n"
    )
    assert err == ""


def test_a_challenge_that_never_ends_is_stopped_at_the_time_limit(tmp_path):
    path = tmp_path / "receptive_field.py"
    path.write_text("def receptive_field(convs):\n    while True:\n        pass\n")
    start = time.monotonic()
    assert check.verdict_in_child(path, time_limit=3) == (
        "the check did not finish within 3 s and was stopped: does your code loop forever?"
    )
    assert time.monotonic() - start < 10


def test_a_crashed_child_is_named_by_its_signal(tmp_path):
    path = tmp_path / "receptive_field.py"
    path.write_text("import os, signal\n\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert check.verdict_in_child(path, time_limit=60) == (
        "the check was killed by SIGSEGV (did your code crash Python or use up the memory?)."
    )


@pytest.mark.skipif(os.name != "posix", reason="signals to a process group: POSIX")
def test_ctrl_c_says_interrupted_and_stops_the_childs_code(tmp_path):
    """As a terminal sends it: SIGINT to the foreground process group. The student's code, which
    started looping, is stopped with its child process."""
    marker = tmp_path / "pid"
    (tmp_path / "unet_forward.py").write_text(
        f"import os\n\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\nwhile True:\n    pass\n"
    )
    command = [sys.executable, "challenges/check.py", "--folder", str(tmp_path)]
    parent = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(parent.pid, signal.SIGINT)
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 130 and out == b""
    assert err.decode() == (
        "error: interrupted; run `python challenges/check.py` again to check all three.\n"
    )
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)  # the loop is gone


@pytest.mark.parametrize(
    "folder, command", [(".", "challenges/check.py"), ("challenges", "check.py")]
)
def test_a_bad_flag_names_the_help_command_that_works_from_here(
    folder, command, monkeypatch, capsys
):
    monkeypatch.chdir(ROOT / folder)
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--bogus"])
    assert exit_info.value.code == 2
    assert f"see `python {command} --help`" in capsys.readouterr().err
