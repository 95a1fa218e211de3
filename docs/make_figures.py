"""Draw the lesson's concept diagrams from the real networks (no weights needed).

    python docs/make_figures.py                        # rewrites the PNGs in docs/figures/
    python docs/make_figures.py --output-dir /tmp/fig  # somewhere else

Writes:
    conditional_vs_unconditional.png   noise -> image vs label -> image, and what D is shown
    unet.png                           the U-Net, every tensor shape read from a forward pass
    patchgan.png                       the PatchGAN's layer shapes, its 30x30 output, and the
                                       70x70 patch one logit sees, found from that logit's gradient

Nothing here is a result: the shapes come from forward hooks on pix2pix_models.UNetGenerator and
PatchGANDiscriminator (the U-Net runs on PyTorch's "meta" device, which tracks shapes without any
arithmetic), and the receptive field from one backward pass through a randomly initialised D.
This script measures; docs/diagrams/ draws. The label drawn in the figures is a shipped sample
(sample_facades/base/); photos are placeholders.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python docs/make_figures.py`

import torch

from docs.diagrams.conditional import draw_conditional
from docs.diagrams.drawing import shape_text
from docs.diagrams.patchgan import draw_patchgan
from docs.diagrams.unet import draw_unet
from helpers.facade_labels import SAMPLE_LABELS_DIR
from helpers.lesson import ROOT
from helpers.lesson import open_image, to_rgb
from pix2pix_models import IMAGE_SIZE, PatchGANDiscriminator, UNetGenerator, init_weights

FIGURES_DIR = ROOT / "docs" / "figures"
SAMPLE_LABEL = SAMPLE_LABELS_DIR / "townhouse_4_floors.png"
PROBE_LOGIT = (9, 12)  # the PatchGAN logit whose receptive field patchgan.png draws (row, col)


def unet_shapes(ngf=64):
    """{block name: (input shape, output shape)} of UNetGenerator for one 256x256 image, each
    (C, H, W)."""
    shapes = {}

    def keep(name):
        def hook(module, inputs, output):
            shapes[name] = (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))

        return hook

    with torch.device("meta"):  # shapes only: no memory for activations, no arithmetic
        net_G = UNetGenerator(ngf=ngf)
        for name, block in net_G.named_children():
            block.register_forward_hook(keep(name))
        net_G(torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    return shapes


def patchgan_facts(row=PROBE_LOGIT[0], col=PROBE_LOGIT[1], seed=0):
    """Layer output shapes of PatchGANDiscriminator and the input box that logit (row, col)
    depends on.

    The box is found, not assumed: back-propagate one logit and keep the input pixels whose
    gradient is non-zero. D is in eval mode, because training-mode BatchNorm mixes every pixel
    into every logit.
    """
    torch.manual_seed(seed)
    net_D = init_weights(PatchGANDiscriminator()).eval().requires_grad_(False)
    conv_shapes = []
    for layer in net_D.model:
        if isinstance(layer, torch.nn.Conv2d):
            layer.register_forward_hook(lambda m, i, o: conv_shapes.append(tuple(o.shape[1:])))
    image = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, requires_grad=True)
    logits = net_D(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE), image)
    logits[0, 0, row, col].backward()
    footprint = image.grad[0].abs().sum(0)  # (256, 256): how strongly each pixel moves this logit
    rows, cols = torch.nonzero(footprint, as_tuple=True)
    top, left = rows.min().item(), cols.min().item()
    bottom, right = rows.max().item() + 1, cols.max().item() + 1
    return {
        "input": (6, IMAGE_SIZE, IMAGE_SIZE),
        "conv_shapes": conv_shapes,
        "output": tuple(logits.shape[1:]),
        "box": (top, left, bottom, right),
        "field": (bottom - top, right - left),
        "footprint": footprint.numpy(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Draw the lesson's concept diagrams into PNG files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output-dir", type=Path, default=FIGURES_DIR, help="folder for the PNGs")
    args = parser.parse_args(argv)
    print(f"output dir: {args.output_dir}")
    print("device:     cpu (shapes on 'meta', one backward pass for D)")

    label = to_rgb(open_image(SAMPLE_LABEL, "sample label", "restore it with git checkout"))
    shapes = unet_shapes()
    facts = patchgan_facts()
    field = facts["field"]
    print(
        f"U-Net bottleneck {shape_text(shapes['down8'][1])}; "
        f"PatchGAN output {shape_text(facts['output'])}, "
        f"logit {PROBE_LOGIT} sees {field[0]}x{field[1]} input pixels"
    )
    out = args.output_dir
    written = [
        draw_conditional(label, out / "conditional_vs_unconditional.png"),
        draw_unet(shapes, out / "unet.png"),
        draw_patchgan(label, facts, out / "patchgan.png", PROBE_LOGIT),
    ]
    for path in written:
        print(f"wrote {path}")
    return {"unet": shapes, "patchgan": facts, "files": written}


if __name__ == "__main__":
    main()
