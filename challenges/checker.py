"""The checks behind challenges/check.py (they give the answers away), which runs
`python challenges/checker.py FILE RESULT` for each file: the student's code runs in that process,
and whatever it does, a verdict lands in RESULT. Narrow networks (ngf = ndf = 8) with random
weights; a wrong number is shown beside the reference's and what that is made of.
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
from helpers.lesson import atomic_path
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator
from pix2pix_models import init_weights

NGF = NDF = 8
BATCH, SEED, RTOL = 2, 0, 1e-4  # RTOL: the same arithmetic in another order agrees to about 1e-6


class Wrong(Exception):
    """What is still wrong with a challenge, in one sentence (or "not yet written")."""


def explain(exc, path):
    """One sentence on an exception from the student's file: its type, the line there, its
    message; "not yet written" while the stub's own `raise NotImplementedError` is there."""
    trace = traceback.extract_tb(exc.__traceback__)
    frames = [frame for frame in trace if Path(frame.filename).resolve() == path]
    if isinstance(exc, NotImplementedError) and frames and frames[-1] == trace[-1]:
        return "not yet written"
    message = (str(exc).strip().splitlines() or ["(no message)"])[0].rstrip(".")
    if isinstance(exc, SystemExit):  # sys.exit(), exit(), raise SystemExit: its code is no news
        message = "it ends the program; a challenge returns its result instead"
    place = f"in {where(path)}"
    if frames:
        place = f"at line {frames[-1].lineno} of {where(path)} (`{frames[-1].line.strip()}`)"
    return f"{type(exc).__name__} {place}: {message}."


def student_code(path, function, *args):
    try:
        return function(*args)
    except (Exception, SystemExit) as exc:
        raise Wrong(explain(exc, path)) from None


def kind(tensor):  # "float32 tensor on the cpu device"
    return f"{str(tensor.dtype).removeprefix('torch.')} tensor on the {tensor.device.type} device"


def close(got, want):  # a tensor of want's shape, dtype and device, equal up to rounding
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
    """({block: [input, output] of its first call}, net(x) or None, its exception or None); a
    "register_forward_pre_hook" (output None) also sees a call that then fails."""
    kept, names = {}, {getattr(net, block): block for block in READS}

    def keep(module, args, kwargs, output=None):
        first = (args or tuple(kwargs.values()) or (None,))[0]
        copies = [v.detach().clone() if torch.is_tensor(v) else v for v in (first, output)]
        kept.setdefault(names[module], copies)

    handles = [getattr(module, hook)(keep, with_kwargs=True) for module in names]
    try:
        with torch.no_grad():
            return kept, net(x), None
    except Exception as exc:
        return kept, None, exc
    finally:
        for handle in handles:
            handle.remove()


def wrong_input(block, got, want, tensors):
    """One sentence on what `block` read instead of READS[block] (`want`); `tensors` holds the
    reference's x, d1..d8 and u1..u7."""
    reads, (skip, decoder) = READS[block], SKIPS.get(block, (None, None))
    wants = f"{reads}, a {kind(want)} of shape {tuple(want.shape)}"
    if not torch.is_tensor(got):
        return f"{block} received a {type(got).__name__} where it reads the tensor {reads}."
    if skip and close(got, torch.cat([tensors[decoder], tensors[skip]], dim=1)):
        return (
            f"{block} received cat([{decoder}, {skip}]), decoder first; the official order is "
            f"encoder first, {reads}, and the checkpoint's weights expect their channels so."
        )
    found = next((name for name, tensor in tensors.items() if close(got, tensor)), None)
    if found and found == decoder:
        return (
            f"{block} received {found} alone where it reads {reads}: the skip from {skip} is gone."
        )
    if found or got.shape != want.shape or kind(got) != kind(want):
        what = found or f"a {kind(got)} of shape {tuple(got.shape)}"
        return f"{block} received {what} where it reads {wants}."
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
            why = f"every block runs once, {block} on {reads}." if error is None else None
            raise Wrong(f"{block} is never reached: {why or explain(error, path)}")
        if not close(got[block][0], expected[block][0]):
            raise Wrong(wrong_input(block, got[block][0], expected[block][0], tensors))
    if error is not None:
        raise Wrong(explain(error, path))
    if not close(output, fake_B):
        raise Wrong("every block reads what it should, but forward changes what final gives.")


# ---- Challenge 2: loss_D and loss_G, against training.recipe.train_step on one batch ----
LAMBDA = 10  # not the paper's 100, so that a 100 typed into the losses shows


def check_losses(losses, path):
    from training.recipe import train_step  # imported here: it takes seconds

    torch.manual_seed(SEED)
    net_G = init_weights(UNetGenerator(ngf=NGF))
    net_D = init_weights(PatchGANDiscriminator(ndf=NDF))
    for layer in net_G.modules():  # dropout off: the numbers must not depend on how often G runs
        if isinstance(layer, nn.Dropout):
            layer.eval()
    real_A, real_B = torch.rand(2, BATCH, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    student_G, student_D = copy.deepcopy(net_G), copy.deepcopy(net_D)  # train_step moves BN stats
    result = student_code(path, losses, student_G, student_D, real_A, real_B, LAMBDA)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Wrong(f"pix2pix_losses returns a {type(result).__name__}, not (loss_D, loss_G).")
    for name, loss in zip(("loss_D", "loss_G"), result, strict=True):
        ok = torch.is_tensor(loss) and loss.numel() == 1 and loss.requires_grad
        if not ok or kind(loss) != kind(torch.zeros(())):  # float32 on the cpu, as the networks
            what = f"{kind(loss)} of shape {tuple(loss.shape)}" if torch.is_tensor(loss) else ""
            raise Wrong(
                f"{name} is a {what or type(loss).__name__}; a loss is one number that carries "
                "its gradient, as the networks give it (no .item(), .to(), .half() or no_grad())."
            )
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
    if not math.isclose(loss_D.item(), 0.5 * (d_real + d_fake), rel_tol=RTOL):
        raise Wrong(
            f"loss_D is {loss_D.item():.4f} where train_step's is {0.5 * (d_real + d_fake):.4f} = "
            f"0.5 * ({d_real:.4f} + {d_fake:.4f}): the BCE of real pairs against 1 and of "
            "generated ones against 0, halved (§3.3)."
        )
    if not math.isclose(loss_G.item(), g_gan + LAMBDA * g_l1, rel_tol=RTOL):
        raise Wrong(
            f"loss_G is {loss_G.item():.4f} where train_step's is {g_gan + LAMBDA * g_l1:.4f} = "
            f"{g_gan:.4f} + {LAMBDA} * {g_l1:.4f}: the BCE of D's logits on generated pairs "
            "against 1, plus the L1 distance times the lambda_L1 given (§3.1, Eq. 4)."
        )
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
# What the usual wrong answers for our PatchGAN (8, 16, 24, 28, 116) miss.
FIELD_HINT = (
    "walk from one logit back to the input, the last layer first: each stride multiplies the "
    "reach of the layers after it, and padding only adds zeros at the border, so it widens nothing"
)


def number(result):
    """The student's number as text ("70", "70.5", "a 401-digit number"); Wrong if no number."""
    with suppress(Exception):  # a tensor or numpy value of one number, not on the meta device
        result = result.item()
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        raise Wrong(f"receptive_field returns a {type(result).__name__}, not a number.")
    text = str(int(result) if isinstance(result, int) or result.is_integer() else result)
    return text if len(text) <= 12 else f"a {len(text)}-digit number"


def check_receptive_field(receptive_field, path):
    ours = [layer for layer in PatchGANDiscriminator(ndf=NDF).model if isinstance(layer, nn.Conv2d)]
    field = number(student_code(path, receptive_field, ours))
    if field != "70":
        raise Wrong(f"receptive_field gives {field} for our PatchGAN, not 70: {FIELD_HINT}.")
    for name, (layers, expected) in PAPER_PATCHES.items():
        convs = [nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers]
        field = number(student_code(path, receptive_field, convs))
        if field != str(expected):
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
    """'solved', 'not yet written' or one sentence on what is wrong in the challenge file."""
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
    with atomic_path(result) as tmp:
        tmp.write_text(text)
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # the student's code may have closed or replaced it
            stream.flush()
    os._exit(0)  # at once: no thread or exit handler left by the student's code keeps this alive
