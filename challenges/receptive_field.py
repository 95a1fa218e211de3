"""Challenge 3 (optional): the receptive field of one PatchGAN logit, computed from the layers.

    python challenges/check.py               # "solved", or what your number means
    python challenges/check.py --solutions   # the reference solutions (open them after trying)

Read first: README.rst, "Core concepts", 3. The PatchGAN discriminator.

Write receptive_field(convs) in place of the `raise` line. `convs` lists nn.Conv2d layers, the
input's side first (for our D, the five convolutions of PatchGANDiscriminator().model: activations
and BatchNorm do not widen the field). Each has .kernel_size, .stride and .padding, square
(height, width) tuples, so [0] will do. Return how many input pixels wide the patch is that one
output value depends on, as an int. Work out the rule yourself first, on paper: if r neighbouring
outputs of a layer with kernel k and stride s are seen, how many of its inputs are? Then apply it
layer by layer. The checker also tries the paper's other discriminators (§4.4), so a number typed
in does not pass.
"""


def receptive_field(convs):
    # ---- your code here (about 5 lines); it replaces the line below ----
    raise NotImplementedError("challenge 3: the receptive field is not written yet")
