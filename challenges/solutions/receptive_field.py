"""Reference solution to challenge 3 (challenges/receptive_field.py): the field of one logit."""


def receptive_field(convs):
    # Walk from one output value back to the input, the last layer first. A layer with kernel k and
    # stride s turns a field of r of its outputs into s * (r - 1) + k of its inputs: neighbouring
    # outputs are s inputs apart, and the last one adds a whole kernel. Padding only adds zeros at
    # the border, so it never widens a patch.
    r = 1  # one logit sees itself
    for conv in reversed(convs):
        k, s = conv.kernel_size[0], conv.stride[0]
        r = s * (r - 1) + k
    return r
