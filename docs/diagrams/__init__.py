"""What docs/make_figures.py draws the concept diagrams with, one module per figure.

    drawing.py       the canvas, boxes, arrows, pictures and text, in the site's type sizes
    conditional.py   conditional_vs_unconditional.png: noise -> image vs label -> image
    unet.py          unet.png: the U-Net, every tensor shape read from a forward pass
    patchgan.py      patchgan.png: the PatchGAN's layers, its 30x30 output, one logit's patch

The numbers drawn are measured by docs/make_figures.py and passed in: nothing here computes them.
"""
