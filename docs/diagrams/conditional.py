"""conditional_vs_unconditional.png: noise -> any image (DCGAN) against label -> its photo
(pix2pix), and what D is shown in each."""

import numpy as np

from docs.diagrams.drawing import (
    DISCRIMINATOR,
    FONT,
    GENERATOR,
    LABEL,
    arrow,
    arrows,
    box,
    canvas,
    picture,
    placeholder,
    save,
    text,
    title,
)


def draw_conditional(label, path):
    """The figure, with `label` (an RGB PIL image) as the condition x; writes `path`."""
    fig, ax = canvas(18, 14.0, 0.48)  # 8.6 x 6.7 inches

    # Top: the unconditional GAN.
    title(ax, 0.3, 13.6, "Unconditional GAN (e.g. DCGAN): noise in, any plausible image out")
    noise = np.random.default_rng(0).normal(size=(10, 1))
    ax.imshow(noise, extent=(1.0, 1.6, 9.3, 12.7), cmap="Greys", zorder=2)
    text(ax, 1.3, 9.1, "random\nnoise z", va="top")
    box(ax, 2.9, 10.4, 2.2, 1.3, "G", GENERATOR, size=15, weight="bold")
    placeholder(ax, 6.6, 9.5, 3.1, "an image\nof anything\nG has learned")
    box(ax, 11.2, 10.4, 2.2, 1.3, "D", DISCRIMINATOR, size=15, weight="bold")
    verdict = "one verdict\nfor the whole\nimage: real\nor fake?"
    text(ax, 16.0, 11.05, verdict, size=FONT + 0.5, linespacing=1.25)
    arrows(
        ax,
        [
            ((1.7, 11.05), (2.9, 11.05)),
            ((5.1, 11.05), (6.6, 11.05)),
            ((9.7, 11.05), (11.2, 11.05)),
            ((13.4, 11.05), (14.5, 11.05)),
        ],
    )
    no_choice = "You cannot ask for a particular picture: the output depends only on the random z."
    text(ax, 9.0, 8.65, no_choice, size=FONT + 0.5, style="italic")
    ax.plot([0.3, 17.7], [8.0, 8.0], color="#bbbbbb", lw=1)

    # Bottom: pix2pix, whose D judges (condition, image) pairs.
    title(ax, 0.3, 7.4, "Conditional GAN (pix2pix): an input image x in, its translation G(x) out")
    picture(ax, label, 0.3, 2.5, 2.7, caption="label map x")
    box(ax, 3.5, 3.2, 2.3, 1.3, "G\n(U-Net)", GENERATOR, size=LABEL + 1, weight="bold")
    placeholder(ax, 6.6, 1.85, 2.2, "generated\nphoto G(x)")
    placeholder(ax, 6.6, 4.45, 2.2, "real photo y\n(the pair's\nother half)")
    box(ax, 11.0, 3.2, 2.5, 1.3, "D\n(PatchGAN)", DISCRIMINATOR, size=LABEL + 1, weight="bold")
    text(ax, 9.95, 5.65, "(x, y) → real", color="#1e8449")
    text(ax, 9.9, 3.85, "(x, G(x))\n→ fake", color="#7b241c")
    patches = "a 30x30 map\nof real/fake\nverdicts, one\nper 70x70 patch"
    text(ax, 15.9, 3.85, patches, size=FONT + 0.5, linespacing=1.25)
    loss = (
        "G's loss = cGAN term + λ · |y − G(x)|₁,  λ = 100\n(fool D, and stay close to the real y)"
    )
    text(ax, 13.55, 6.45, loss, bbox=dict(facecolor="#fef9e7", edgecolor="#d4ac0d", pad=5))
    arrows(
        ax,
        [
            ((3.0, 3.85), (3.5, 3.85)),
            ((5.8, 3.85), (6.6, 2.95)),
            ((8.8, 2.95), (11.0, 3.55)),
            ((8.8, 5.55), (11.0, 4.15)),
            ((13.5, 3.85), (14.3, 3.85)),
        ],
    )
    arrow(ax, (1.65, 1.95), (12.25, 3.2), color="#7f8c8d", connectionstyle="arc3,rad=0.2")
    text(ax, 12.9, 2.0, "x goes to D as well:\nD judges pairs", ha="left", color="#5d6d7e")
    no_noise = (
        "No noise vector: pix2pix's only randomness is dropout (§3.1), which this module turns "
        "off\nby default, so one label gives one facade."
    )
    text(ax, 0.3, 0.15, no_noise, ha="left", va="bottom", style="italic", linespacing=1.3)
    return save(fig, path)
