"""The checks behind challenges/check.py, which runs this file once per challenge file (reading it
gives the answers away): `python challenges/checker.py FILE RESULT` writes the verdict on FILE
into RESULT. The student's code runs in this process; whatever it does (sys.exit(), odd types,
raise KeyboardInterrupt), a verdict is written. Narrow networks (ngf = ndf = 8: every block of the
paper's 64) with random weights. A wrong number is named for its mistake where that is a known one.
"""

import copy
import importlib.util
import math
import os
import sys
import traceback
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script by check.py

import torch
import torch.nn as nn

from challenges.check import where
from helpers.lesson import write_bytes_atomic
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator
from pix2pix_models import init_weights

NGF = NDF = 8
BATCH, SEED = 2, 0
RTOL = 1e-4  # the same arithmetic in another order agrees to about 1e-6


class Wrong(Exception):
    """What is still wrong with a challenge, in one sentence (or "not yet written")."""


def explain(exc, path):
    """One sentence on an exception from the student's file: its type, the line there, its
    message; "not yet written" while the stub's own `raise NotImplementedError` is there."""
    trace = traceback.extract_tb(exc.__traceback__)
    frames = [frame for frame in trace if Path(frame.filename).resolve() == path]
    if isinstance(exc, NotImplementedError) and frames and frames[-1] == trace[-1]:
        return "not yet written"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError at line {exc.lineno} of {where(path)}: {exc.msg.rstrip('.')}."
    message = (str(exc).strip().splitlines() or ["(no message)"])[0].rstrip(".")
    if isinstance(exc, SystemExit):  # sys.exit(), exit(), raise SystemExit: its code is no news
        message = "it ends the program; a challenge returns its result instead"
    place = f"in {where(path)}"
    if frames:
        place = f"at line {frames[-1].lineno} of {where(path)} (`{frames[-1].line.strip()}`)"
    return f"{type(exc).__name__} {place}: {message}."


def student_code(path, function, *args):
    """function(*args), with any exception (sys.exit() too) turned into Wrong(one sentence)."""
    try:
        return function(*args)
    except (Exception, SystemExit) as exc:
        raise Wrong(explain(exc, path)) from None


def kind(tensor):
    """What a tensor is beyond its shape: "float32 tensor on the cpu device", say."""
    return f"{str(tensor.dtype).removeprefix('torch.')} tensor on the {tensor.device.type} device"


def close(got, want):
    """True if `got` is a tensor of `want`'s shape, dtype and device, equal to it up to rounding."""
    if not torch.is_tensor(got) or got.shape != want.shape or kind(got) != kind(want):
        return False
    return torch.allclose(got, want, rtol=RTOL, atol=1e-6)


# ---- Challenge 1: what each U-Net block reads, against pix2pix_models.UNetGenerator ----
# The skips join the mirrored encoder level and the decoder's own features, encoder first.
SKIPS = {f"up{k}": (f"d{9 - k}", f"u{k - 1}") for k in range(2, 8)} | {"final": ("d1", "u7")}
READS = {"down1": "x"} | {f"down{k}": f"d{k - 1}" for k in range(2, 9)} | {"up1": "d8"}
READS |= {block: f"cat([{skip}, {decoder}])" for block, (skip, decoder) in SKIPS.items()}
GIVES = {f"down{k}": f"d{k}" for k in range(1, 9)} | {f"up{k}": f"u{k}" for k in range(1, 8)}


def run_recorded(net, x, hook):
    """net(x), keeping (input, output) of each block's first call: hook "register_forward_hook",
    or "register_forward_pre_hook" (output None), which also sees a call that then fails.
    -> ({block: (input, output)}, net's output or None, the exception or None)."""
    kept = {}

    def keeper(block):
        def keep(module, args, kwargs, output=None):
            first = (args or tuple(kwargs.values()) or (None,))[0]
            copies = [v.detach().clone() if torch.is_tensor(v) else v for v in (first, output)]
            kept.setdefault(block, copies)

        return keep

    handles = [getattr(getattr(net, b), hook)(keeper(b), with_kwargs=True) for b in READS]
    try:
        with torch.no_grad():
            return kept, net(x), None
    except Exception as exc:
        return kept, None, exc
    finally:
        for handle in handles:
            handle.remove()


def wrong_input(block, got, want, tensors):
    """One sentence on what `block` read instead of READS[block]; `tensors` holds the reference's
    x, d1..d8 and u1..u7."""
    reads, shapes = READS[block], f"shape {tuple(want.shape)}"
    if not torch.is_tensor(got):
        return f"{block} received a {type(got).__name__} where it reads the tensor {reads}."
    found = next((name for name, tensor in tensors.items() if close(got, tensor)), None)
    skip, decoder = SKIPS.get(block, (None, None))
    if found is not None:
        missing = f": the skip connection from {skip} is missing" if found == decoder else ""
        alone = " alone" if missing else ""
        return (
            f"{block} received {found}{alone}, shape {tuple(got.shape)}, where it reads {reads}, "
            f"{shapes}{missing}."
        )
    if skip and close(got, torch.cat([tensors[decoder], tensors[skip]], dim=1)):
        return (
            f"{block} received cat([{decoder}, {skip}]), decoder first; the official order is "
            f"encoder first, {reads}, and the checkpoint's weights expect their channels so."
        )
    if got.shape != want.shape:
        return f"{block} received a tensor of shape {tuple(got.shape)}; it reads {reads}, {shapes}."
    if kind(got) != kind(want):
        return f"{block} received a {kind(got)} where it reads {reads}, a {kind(want)}."
    largest = (got - want).abs().max()
    return f"{block} received other values than {reads} (largest difference {largest:.3g})."


def check_unet(net_class, path):
    if getattr(net_class, "forward", None) is UNetGenerator.forward:
        raise Wrong(f"MyUNetGenerator has no forward pass of its own: write it in {where(path)}.")
    torch.manual_seed(SEED)
    # Per-image BatchNorm and eval(): no dropout, no batch coupling, as the facades loader runs G.
    reference = init_weights(UNetGenerator(ngf=NGF, norm_layer=PerImageBatchNorm2d)).eval()
    student = student_code(path, lambda: net_class(ngf=NGF, norm_layer=PerImageBatchNorm2d))
    try:
        student.load_state_dict(reference.state_dict())
    except RuntimeError:
        raise Wrong("UNetGenerator's weights do not load: keep its layers.") from None
    student.eval()
    x = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(SEED))
    expected, fake_B, _ = run_recorded(reference, x, "register_forward_hook")
    got, output, error = run_recorded(student, x, "register_forward_pre_hook")
    tensors = {"x": x} | {name: expected[block][1] for block, name in GIVES.items()}
    if error is not None and explain(error, path) == "not yet written":
        raise Wrong("not yet written")
    for block, reads in READS.items():  # the first block that reads something else is the mistake
        if block not in got:
            if error is not None:
                raise Wrong(f"{block} is never reached: {explain(error, path)}")
            raise Wrong(f"{block} is never called; every block runs once, {block} on {reads}.")
        if not close(got[block][0], expected[block][0]):
            raise Wrong(wrong_input(block, got[block][0], expected[block][0], tensors))
    if error is not None:
        raise Wrong(explain(error, path))
    if torch.is_tensor(output) and output.shape == fake_B.shape and kind(output) != kind(fake_B):
        raise Wrong(f"forward returns a {kind(output)} where final gives a {kind(fake_B)}.")
    if not close(output, fake_B):
        raise Wrong("every block reads what it should, but forward changes what final gives.")


# ---- Challenge 2: loss_D and loss_G, against training.recipe.train_step on one batch ----
LAMBDA = 10  # deliberately not the paper's 100, so that a 100 typed into the losses shows


def check_returned(result):
    """Wrong unless `result` is (loss_D, loss_G): two one-number tensors that carry gradients."""
    if not (isinstance(result, tuple) and len(result) == 2 and all(map(torch.is_tensor, result))):
        what = f"a {type(result).__name__}"
        if isinstance(result, tuple):
            what = f"a tuple of {', '.join(type(r).__name__ for r in result)}"
        raise Wrong(
            f"pix2pix_losses returns {what}; it should return (loss_D, loss_G), two tensors that "
            "carry gradients."
        )
    for name, loss in zip(("loss_D", "loss_G"), result, strict=True):
        if kind(loss) != kind(torch.zeros(())):  # meta, float16, ...: no number to compare
            raise Wrong(
                f"{name} is a {kind(loss)}; keep what the networks give (no .to(), .half())."
            )
        if loss.numel() != 1:
            raise Wrong(f"{name} has shape {tuple(loss.shape)}; a loss is one number, a mean.")
        if not loss.requires_grad:
            raise Wrong(f"{name} carries no gradient (no_grad() or .item()?); keep the tensor.")


def check_value(name, value, known, made_of):
    """Wrong unless `value` is the first value of `known` ({value: None, or its mistake})."""
    for candidate, mistake in known.items():
        if math.isclose(value, candidate, rel_tol=RTOL):
            if mistake is None:
                return
            raise Wrong(mistake)
    raise Wrong(f"{name} is {value:.4f} where train_step's is {next(iter(known)):.4f} = {made_of}.")


def check_losses(losses, path):
    from training.recipe import LAMBDA_L1, train_step  # here: it takes seconds to import

    torch.manual_seed(SEED)
    net_G = init_weights(UNetGenerator(ngf=NGF))
    net_D = init_weights(PatchGANDiscriminator(ndf=NDF))
    for layer in net_G.modules():  # dropout off: the numbers must not depend on how often G runs
        if isinstance(layer, nn.Dropout):
            layer.eval()
    real_A, real_B = torch.rand(2, BATCH, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    student_G, student_D = copy.deepcopy(net_G), copy.deepcopy(net_D)  # train_step moves BN stats
    result = student_code(path, losses, student_G, student_D, real_A, real_B, LAMBDA)
    check_returned(result)
    loss_D, loss_G = result
    G_weights = list(student_G.parameters())
    into_G = torch.autograd.grad(loss_D, G_weights, retain_graph=True, allow_unused=True)
    if any(grad is not None for grad in into_G):
        raise Wrong("loss_D sends gradients into net_G: D must judge fake_B.detach().")
    # Adam with lr 0 leaves the weights as they were, so G's GAN part, which train_step takes
    # after D's update, is taken with the D the student's code saw.
    opt_G, opt_D = (torch.optim.Adam(net.parameters(), lr=0.0) for net in (net_G, net_D))
    p = train_step(net_G, net_D, opt_G, opt_D, real_A, real_B, LAMBDA)
    d_real, d_fake, g_gan, g_l1 = p["D_real"], p["D_fake"], p["G_GAN"], p["G_L1"]
    for_D = {
        0.5 * (d_real + d_fake): None,
        d_real + d_fake: "loss_D is BCE(real) + BCE(fake), not halved: the paper divides D's "
        "objective by 2 (§3.3).",
    }
    for_G = {
        g_gan + LAMBDA * g_l1: None,
        g_gan + g_l1: "loss_G is GAN + L1: the L1 part must be multiplied by lambda_L1 (§3.1).",
        g_gan + LAMBDA_L1 * g_l1: f"loss_G weights L1 by {LAMBDA_L1}, not by the lambda_L1 it "
        f"was given ({LAMBDA}): use the argument.",
        LAMBDA * g_l1: "loss_G has no GAN part: add the BCE of D's logits on (real_A, fake_B) "
        "against 1.",
        g_gan: "loss_G has no L1 part: add lambda_L1 * L1(fake_B, real_B).",
    }
    made_of_D = f"0.5 * ({d_real:.4f} on real pairs + {d_fake:.4f} on generated ones)"
    check_value("loss_D", loss_D.item(), for_D, made_of_D)
    check_value("loss_G", loss_G.item(), for_G, f"{g_gan:.4f} (GAN) + {LAMBDA} * {g_l1:.4f} (L1)")
    if all(grad is None for grad in torch.autograd.grad(loss_G, G_weights, allow_unused=True)):
        raise Wrong("loss_G sends no gradient into net_G: use fake_B itself, not fake_B.detach().")


# ---- Challenge 3: the receptive field, for our PatchGAN and the paper's other ones ----
# The other discriminators of §4.4 as the official code builds them: (kernel, stride, padding) per
# convolution, input side first. NLayerDiscriminator with n layers: n stride-2 convolutions, then
# two of stride 1 (n = 1: 16x16, n = 5: 286x286); PixelDiscriminator: three 1x1 convolutions.
PAPER_PATCHES = {
    "1x1 PixelGAN": ([(1, 1, 0)] * 3, 1),
    "16x16 PatchGAN": ([(4, 2, 1)] + [(4, 1, 1)] * 2, 16),
    "286x286 ImageGAN": ([(4, 2, 1)] * 5 + [(4, 1, 1)] * 2, 286),
}
# Wrong answers for our PatchGAN (kernels 4; strides 2, 2, 2, 1, 1; padding 1), and their cause.
PADDING = "padding adds zeros at the border and leaves a patch as wide as it was"
FIELD_MISTAKES = {
    8: "the product of the strides is the step between two neighbouring logits' patches, not "
    "their width",
    16: "1 + the sum of (kernel - 1) forgets that each stride-2 layer also widens the reach of "
    "every layer after it",
    24: f"subtracting the padding turns the output-size formula round: {PADDING}",
    116: f"adding the padding: {PADDING}",
    28: "taking the layers input side first: walk back from one logit, the last layer first",
    62: "starting from 0: one logit is a field of 1 before the layers widen it",
}
UNKNOWN_MISTAKE = (
    "walk from one logit back to the input, the last layer first, asking how many inputs r "
    "neighbouring outputs of each layer see"
)


def number(result):
    """The student's result as an int or a float (a one-number tensor or numpy value too); Wrong
    for anything else, the text "70" included, and for an infinite or NaN float."""
    if hasattr(result, "item") and getattr(result, "size", None) in (1, ()):  # numpy
        result = result.item()
    if torch.is_tensor(result) and result.numel() == 1 and result.device.type != "meta":
        result = result.item()
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        raise Wrong(f"receptive_field returns a {type(result).__name__}, not a number.")
    if isinstance(result, float) and not math.isfinite(result):
        raise Wrong(f"receptive_field returns {result}, not a number of pixels.")
    value = int(result) if result == int(result) else result
    return value if len(str(value)) <= 12 else f"a {len(str(value))}-digit number"


def check_receptive_field(receptive_field, path):
    ours = [layer for layer in PatchGANDiscriminator(ndf=NDF).model if isinstance(layer, nn.Conv2d)]
    field = number(student_code(path, receptive_field, ours))
    if field != 70:
        why = FIELD_MISTAKES.get(field, UNKNOWN_MISTAKE)
        raise Wrong(f"receptive_field gives {field} for our PatchGAN, not 70: {why}.")
    for name, (layers, expected) in PAPER_PATCHES.items():
        convs = [nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers]
        field = number(student_code(path, receptive_field, convs))
        if field != expected:
            raise Wrong(
                f"receptive_field gives 70 for our PatchGAN but {field} for the paper's {name}: "
                "compute it from each layer's kernel size and stride, not from a number typed in."
            )


CHECKS = {  # the file, what it must define, and its check
    "unet_forward.py": ("MyUNetGenerator", check_unet),
    "pix2pix_losses.py": ("pix2pix_losses", check_losses),
    "receptive_field.py": ("receptive_field", check_receptive_field),
}


def verdict(path):
    """'solved', 'not yet written' or one sentence on what is wrong with the challenge file at
    `path`, checked in this process (tests call it directly)."""
    path = Path(path).resolve()  # as tracebacks name it
    name, check = CHECKS[path.name]
    spec = importlib.util.spec_from_file_location(f"challenge_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        student_code(path, spec.loader.exec_module, module)
        if not hasattr(module, name):
            raise Wrong(f"{where(path)} defines no {name}; keep the name the stub gives it.")
        check(getattr(module, name), path)
    except Wrong as wrong:
        return str(wrong)
    return "solved"


if __name__ == "__main__":
    path, result = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    # Narrow networks run hundreds of tiny operations: one thread is fastest (a second thread on a
    # busy 2-core machine makes them wait for each other: 10 s instead of 0.3 s, measured).
    torch.set_num_threads(1)
    try:
        text = verdict(path)
    except BaseException as exc:  # raise KeyboardInterrupt in the code, or a result nobody foresaw
        text = explain(exc, path)
    write_bytes_atomic(text.encode(), result)
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # the student's code may have closed or replaced it
            stream.flush()
    os._exit(0)  # at once: no thread or exit handler left by the student's code keeps this alive
