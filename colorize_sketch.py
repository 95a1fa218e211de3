"""Colour your own line sketch with the generator you trained in Exercise 3.

    python colorize_sketch.py my_sketch.png                               # uses ./generator_weights.pth
    python colorize_sketch.py a.png b.png --weights runs/quick/generator_weights.pth --output-dir colored/

Writes NAME_colorized.png for each sketch into --output-dir (default: the current folder). Like the
training sketches, a sketch should be dark lines on white; any size works (it is resized to the
training size) and a transparent background counts as white paper.
"""

from pathlib import Path

import torch
from PIL import Image

from helpers.checkpoints import load_generator
from helpers.cli import ArgumentParser, LessonError, add_device_argument, choose_device, fail, shown
from helpers.files import check_writable_folder
from helpers.images import image_to_tensor, open_image, save_image, tensor_to_image, to_rgb
from pix2pix_models import PerImageBatchNorm2d, UNetGenerator


def build(model_args):
    """The trained U-Net with the paper's test-time normalisation: each image's own statistics (§3.3)."""
    return UNetGenerator(model_args["in_channels"], model_args["out_channels"], model_args["ngf"], PerImageBatchNorm2d)


@torch.inference_mode()
def colorize(net_G, sketch, image_size):
    """A sketch (PIL image, any size) -> the generator's colour PIL image (image_size square). Dropout off."""
    sketch = to_rgb(sketch, background=(255, 255, 255)).resize((image_size, image_size), Image.BICUBIC)
    device = next(net_G.parameters()).device
    return tensor_to_image(net_G.eval()(image_to_tensor(sketch)[None].to(device))[0])


def main(argv=None):
    parser = ArgumentParser(description="Colour line sketches with Exercise 3's trained generator.")
    parser.add_argument("sketches", nargs="+", type=Path, help="sketch images (PNG, JPEG, ...)")
    parser.add_argument("--weights", type=Path, default=Path("generator_weights.pth"),
                        help="generator_weights.pth written by exercise3_train.py (default: ./generator_weights.pth)")
    parser.add_argument("--output-dir", type=Path, default=Path("."), help="where the coloured images go (default: .)")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    try:
        problem = check_writable_folder(args.output_dir)
        if problem:
            raise LessonError(f"cannot write into --output-dir {shown(args.output_dir)} ({problem}); choose another")
        net_G, image_size = load_generator(args.weights, build)
        net_G = net_G.to(choose_device(args.device))
        for path in args.sketches:
            sketch = open_image(path, "sketch", "pass a PNG or JPEG line drawing")
            out = args.output_dir / f"{path.stem}_colorized.png"
            save_image(colorize(net_G, sketch, image_size), out)
            print(f"Coloured {shown(path)} -> {shown(out)}")
    except LessonError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
