"""Check the three challenges: "solved", "not yet written", or one sentence on what is still wrong.

    python challenges/check.py               # your files: unet_forward.py, pix2pix_losses.py, receptive_field.py
    python challenges/check.py --solutions   # the reference solutions in challenges/solutions/

Prints one line per challenge and a count. Exit status: 0 when all three are solved, 1 otherwise.
Narrow networks (ngf = ndf = 8: the paper's blocks and official keys), random weights: seconds on a CPU.
  1. U-Net: official-layout weights go into your MyUNetGenerator and into pix2pix_models.UNetGenerator;
     forward hooks record what each block reads, and the first block that reads something else is named.
  2. Losses: your loss_D and loss_G against training.recipe.train_step on the same fixed batch.
  3. Receptive field: 70 for our PatchGAN, and the paper's other discriminators (§4.4) as well.
"""

import copy
import importlib.util
import math
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python challenges/check.py` from the root

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from helpers.cli import ArgumentParser, shown  # noqa: E402
from helpers.files import ROOT  # noqa: E402
from training.recipe import LAMBDA_L1, train_step  # noqa: E402
from pix2pix_models import (IMAGE_SIZE, PatchGANDiscriminator, PerImageBatchNorm2d, UNetGenerator,  # noqa: E402
                            init_weights, load_official_generator_weights, official_generator_key_map)

HERE = Path(__file__).resolve().parent
NGF = NDF = 8  # narrow networks: every block and official key of the paper's 64, in a fraction of the time
BATCH, SEED = 2, 0
LAMBDA = 10  # deliberately not the paper's 100, so that a 100 typed into the losses shows
RTOL = 1e-4  # the same arithmetic in another order agrees to about 1e-6

# What each U-Net block reads, in the order a forward pass reaches it; the skip connections join the
# mirrored encoder level and the decoder's own features, encoder first.
READS = {"down1": "x", **{f"down{k}": f"d{k - 1}" for k in range(2, 9)}, "up1": "d8",
         **{f"up{k}": f"cat([d{9 - k}, u{k - 1}])" for k in range(2, 8)}, "final": "cat([d1, u7])"}
SKIP_AND_DECODER = {f"up{k}": (f"d{9 - k}", f"u{k - 1}") for k in range(2, 8)} | {"final": ("d1", "u7")}

# The paper's other discriminators (§4.4) as the official code builds them: (kernel, stride, padding) per
# convolution, input side first; n stride-2 convolutions, then two of stride 1 (PixelGAN: three 1x1).
PAPER_PATCHES = {"1x1 PixelGAN": ([(1, 1, 0)] * 3, 1), "16x16 PatchGAN": ([(4, 2, 1)] + [(4, 1, 1)] * 2, 16),
                 "286x286 ImageGAN": ([(4, 2, 1)] * 5 + [(4, 1, 1)] * 2, 286)}
# Wrong answers for our PatchGAN (kernels 4; strides 2, 2, 2, 1, 1; padding 1) and what each one did.
FIELD_MISTAKES = {
    8: "8 is the product of the strides, the step between two neighbouring logits' patches, not their width",
    16: "16 is 1 + the sum of (kernel - 1): each stride-2 layer also doubles the reach of every layer after it",
    24: "24 subtracts the padding (the output-size formula turned round): padding adds zeros at the border "
        "and leaves a patch as wide as it was",
    116: "116 adds the padding: padding adds zeros at the border and leaves a patch as wide as it was",
    28: "28 takes the layers input side first: walk back from one logit, the last layer first",
    62: "62 starts from 0: one logit is a field of 1 before the layers widen it",
}


class Wrong(Exception):
    """What is still wrong with a challenge, in one sentence (or "not yet written")."""


def explain(exc, path):
    """One sentence on an exception from the student's file: its type, the line there, its message."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    if isinstance(exc, NotImplementedError) and frames and frames[-1] == traceback.extract_tb(exc.__traceback__)[-1]:
        return "not yet written"  # raised by the student's file itself: the stub's `raise` is still there
    if isinstance(exc, SyntaxError):
        return f"SyntaxError at line {exc.lineno} of {shown(where(path))}: {exc.msg.rstrip('.')}."
    message = (str(exc).strip().splitlines() or ["(no message)"])[0].rstrip(".")
    place = f"in {shown(where(path))}"
    if frames:
        place = f"at line {frames[-1].lineno} of {shown(where(path))} (`{frames[-1].line.strip()}`)"
    return f"{type(exc).__name__} {place}: {message}."


def where(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def load(path):
    """Import the student's file by its path (it is not a package module); errors become one sentence."""
    spec = importlib.util.spec_from_file_location(f"challenge_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    student_code(path, spec.loader.exec_module, module)
    return module


def student_code(path, function, *args):
    """function(*args), with any exception turned into Wrong(one sentence)."""
    try:
        return function(*args)
    except Exception as exc:
        raise Wrong(explain(exc, path)) from None


def defined(module, name, path):
    if not hasattr(module, name):
        raise Wrong(f"{shown(where(path))} defines no {name}; keep the name the stub gives it.")
    return getattr(module, name)


def close(got, want):
    return torch.is_tensor(got) and got.shape == want.shape and torch.allclose(got, want, rtol=RTOL, atol=1e-6)


# Challenge 1: the U-Net's forward pass

def official_layout_weights(ngf, seed):
    """Random weights (the paper's init) under the official checkpoint's nested key names."""
    torch.manual_seed(seed)
    ours = init_weights(UNetGenerator(ngf=ngf)).state_dict()
    official = {mine: theirs for theirs, mine in official_generator_key_map().items()}
    weights = {}
    for key, value in ours.items():
        module, _, name = key.rpartition(".")  # "down2.0.weight" -> "model.model.1.model.1.weight"
        weights[f"{official[module]}.{name}"] = value
    return weights


def record(net, blocks, what):
    """Hooks that keep a copy of the first tensor each named block reads (what="input") or gives ("output")."""
    kept = {}

    def keeper(name):
        def keep(module, args, kwargs, output=None):
            value = output if what == "output" else (args or tuple(kwargs.values()) or (None,))[0]
            kept.setdefault(name, value.detach().clone() if torch.is_tensor(value) else value)
        return keep

    register = "register_forward_hook" if what == "output" else "register_forward_pre_hook"
    handles = [getattr(getattr(net, block), register)(keeper(name), with_kwargs=True) for block, name in blocks.items()]
    return kept, handles


def shape(tensor):
    return tuple(tensor.shape)


def matching(got, tensors):
    """The name of the reference tensor `got` equals ("d5", "u3", ...), if any."""
    return next((name for name, tensor in tensors.items() if close(got, tensor)), None)


def wrong_input(block, got, want, tensors):
    """One sentence on what `block` read instead of READS[block]; `tensors` holds the reference's x, d1..d8, u1..u7."""
    reads, found = READS[block], matching(got, tensors)
    skip, decoder = SKIP_AND_DECODER.get(block, (None, None))
    if not torch.is_tensor(got):
        return f"{block} received a {type(got).__name__} where it reads the tensor {reads}."
    if found is not None and found == decoder:
        return (f"{block} received {decoder} alone, shape {shape(got)}, where it reads {reads}, shape {shape(want)}: "
                f"the skip connection from {skip} is missing.")
    if skip and close(got, torch.cat([tensors[decoder], tensors[skip]], dim=1)):
        return (f"{block} received cat([{decoder}, {skip}]), decoder first; the official order is encoder first, "
                f"{reads}, and the checkpoint's weights expect their channels in that order.")
    if found is not None:
        return f"{block} received {found}, shape {shape(got)}, where it reads {reads}, shape {shape(want)}."
    if got.shape != want.shape:
        return f"{block} received a tensor of shape {shape(got)} where it reads {reads}, shape {shape(want)}."
    return (f"{block} received the right shape but other values than {reads} "
            f"(largest difference {(got - want).abs().max():.3g}).")


def check_unet(module, path):
    net_class = defined(module, "MyUNetGenerator", path)
    if getattr(net_class, "forward", None) is UNetGenerator.forward:
        raise Wrong(f"MyUNetGenerator has no forward pass of its own yet: write it in {shown(where(path))}.")
    weights = official_layout_weights(NGF, SEED)
    # Per-image BatchNorm and eval(): dropout off and no batch coupling, as the facades loader runs G.
    reference = load_official_generator_weights(UNetGenerator(ngf=NGF, norm_layer=PerImageBatchNorm2d), weights).eval()
    student = student_code(path, lambda: net_class(ngf=NGF, norm_layer=PerImageBatchNorm2d))
    try:
        load_official_generator_weights(student, weights)
    except (ValueError, RuntimeError) as exc:
        raise Wrong(f"the official weights do not load into MyUNetGenerator ({exc}); keep UNetGenerator's layers.")
    student.eval()
    x = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(SEED)) * 2 - 1
    levels = {f"down{k}": f"d{k}" for k in range(1, 9)} | {f"up{k}": f"u{k}" for k in range(1, 8)}
    tensors, handles = record(reference, levels, "output")
    expected, more = record(reference, {block: block for block in READS}, "input")
    got, mine = record(student, {block: block for block in READS}, "input")
    error = None
    with torch.no_grad():
        fake_B = reference(x)
        try:
            output = student(x)
        except Exception as exc:
            error, output = exc, None
    for handle in handles + more + mine:
        handle.remove()
    tensors = {"x": x} | tensors
    if error is not None and explain(error, path) == "not yet written":
        raise Wrong("not yet written")
    for block, reads in READS.items():  # the first block that reads something else is where it went wrong
        if block not in got:
            reason = f": {explain(error, path)}" if error else f"; every block runs once, {block} on {reads}."
            raise Wrong(f"{block} is never {'reached' if error else 'called'}{reason}")
        if not close(got[block], expected[block]):
            raise Wrong(wrong_input(block, got[block], expected[block], tensors))
    if error is not None:
        raise Wrong(explain(error, path))
    if not close(output, fake_B):
        raise Wrong("every block reads what it should, but forward does not return what final gives; return it "
                    "unchanged.")


# Challenge 2: the losses

def reference_losses(net_G, net_D, real_A, real_B):
    """training.recipe.train_step's loss parts for this batch. Adam with lr 0 leaves the weights as they were,
    so G's GAN part, which train_step computes after D's update, is taken with the D the student's code saw."""
    optimizers = [torch.optim.Adam(net.parameters(), lr=0.0) for net in (net_G, net_D)]
    return train_step(net_G, net_D, *optimizers, real_A, real_B, LAMBDA)  # fp32, the official way


def check_losses(module, path):
    losses = defined(module, "pix2pix_losses", path)
    torch.manual_seed(SEED)
    net_G, net_D = init_weights(UNetGenerator(ngf=NGF)), init_weights(PatchGANDiscriminator(ndf=NDF))
    for layer in net_G.modules():  # dropout off: the numbers must not depend on how often the code runs G
        if isinstance(layer, nn.Dropout):
            layer.eval()
    real_A, real_B = (torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1 for _ in range(2))
    student_G, student_D = copy.deepcopy(net_G), copy.deepcopy(net_D)  # train_step moves BN buffers
    result = student_code(path, losses, student_G, student_D, real_A, real_B, LAMBDA)
    if not (isinstance(result, tuple) and len(result) == 2 and all(torch.is_tensor(r) for r in result)):
        kinds = ", ".join(type(r).__name__ for r in result) if isinstance(result, tuple) else None
        raise Wrong(f"pix2pix_losses returns {f'a tuple of {kinds}' if kinds else f'a {type(result).__name__}'}; "
                    "it should return (loss_D, loss_G), two tensors that carry gradients.")
    for name, loss in zip(("loss_D", "loss_G"), result):
        if loss.numel() != 1:
            raise Wrong(f"{name} has shape {shape(loss)}; a loss is one number, the mean over patches and pixels.")
        if not loss.requires_grad:
            raise Wrong(f"{name} carries no gradient (made under torch.no_grad(), or from .item()?); "
                        "backward() needs the tensor.")
    loss_D, loss_G = result
    into_G = torch.autograd.grad(loss_D, list(student_G.parameters()), retain_graph=True, allow_unused=True)
    if any(grad is not None for grad in into_G):
        raise Wrong("loss_D sends gradients into net_G: D must judge fake_B.detach(), or D's step would also train G.")
    parts = reference_losses(net_G, net_D, real_A, real_B)
    d_real, d_fake, g_gan, g_l1 = (parts[k] for k in ("D_real", "D_fake", "G_GAN", "G_L1"))
    verdict_D = {0.5 * (d_real + d_fake): None,
                 d_real + d_fake: "loss_D is BCE(real) + BCE(fake), not halved: the paper divides D's objective by 2 "
                                  "(§3.3), so that D learns slower than G."}
    verdict_G = {g_gan + LAMBDA * g_l1: None,
                 g_gan + g_l1: "loss_G is GAN + L1: the L1 part must be multiplied by lambda_L1 (§3.1, Eq. 4).",
                 g_gan + LAMBDA_L1 * g_l1: f"loss_G weights L1 by {LAMBDA_L1}, not by the lambda_L1 it was given "
                                           f"({LAMBDA}): use the argument.",
                 LAMBDA * g_l1: "loss_G has no GAN part: add the BCE of D's logits on (real_A, fake_B) against 1.",
                 g_gan: "loss_G has no L1 part: add lambda_L1 * L1(fake_B, real_B)."}
    parts_D = f"0.5 * ({d_real:.4f} on real pairs + {d_fake:.4f} on generated ones)"
    parts_G = f"{g_gan:.4f} (GAN) + {LAMBDA} * {g_l1:.4f} (L1)"
    for name, loss, known, parts in (("loss_D", loss_D, verdict_D, parts_D), ("loss_G", loss_G, verdict_G, parts_G)):
        found = [why for value, why in known.items() if math.isclose(loss.item(), value, rel_tol=RTOL)]
        if not found:  # the first key of `known` is the right value
            raise Wrong(f"{name} is {loss.item():.4f} where train_step's is {next(iter(known)):.4f} = {parts}.")
        if found[0] is not None:
            raise Wrong(found[0])
    into_G = torch.autograd.grad(loss_G, list(student_G.parameters()), allow_unused=True)
    if all(grad is None for grad in into_G):
        raise Wrong("loss_G sends no gradient into net_G: G's loss must use fake_B itself, not fake_B.detach().")


# Challenge 3: the receptive field

def number(result):
    try:
        return float(result)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"receptive_field returns a {type(result).__name__}, not a number.") from None


def check_receptive_field(module, path):
    receptive_field = defined(module, "receptive_field", path)
    ours = [layer for layer in PatchGANDiscriminator(ndf=NDF).model if isinstance(layer, nn.Conv2d)]
    field = number(student_code(path, receptive_field, ours))
    if field != 70:
        shown_field = int(field) if field.is_integer() else field
        why = FIELD_MISTAKES.get(field, "walk from one logit back to the input, the last layer first, as the "
                                        "lesson counts it by hand")
        raise Wrong(f"receptive_field gives {shown_field} for our PatchGAN, not 70: {why}.")
    for name, (layers, expected) in PAPER_PATCHES.items():
        convs = [nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers]
        field = number(student_code(path, receptive_field, convs))
        if field != expected:
            raise Wrong(f"receptive_field gives 70 for our PatchGAN but {field:g} for the paper's {name}: compute "
                        "it from each layer's kernel size and stride, not from a number typed in.")


CHALLENGES = {"unet_forward.py": ("1. The U-Net's forward pass", check_unet),
              "pix2pix_losses.py": ("2. The pix2pix losses", check_losses),
              "receptive_field.py": ("3. The PatchGAN's receptive field", check_receptive_field)}


def verdict(path, check):
    """'solved', 'not yet written' or one sentence on what is wrong with the challenge file at `path`."""
    path = Path(path).resolve()  # as tracebacks name it
    if not path.is_file():
        return f"{shown(where(path))} is missing; `git checkout -- {shown(where(path))}` brings the stub back."
    try:
        check(load(path), path)
    except Wrong as wrong:
        return str(wrong)
    return "solved"


def verdicts(folder):
    """{file name: verdict} for the three challenge files in `folder`."""
    return {name: verdict(folder / name, check) for name, (_, check) in CHALLENGES.items()}


def main(argv=None):
    parser = ArgumentParser(description="Check the three challenges (exit status 0 when all are solved).")
    parser.add_argument("--solutions", action="store_true",
                        help="check the reference solutions in challenges/solutions/ (default: your files)")
    args = parser.parse_args(argv)
    folder = HERE / "solutions" if args.solutions else HERE
    results = verdicts(folder)
    for name, result in results.items():
        print(f"{CHALLENGES[name][0]} ({shown(where(folder / name))}): {result}")
    solved = sum(result == "solved" for result in results.values())
    print(f"{solved} of {len(results)} solved")
    return 0 if solved == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
