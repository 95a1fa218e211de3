"""Challenge 3: the student's receptive_field, for our PatchGAN and the paper's other ones.

A wrong number for our PatchGAN is named for the mistake it comes from where it is a known one;
the right 70 must also come out right for the other discriminators of §4.4, so that a number
typed in does not pass.
"""

import math

import torch
import torch.nn as nn

from challenges.checker.compare import NDF
from challenges.checker.student_files import Wrong, defined, student_code
from pix2pix_models import PatchGANDiscriminator

# The paper's other discriminators (§4.4) as models/networks.py of
# junyanz/pytorch-CycleGAN-and-pix2pix builds them: (kernel, stride, padding) per convolution,
# input side first. NLayerDiscriminator with n layers: n stride-2 convolutions, then two of
# stride 1 (n = 1: 16x16, n = 5: 286x286); PixelDiscriminator: three 1x1 convolutions.
PAPER_PATCHES = {
    "1x1 PixelGAN": ([(1, 1, 0)] * 3, 1),
    "16x16 PatchGAN": ([(4, 2, 1)] + [(4, 1, 1)] * 2, 16),
    "286x286 ImageGAN": ([(4, 2, 1)] * 5 + [(4, 1, 1)] * 2, 286),
}
# Wrong answers for our PatchGAN (kernels 4; strides 2, 2, 2, 1, 1; padding 1), and their cause.
PADDING = "padding adds zeros at the border and leaves a patch as wide as it was"
FIELD_MISTAKES = {
    8: "8 is the product of the strides, the step between two neighbouring logits' patches, "
    "not their width",
    16: "16 is 1 + the sum of (kernel - 1): each stride-2 layer also doubles the reach of every "
    "layer after it",
    24: f"24 subtracts the padding (the output-size formula turned round): {PADDING}",
    116: f"116 adds the padding: {PADDING}",
    28: "28 takes the layers input side first: walk back from one logit, the last layer first",
    62: "62 starts from 0: one logit is a field of 1 before the layers widen it",
}
UNKNOWN_MISTAKE = (
    "walk from one logit back to the input, the last layer first, as the lesson counts it by hand"
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
    return int(result) if result == int(result) else result


def shown_number(value):
    """A number as the messages print it: 70, 70.5, or "a 401-digit number" for 10**400."""
    text = str(value)
    return text if len(text) <= 12 else f"a {len(text)}-digit number"


def check_receptive_field(module, path):
    receptive_field = defined(module, "receptive_field", path)
    ours = [layer for layer in PatchGANDiscriminator(ndf=NDF).model if isinstance(layer, nn.Conv2d)]
    field = number(student_code(path, receptive_field, ours))
    if field != 70:
        why = FIELD_MISTAKES.get(field, UNKNOWN_MISTAKE)
        raise Wrong(f"receptive_field gives {shown_number(field)} for our PatchGAN, not 70: {why}.")
    for name, (layers, expected) in PAPER_PATCHES.items():
        convs = [nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers]
        field = number(student_code(path, receptive_field, convs))
        if field != expected:
            raise Wrong(
                f"receptive_field gives 70 for our PatchGAN but {shown_number(field)} for the "
                f"paper's {name}: "
                "compute it from each layer's kernel size and stride, not from a number typed in."
            )
