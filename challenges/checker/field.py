"""Challenge 3: the student's receptive_field, for our PatchGAN and the paper's other ones.

A wrong number for our PatchGAN is named for the mistake it comes from where it is a known one;
the right 70 must also come out right for the other discriminators of §4.4, so that a number
typed in does not pass.
"""

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
    try:
        return float(result)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"receptive_field returns a {type(result).__name__}, not a number.") from None


def check_receptive_field(module, path):
    receptive_field = defined(module, "receptive_field", path)
    ours = [layer for layer in PatchGANDiscriminator(ndf=NDF).model if isinstance(layer, nn.Conv2d)]
    field = number(student_code(path, receptive_field, ours))
    if field != 70:
        given = int(field) if field.is_integer() else field
        why = FIELD_MISTAKES.get(field, UNKNOWN_MISTAKE)
        raise Wrong(f"receptive_field gives {given} for our PatchGAN, not 70: {why}.")
    for name, (layers, expected) in PAPER_PATCHES.items():
        convs = [nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers]
        field = number(student_code(path, receptive_field, convs))
        if field != expected:
            raise Wrong(
                f"receptive_field gives 70 for our PatchGAN but {field:g} for the paper's {name}: "
                "compute it from each layer's kernel size and stride, not from a number typed in."
            )
