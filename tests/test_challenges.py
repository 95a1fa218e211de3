"""challenges/: the reference solutions pass, the shipped stubs are "not yet written", and each
typical mistake (a solution with one line changed) gets one sentence naming it. Verdicts are taken
in this process (checker.verdict); the tests marked slow run check.py and its child processes."""

import os
import signal
import subprocess
import sys
import time

import pytest

from challenges import check
from challenges.checker import verdict
from helpers.lesson import ROOT

SOLUTIONS = ROOT / "challenges" / "solutions"
pytestmark = pytest.mark.usefixtures("one_thread")  # narrow networks (tests/conftest.py)


@pytest.mark.parametrize("name", check.CHALLENGES)
def test_solutions_are_solved_and_the_stubs_not_yet_written(name):
    assert verdict(SOLUTIONS / name) == "solved"
    stub = ROOT / "challenges" / name
    assert verdict(stub) == "not yet written"
    assert "(r - 1)" not in stub.read_text()  # the receptive field's recurrence is the student's


def field(body):
    """A receptive_field.py whose function body is `body`."""
    return "def receptive_field(convs):\n" + "".join(f"    {line}\n" for line in body.splitlines())


U, L, R = "unet_forward.py", "pix2pix_losses.py", "receptive_field.py"
FINAL = "self.final(torch.cat([d1, u7], dim=1))"
NARROW = "class MyUNetGenerator(UNetGenerator):\n    def __init__(self, ngf, norm_layer):\n"
NARROW += "        super().__init__(ngf=2 * ngf, norm_layer=norm_layer)\n"
STRIDES = field("r = 1\nfor c in convs:\n    r *= c.stride[0]\nreturn r")
LOSS_D, LOSS_G = ["loss_D is", "where train_step's is", "§3.3"], ["loss_G is", "lambda_L1 given"]
# (file, the solution's line, what replaces it (None: the whole file), words of the verdict)
MISTAKES = [
    (U, "torch.cat([d7, u1], dim=1)", "torch.cat([u1, d7], dim=1)", ["up2", "decoder first"]),
    (U, "self.up4(torch.cat([d5, u3], dim=1))", "self.up4(u3)", ["up4 received u3 alone", "d5"]),
    (U, FINAL, "self.final(u7)", ["final received u7 alone", "skip from d1"]),
    (U, "d5 = self.down5(d4)", "d5 = self.down5(d3)", ["down5 received d3", "where it reads d4"]),
    (U, "cat([d4, u4], dim=1)", "cat([d5, u4], dim=1)", ["up5 is never reached", "`u5 = "]),
    (U, "d2 = self.down2(d1)", "d2 = 0.5 * self.down2(d1)", ["down3", "other values than d2"]),
    (U, "u1 = self.up1(d8)", "u1 = self.up1(d8.half())", ["up1 received a float16"]),
    (U, FINAL, f"{FINAL}.clamp(0, 1)", ["forward changes what final gives"]),
    (U, FINAL, f"{FINAL}.double()", ["forward changes what final gives"]),
    (U, FINAL, f"{FINAL}.to('meta')", ["forward changes what final gives"]),
    (U, "class MyUNetGenerator(UNetGenerator):", NARROW, ["keep its layers"]),
    (U, None, "from pix2pix_models import UNetGenerator as MyUNetGenerator", ["no forward pass"]),
    (L, "loss_D = 0.5 * (", "loss_D = (", LOSS_D),
    (L, "ones_like(pred_real)", "zeros_like(pred_real)", LOSS_D),
    (L, "lambda_L1 * F.l1_loss", "F.l1_loss", LOSS_G),
    (L, "lambda_L1 * F.l1_loss", "100 * F.l1_loss", LOSS_G),
    (L, "loss_G = loss_G_GAN + ", "loss_G = ", LOSS_G),
    (L, "fake_B.detach()", "fake_B", ["loss_D sends gradients into net_G"]),
    (L, "fake_B = net_G(real_A)", "fake_B = net_G(real_A).detach()", ["loss_G sends no gradient"]),
    (L, "return loss_D, loss_G", "return loss_D", ["returns a Tensor, not (loss_D, loss_G)"]),
    (L, "return loss_D, loss_G", "return loss_D.item(), loss_G", ["loss_D is a float", ".item()"]),
    (L, "return loss_D, loss_G", "return loss_D.to('meta'), loss_G", ["loss_D", "meta device"]),
    (L, "return loss_D, loss_G", "return loss_D, loss_G.expand(2)", ["loss_G", "shape (2,)"]),
    (R, None, STRIDES, ["gives 8 for our PatchGAN, not 70", "last layer first"]),
    (R, "r = s * (r - 1) + k", "r = s * (r - 1) + k - 2 * conv.padding[0]", ["24", "padding"]),
    (R, "r = s * (r - 1) + k", "r = s * (r - 1) + k + 2 * conv.padding[0]", ["116", "padding"]),
    (R, "reversed(convs)", "convs", ["gives 28", "last layer first"]),
    (R, None, field("return 70"), ["but 70 for the paper's 1x1 PixelGAN"]),
    (R, "    return r", "    return 10**400", ["a 401-digit number"]),
    (R, "    return r", "    return str(r)", ["returns a str, not a number"]),
    (R, None, field("return convs[0].kernel_size + 1"), ["TypeError at line 2", "kernel_size + 1"]),
    (R, None, "def receptive_field(convs)\n    return 70\n", ["SyntaxError", "line 1"]),
    (R, None, "def field(convs):\n    return 70\n", ["defines no receptive_field"]),
    (R, None, field('import sys\nsys.exit("bye")'), ["SystemExit at line 3", "ends the program"]),
]


@pytest.mark.parametrize("name, old, new, words", MISTAKES)
def test_each_mistake_gets_one_sentence_naming_it(name, old, new, words, tmp_path):
    text = (SOLUTIONS / name).read_text()
    if old is not None:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (path := tmp_path / name).write_text(new if old is None else text)
    message = verdict(path)
    assert all(word in message for word in words), message
    assert message.endswith(".") and "\n" not in message


def test_losses_are_compared_with_the_training_scripts_own_step(monkeypatch):
    # The checker takes its numbers from training.recipe.train_step, not from a copy of the formula.
    from training import recipe

    step = recipe.train_step
    monkeypatch.setattr(recipe, "train_step", lambda *a: dict(step(*a), D_real=0.0))
    assert verdict(SOLUTIONS / L).startswith("loss_D is ")


def test_a_missing_file_gets_the_fix_that_works_there(tmp_path, monkeypatch):
    assert "copy the stub challenges/unet_forward.py" in check.verdict_in_child(tmp_path / U, 1)
    monkeypatch.setattr(check, "HERE", tmp_path)  # as if it were the stub in challenges/
    assert f"`git checkout -- {tmp_path / U}`" in check.verdict_in_child(tmp_path / U, 1)


FOLDERS = [  # --folder, and what the refusal says; {t} is tmp_path, also the home folder
    ("{t}/nowhere", "--folder {t}/nowhere does not exist"),
    ("~/nowhere", "--folder {t}/nowhere does not exist"),
    ("{t}/unet_forward.py", "--folder {t}/unet_forward.py is a file"),
    ("", "--folder: is empty"),
]


@pytest.mark.parametrize("folder, words", FOLDERS)
def test_a_folder_that_is_none_is_refused_in_one_sentence(
    folder, words, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / U).write_text("")
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--folder", folder.format(t=tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and words.format(t=tmp_path) in err and err.count("\n") == 1


@pytest.mark.parametrize("cwd, command", [(".", "challenges/check.py"), ("challenges", "check.py")])
def test_a_bad_flag_names_the_help_command_that_works_from_here(cwd, command, monkeypatch, capsys):
    monkeypatch.chdir(ROOT / cwd)
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--bogus"])
    assert exit_info.value.code == 2
    assert f"see `python {command} --help`" in capsys.readouterr().err


@pytest.mark.slow  # Python and PyTorch start in each child process
def test_the_solutions_as_a_script_are_solved_and_exit_0():
    command = [sys.executable, "challenges/check.py", "--solutions"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.count(": solved\n") == 3 and result.stdout.endswith("3 of 3 solved\n")


@pytest.mark.slow
def test_one_solved_two_missing_exit_1(tmp_path, capsys):
    (tmp_path / R).write_text((SOLUTIONS / R).read_text())
    assert check.main(["--folder", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("is missing; copy the stub") == 2 and out.endswith("1 of 3 solved\n")


CHILD_ENDS = [  # the code, the time limit, the verdict
    ("import os\nos._exit(0)\n", 120, "ended without a verdict (exit status 0)"),
    ("while True:\n    pass\n", 3, "stopped after 3 s"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", 120, "killed by SIGSEGV"),
]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGSEGV")
@pytest.mark.parametrize("code, limit, words", CHILD_ENDS)
def test_a_child_that_ends_without_a_verdict_is_named(code, limit, words, tmp_path):
    (path := tmp_path / R).write_text(code)
    assert words in check.verdict_in_child(path, time_limit=limit)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="signals to a process group: POSIX")
def test_ctrl_c_says_interrupted_and_stops_the_childs_code(tmp_path):
    """SIGINT as a terminal sends it (the children, in sessions of their own, do not get it)."""
    marker = tmp_path / "pid"
    code = f"import os\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\nwhile True: pass\n"
    (tmp_path / U).write_text(code)
    command = [sys.executable, "challenges/check.py", "--folder", str(tmp_path)]
    parent = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    parent.send_signal(signal.SIGINT)
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 130 and out == b"" and b"interrupted" in err
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)  # the loop is gone
