"""Challenge 3 (optional): the receptive field of one PatchGAN logit, computed from the layers.

Read first: README.rst, "Core concepts", 3. The PatchGAN discriminator. Check with
`python challenges/check.py`: "solved", or what your number misses.

Write receptive_field(convs) in place of the `raise` line. `convs` lists nn.Conv2d layers, input
side first (for our D, the five convolutions of PatchGANDiscriminator().model), each with square
.kernel_size, .stride and .padding tuples ([0] will do). Return how wide, in input pixels, the
patch is that one output value depends on. Work out the rule on paper first: if r neighbouring
outputs of a layer with kernel k and stride s are seen, how many of its inputs are? The checker
also tries the paper's other discriminators (§4.4), so a number typed in does not pass.
"""


def receptive_field(convs):
    # ---- your code here (about 5 lines); it replaces the line below ----
    raise NotImplementedError("challenge 3: the receptive field is not written yet")
