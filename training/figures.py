"""Exercise 3's figures: the milestone previews, D's PatchGAN maps and the loss curves.

All three use the module's one layout (helpers/figures.py): a column per example, kinds as rows.
"""

import math

import torch
from matplotlib.figure import Figure
from torch.func import functional_call

from helpers.figures import Heat, save_figure, save_grid


def save_previews(path, title, real_A, fake_B, real_B):
    """The milestone grid: a column per validation sketch; rows sketch, generated, target."""
    save_grid(
        path,
        [list(real_A), list(fake_B), list(real_B)],
        ["sketch (input)", "generated", "target"],
        col_titles=[f"val {i + 1}" for i in range(len(real_A))],
        title=title,
    )


@torch.inference_mode()
def patchgan_verdicts(net_D, real_A, images):
    """D's verdicts, sigmoid = P(real), on the 70x70 patches of (sketch, image) pairs: (N, 30, 30)

    D runs as in a training step, in train mode: BatchNorm takes the statistics of this batch. It
    runs on copies of its buffers, so its running averages stay put, and nothing random is drawn:
    training and --resume go on exactly as without the figure.
    """
    device = next(net_D.parameters()).device
    state = {**dict(net_D.named_parameters()), **{k: b.clone() for k, b in net_D.named_buffers()}}
    logits = functional_call(net_D, state, (real_A.to(device), images.to(device)))  # (N, 1, 30, 30)
    return torch.sigmoid(logits.float())[:, 0].cpu()


def save_patchgan_maps(path, title, net_D, real_A, real_B, fake_B):
    """A column per image; rows: the sketch, D's 30x30 verdicts on the real pair laid over the
    target, and on the generated pair laid over G's output (§3.2.2: one verdict per 70x70 patch)."""
    rows, captions = [list(real_A)], [None]
    for images in (
        real_B,
        fake_B,
    ):  # real and generated pairs in separate batches, as in train_step
        verdicts = patchgan_verdicts(net_D, real_A, images)
        rows.append(
            [
                Heat(v, 0.0, 1.0, "D: probability real", under=image)
                for v, image in zip(verdicts, images, strict=True)
            ]
        )
        captions.append([f"mean P(real) {v.mean():.2f}" for v in verdicts])
    save_grid(
        path,
        rows,
        ["sketch (input)", "D on the real pair", "D on the generated pair"],
        col_titles=[f"val {i + 1}" for i in range(len(real_A))],
        captions=captions,
        title=title,
    )


def save_progress_plot(path, history):
    """The loss curves (G's two parts, D's two parts) and validation L1, one panel each."""
    rows = [h for h in history if h["epoch"] > 0]
    x = [h["epoch"] for h in rows]
    fig = Figure(figsize=(15, 4), layout="constrained")  # no pyplot: no window, any backend
    ax_g, ax_d, ax_v = fig.subplots(1, 3)
    if rows and "D_real" in rows[0]:
        ax_g.plot(x, [h["G_GAN"] for h in rows], label="G GAN part")
        for ax in (ax_g, ax_d):
            ax.axhline(math.log(2), color="grey", ls=":", label="log 2 = 0.69: D undecided")
        ax_d.plot(x, [h["D_real"] for h in rows], label="D on real pairs")
        ax_d.plot(x, [h["D_fake"] for h in rows], label="D on generated pairs")
    elif rows:  # --no-gan trains no D: its panel says so instead of plotting zeros
        ax_d.text(
            0.5,
            0.5,
            "no discriminator\n(--no-gan: L1 alone)",
            ha="center",
            va="center",
            transform=ax_d.transAxes,
            fontsize=12,
            color="grey",
        )
        ax_d.set(xticks=[], yticks=[])  # no scale to read off an empty panel
    ax_g.plot(x, [h["G_L1"] for h in rows], label="G L1 part (before x lambda)")
    ax_v.plot(
        [h["epoch"] for h in history], [h["val_L1"] for h in history], "o-", label="validation L1"
    )
    titles = ("Generator loss", "Discriminator loss", "Validation L1 (lower is better)")
    for ax, title in zip((ax_g, ax_d, ax_v), titles, strict=True):
        ax.set(title=title, xlabel="epoch")
        if ax.get_legend_handles_labels()[0]:  # an empty legend is a warning
            ax.legend()
    save_figure(fig, path)
