"""Challenge 1: the student's U-Net forward pass, block by block, against UNetGenerator's.

Official-layout weights go into MyUNetGenerator and into pix2pix_models.UNetGenerator; forward
hooks record what each block reads, and the first block that reads something else is named.
"""

import torch

from challenges.checker.compare import BATCH, NGF, SEED, close, kind, shape
from challenges.checker.student_files import Wrong, defined, explain, student_code, where
from helpers.lesson import shown
from pix2pix_models import (
    IMAGE_SIZE,
    PerImageBatchNorm2d,
    UNetGenerator,
    init_weights,
    load_official_generator_weights,
    official_generator_key_map,
)

# What each block reads, in the order a forward pass reaches it; the skip connections join the
# mirrored encoder level and the decoder's own features, encoder first.
READS = {
    "down1": "x",
    **{f"down{k}": f"d{k - 1}" for k in range(2, 9)},
    "up1": "d8",
    **{f"up{k}": f"cat([d{9 - k}, u{k - 1}])" for k in range(2, 8)},
    "final": "cat([d1, u7])",
}
SKIP_AND_DECODER = {f"up{k}": (f"d{9 - k}", f"u{k - 1}") for k in range(2, 8)}
SKIP_AND_DECODER["final"] = ("d1", "u7")
LEVELS = {f"down{k}": f"d{k}" for k in range(1, 9)} | {f"up{k}": f"u{k}" for k in range(1, 8)}


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
    """Hooks that keep a copy of the first tensor each named block reads (what="input") or gives
    (what="output"). -> ({name: tensor}, filled as the net runs; the hooks' handles)."""
    kept = {}

    def keeper(name):
        def keep(module, args, kwargs, output=None):
            value = output if what == "output" else (args or tuple(kwargs.values()) or (None,))[0]
            kept.setdefault(name, value.detach().clone() if torch.is_tensor(value) else value)

        return keep

    register = "register_forward_hook" if what == "output" else "register_forward_pre_hook"
    handles = []
    for block, name in blocks.items():
        handles.append(getattr(getattr(net, block), register)(keeper(name), with_kwargs=True))
    return kept, handles


def matching(got, tensors):
    """The name of the reference tensor `got` equals ("d5", "u3", ...), if any."""
    return next((name for name, tensor in tensors.items() if close(got, tensor)), None)


def wrong_input(block, got, want, tensors):
    """One sentence on what `block` read instead of READS[block]; `tensors` holds the reference's
    x, d1..d8 and u1..u7."""
    reads = READS[block]
    found = matching(got, tensors)
    skip, decoder = SKIP_AND_DECODER.get(block, (None, None))
    if not torch.is_tensor(got):
        return f"{block} received a {type(got).__name__} where it reads the tensor {reads}."
    if found is not None and found == decoder:
        return (
            f"{block} received {decoder} alone, shape {shape(got)}, where it reads {reads}, "
            f"shape {shape(want)}: the skip connection from {skip} is missing."
        )
    if skip and close(got, torch.cat([tensors[decoder], tensors[skip]], dim=1)):
        return (
            f"{block} received cat([{decoder}, {skip}]), decoder first; the official order is "
            f"encoder first, {reads}, and the checkpoint's weights expect their channels in that "
            "order."
        )
    if found is not None:
        return (
            f"{block} received {found}, shape {shape(got)}, where it reads {reads}, "
            f"shape {shape(want)}."
        )
    if got.shape != want.shape:
        return (
            f"{block} received a tensor of shape {shape(got)} where it reads {reads}, "
            f"shape {shape(want)}."
        )
    if kind(got) != kind(want):
        return f"{block} received a {kind(got)} where it reads {reads}, a {kind(want)}."
    largest = (got - want).abs().max()
    return (
        f"{block} received the right shape but other values than {reads} "
        f"(largest difference {largest:.3g})."
    )


def build_student(net_class, path, weights):
    """The student's network with the official-layout `weights`, in eval mode."""
    student = student_code(path, lambda: net_class(ngf=NGF, norm_layer=PerImageBatchNorm2d))
    try:
        load_official_generator_weights(student, weights)
    except (ValueError, RuntimeError) as exc:
        raise Wrong(
            f"the official weights do not load into MyUNetGenerator ({exc}); keep "
            "UNetGenerator's layers."
        ) from None
    return student.eval()


def check_unet(module, path):
    net_class = defined(module, "MyUNetGenerator", path)
    if getattr(net_class, "forward", None) is UNetGenerator.forward:
        raise Wrong(
            f"MyUNetGenerator has no forward pass of its own yet: write it in {shown(where(path))}."
        )
    weights = official_layout_weights(NGF, SEED)
    # Per-image BatchNorm and eval(): dropout off and no batch coupling, as the facades loader
    # runs G.
    reference = UNetGenerator(ngf=NGF, norm_layer=PerImageBatchNorm2d)
    reference = load_official_generator_weights(reference, weights).eval()
    student = build_student(net_class, path, weights)
    generator = torch.Generator().manual_seed(SEED)
    x = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 2 - 1
    blocks = {block: block for block in READS}
    tensors, levels_hooks = record(reference, LEVELS, "output")
    expected, reference_hooks = record(reference, blocks, "input")
    got, student_hooks = record(student, blocks, "input")
    error = None
    output = None
    with torch.no_grad():
        fake_B = reference(x)
        try:
            output = student(x)
        except Exception as exc:
            error = exc
    for handle in levels_hooks + reference_hooks + student_hooks:
        handle.remove()
    tensors = {"x": x} | tensors
    if error is not None and explain(error, path) == "not yet written":
        raise Wrong("not yet written")
    # The first block that reads something else is where the forward pass went wrong.
    for block, reads in READS.items():
        if block not in got:
            if error:
                raise Wrong(f"{block} is never reached: {explain(error, path)}")
            raise Wrong(f"{block} is never called; every block runs once, {block} on {reads}.")
        if not close(got[block], expected[block]):
            raise Wrong(wrong_input(block, got[block], expected[block], tensors))
    if error is not None:
        raise Wrong(explain(error, path))
    if torch.is_tensor(output) and output.shape == fake_B.shape and kind(output) != kind(fake_B):
        raise Wrong(
            f"forward returns a {kind(output)} where final gives a {kind(fake_B)}; return it "
            "unchanged."
        )
    if not close(output, fake_B):
        raise Wrong(
            "every block reads what it should, but forward does not return what final gives; "
            "return it unchanged."
        )
