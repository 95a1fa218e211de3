"""challenges/check.py: it passes the reference solutions, calls the shipped stubs "not yet
written", and rejects typical mistakes with one exact sentence each. A mistake is a reference
solution with a line changed, written into a temporary folder, and checked in this process
(challenges/checker/child.py's verdict; tests/test_challenges_isolation.py runs the child processes
check.py starts). Narrow networks (ngf = ndf = 8) keep each check to seconds."""

import re

import pytest

from challenges import check
from challenges.checker import losses
from challenges.checker.child import verdict
from helpers.lesson import ROOT

SOLUTIONS = ROOT / "challenges" / "solutions"

# Small networks: one thread (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_thread")


def variant(tmp_path, name, old, new):
    """The reference solution `name` with `old` (which occurs exactly once) replaced by `new`,
    written into tmp_path."""
    text = (SOLUTIONS / name).read_text()
    assert text.count(old) == 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def line_of(path, text):
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_shipped_stubs_are_not_yet_written():
    # The stubs as the module ships them (once you have solved them, this test tells you so; the
    # README's `python challenges/check.py` runs them through check.py's child processes).
    for name in check.CHALLENGES:
        assert verdict(ROOT / "challenges" / name) == "not yet written"
        # No solution hidden in a stub: each still raises.
        assert "raise NotImplementedError" in (ROOT / "challenges" / name).read_text()


UNET_MISTAKES = [
    (
        "torch.cat([d7, u1], dim=1)",
        "torch.cat([u1, d7], dim=1)",
        "up2 received cat([u1, d7]), decoder first; the official order is encoder first, "
        "cat([d7, u1]), and the checkpoint's weights expect their channels in that order.",
    ),
    (
        "self.up4(torch.cat([d5, u3], dim=1))",
        "self.up4(u3)",
        "up4 received u3 alone, shape (2, 64, 8, 8), where it reads cat([d5, u3]), "
        "shape (2, 128, 8, 8): the skip connection from d5 is missing.",
    ),
    (
        "self.final(torch.cat([d1, u7], dim=1))",
        "self.final(u7)",
        "final received u7 alone, shape (2, 8, 128, 128), where it reads cat([d1, u7]), "
        "shape (2, 16, 128, 128): the skip connection from d1 is missing.",
    ),
    (
        "d5 = self.down5(d4)",
        "d5 = self.down5(d3)",
        "down5 received d3, shape (2, 32, 32, 32), where it reads d4, shape (2, 64, 16, 16).",
    ),
    (
        "return self.final(torch.cat([d1, u7], dim=1))",
        "return self.final(torch.cat([d1, u7], dim=1)).clamp(0, 1)",
        "every block reads what it should, but forward does not return what final gives; "
        "return it unchanged.",
    ),
]


@pytest.mark.parametrize("old, new, message", UNET_MISTAKES)
def test_unet_mistakes_name_the_first_level_that_differs(old, new, message, tmp_path):
    assert verdict(variant(tmp_path, "unet_forward.py", old, new)) == message


def test_unet_skip_from_the_wrong_level_is_the_exception_in_one_sentence(tmp_path):
    wrong = "torch.cat([d5, u4], dim=1)"
    path = variant(tmp_path, "unet_forward.py", "torch.cat([d4, u4], dim=1)", wrong)
    line = line_of(path, wrong)
    assert verdict(path) == (
        f"up5 is never reached: RuntimeError at line {line} of {path} "
        "(`u5 = self.up5(torch.cat([d5, u4], dim=1))  # reads (N, 1024, 16, 16)`): Sizes of "
        "tensors must match except in dimension 1. Expected size 8 but got size 16 for tensor "
        "number 1 in the list."
    )


def test_unet_wrong_values_of_the_right_shape_name_the_level(tmp_path):
    right = "u4 = self.up4(torch.cat([d5, u3], dim=1))"
    path = variant(tmp_path, "unet_forward.py", right, f"{right} * 0.5")
    assert re.fullmatch(
        r"up5 received the right shape but other values than cat\(\[d4, u4\]\) "
        r"\(largest difference [\d.e+-]+\)\.",
        verdict(path),
    )


def test_unet_stub_and_a_missing_forward(tmp_path):
    assert verdict(ROOT / "challenges" / "unet_forward.py") == "not yet written"
    path = tmp_path / "unet_forward.py"
    path.write_text(
        "from pix2pix_models import UNetGenerator\n\n\n"
        "class MyUNetGenerator(UNetGenerator):\n    pass\n"
    )
    expected = f"MyUNetGenerator has no forward pass of its own yet: write it in {path}."
    assert verdict(path) == expected


LOSS_MISTAKES = [
    (
        "loss_D = 0.5 * (",
        "loss_D = (",
        "loss_D is BCE(real) + BCE(fake), not halved: the paper divides D's objective by 2 "
        "(§3.3), so that D learns slower than G.",
    ),
    (
        "lambda_L1 * F.l1_loss",
        "F.l1_loss",
        "loss_G is GAN + L1: the L1 part must be multiplied by lambda_L1 (§3.1, Eq. 4).",
    ),
    (
        "lambda_L1 * F.l1_loss",
        "100 * F.l1_loss",
        "loss_G weights L1 by 100, not by the lambda_L1 it was given (10): use the argument.",
    ),
    (
        "net_D(real_A, fake_B.detach())",
        "net_D(real_A, fake_B)",
        "loss_D sends gradients into net_G: D must judge fake_B.detach(), or D's step would also "
        "train G.",
    ),
    (
        "fake_B = net_G(real_A)",
        "fake_B = net_G(real_A).detach()",
        "loss_G sends no gradient into net_G: G's loss must use fake_B itself, not "
        "fake_B.detach().",
    ),
    (
        "loss_G = loss_G_GAN + ",
        "loss_G = ",
        "loss_G has no GAN part: add the BCE of D's logits on (real_A, fake_B) against 1.",
    ),
    (
        "return loss_D, loss_G",
        "return loss_D.item(), loss_G.item()",
        "pix2pix_losses returns a tuple of float, float; it should return (loss_D, loss_G), two "
        "tensors that carry gradients.",
    ),
]


@pytest.mark.parametrize("old, new, message", LOSS_MISTAKES)
def test_loss_mistakes(old, new, message, tmp_path):
    assert verdict(variant(tmp_path, "pix2pix_losses.py", old, new)) == message


def test_loss_labels_swapped_gets_the_numbers_to_compare(tmp_path):
    right = "pred_real, torch.ones_like(pred_real)"
    path = variant(tmp_path, "pix2pix_losses.py", right, right.replace("ones", "zeros"))
    number = r"\d+\.\d{4}"
    assert re.fullmatch(
        rf"loss_D is {number} where train_step's is {number} = 0\.5 \* \({number} on real pairs "
        rf"\+ {number} on generated ones\)\.",
        verdict(path),
    )


def test_losses_are_compared_with_the_training_scripts_own_step(monkeypatch, tmp_path):
    # If train_step weighted D's loss otherwise, the reference solution would no longer pass: the
    # checker takes its numbers from training.recipe.train_step, not from a copy of the formula.
    real_step = losses.train_step

    def doubled(*args):
        parts = real_step(*args)
        return dict(parts, D_real=2 * parts["D_real"], D_fake=2 * parts["D_fake"])

    monkeypatch.setattr(losses, "train_step", doubled)
    assert verdict(SOLUTIONS / "pix2pix_losses.py").startswith("loss_D is ")


def field_variant(tmp_path, body):
    path = tmp_path / "receptive_field.py"
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    path.write_text(f"def receptive_field(convs):\n{lines}")
    return path


FIELD_MISTAKES = [
    (
        "r = 1\nfor conv in convs:\n    r *= conv.stride[0]\nreturn r",
        "receptive_field gives 8 for our PatchGAN, not 70: 8 is the product of the strides, the "
        "step between two neighbouring logits' patches, not their width.",
    ),
    (
        "r = 1\nfor conv in reversed(convs):\n"
        "    r = conv.stride[0] * (r - 1) + conv.kernel_size[0] - 2 * conv.padding[0]\nreturn r",
        "receptive_field gives 24 for our PatchGAN, not 70: 24 subtracts the padding (the "
        "output-size formula turned round): padding adds zeros at the border and leaves a patch "
        "as wide as it was.",
    ),
    (
        "r = 1\nfor c in reversed(convs):\n"
        "    r = c.stride[0] * r + c.kernel_size[0] - c.stride[0] + 2 * c.padding[0]\nreturn r",
        "receptive_field gives 116 for our PatchGAN, not 70: 116 adds the padding: padding adds "
        "zeros at the border and leaves a patch as wide as it was.",
    ),
    (
        "r = 1\nfor conv in convs:\n"
        "    r = conv.stride[0] * (r - 1) + conv.kernel_size[0]\nreturn r",
        "receptive_field gives 28 for our PatchGAN, not 70: 28 takes the layers input side first: "
        "walk back from one logit, the last layer first.",
    ),
    (
        "return 70",
        "receptive_field gives 70 for our PatchGAN but 70 for the paper's 1x1 PixelGAN: compute "
        "it from each layer's kernel size and stride, not from a number typed in.",
    ),
    (
        "return 69",
        "receptive_field gives 69 for our PatchGAN, not 70: walk from one logit back to the input, "
        "the last layer first, as the lesson counts it by hand.",
    ),
]


@pytest.mark.parametrize("body, message", FIELD_MISTAKES)
def test_receptive_field_mistakes(body, message, tmp_path):
    assert verdict(field_variant(tmp_path, body)) == message


def test_errors_in_a_students_file_are_one_sentence_with_the_line(tmp_path):
    path = field_variant(tmp_path, "return convs[0].kernel_size + 1")
    assert verdict(path) == (
        f"TypeError at line 2 of {path} (`return convs[0].kernel_size + 1`): can only "
        'concatenate tuple (not "int") to tuple.'
    )
    path.write_text("def receptive_field(convs)\n    return 70\n")
    assert verdict(path).startswith(f"SyntaxError at line 1 of {path}: ")
    assert verdict(ROOT / "challenges" / "receptive_field.py") == "not yet written"
    path.write_text("def field(convs):\n    return 70\n")
    assert verdict(path) == f"{path} defines no receptive_field; keep the name the stub gives it."
    missing = tmp_path / "missing" / "pix2pix_losses.py"
    expected = f"{missing} is missing; `git checkout -- {missing}` brings the stub back."
    assert verdict(missing) == expected


ODD_RESULTS = [
    (
        "receptive_field.py",
        "    return r",
        "    return 10**400",
        "receptive_field gives a 401-digit number for our PatchGAN, not 70: walk from one logit "
        "back to the input, the last layer first, as the lesson counts it by hand.",
    ),
    (
        "receptive_field.py",
        "    return r",
        "    return str(r)",
        "receptive_field returns a str, not a number.",
    ),
    (
        "unet_forward.py",
        "return self.final(torch.cat([d1, u7], dim=1))",
        "return self.final(torch.cat([d1, u7], dim=1)).double()",
        "forward returns a float64 tensor on the cpu device where final gives a float32 tensor on "
        "the cpu device; return it unchanged.",
    ),
    (
        "unet_forward.py",
        "return self.final(torch.cat([d1, u7], dim=1))",
        "return self.final(torch.cat([d1, u7], dim=1)).to('meta')",
        "forward returns a float32 tensor on the meta device where final gives a float32 tensor "
        "on the cpu device; return it unchanged.",
    ),
    (
        "unet_forward.py",
        "u1 = self.up1(d8)",
        "u1 = self.up1(d8.half())",
        "up1 received a float16 tensor on the cpu device where it reads d8, a float32 tensor on "
        "the cpu device.",
    ),
    (
        "pix2pix_losses.py",
        "return loss_D, loss_G",
        "return loss_D.to('meta'), loss_G.to('meta')",
        "loss_D is a float32 tensor on the meta device; keep the float32 tensor on the cpu device "
        "that the networks give (no .to(), .half() or .double()).",
    ),
]


@pytest.mark.parametrize("name, old, new, message", ODD_RESULTS)
def test_odd_types_and_devices_get_one_sentence(name, old, new, message, tmp_path):
    """Numbers too large for a float, numbers as text, other dtypes and the meta device: each
    is named, none crashes the checker or passes."""
    assert verdict(variant(tmp_path, name, old, new)) == message


def test_sys_exit_in_a_challenge_is_a_verdict_not_the_end(tmp_path):
    path = field_variant(tmp_path, 'import sys\nsys.exit("bye")')
    assert verdict(path) == (
        f'SystemExit at line 3 of {path} (`sys.exit("bye")`): it ends the program; a challenge '
        "returns its result instead."
    )
