"""Challenge 3: the receptive field of one PatchGAN logit, computed from the layers.

    python challenges/check.py               # "solved", or what your number means
    python challenges/check.py --solutions   # the reference solutions (open them after trying)

Read first: README.rst, "Core concepts", 3. The PatchGAN discriminator.

Write receptive_field(convs) in place of the `raise` line. `convs` is a list of nn.Conv2d layers,
the input's side first (for our D: the five convolutions of PatchGANDiscriminator().model;
activations and BatchNorm do not widen the field, so they are left out). Each layer has
.kernel_size, .stride and .padding, tuples (height, width); all are square here, so [0] will do.
Return how many input pixels wide the patch is that one output value depends on, as an int.
Compute it from the layers: do not type the lesson's number in. The checker also tries the other
discriminators of the paper's §4.4 (1x1, 16x16, 286x286).
"""


def receptive_field(convs):
    # ---- your code here (about 5 lines); it replaces the line below ----
    raise NotImplementedError("challenge 3: the receptive field is not written yet")
