"""Colour your own line sketch with the generator you trained in Exercise 3, or compare several generators.

    python colorize_sketch.py my_sketch.png                               # uses ./generator_weights.pth
    python colorize_sketch.py a.png b.png --weights runs/quick/generator_weights.pth --output-dir colored/
    python colorize_sketch.py anime_processed/val/sketches --grid ablation.png \\
        --weights l1_only/generator_weights.pth gan_only/generator_weights.pth generator_weights.pth

A folder stands for --per-folder of its images, spread over its sorted list. Writes NAME_colorized.png
for each sketch into --output-dir (default: the current folder), or, with
several --weights, NAME_colorized_RUN.png, RUN being the folder that holds the weights. With --grid it
writes that one PNG instead: one column per sketch; rows: the sketch, each run's colours, and the
target where a colors/ folder beside sketches/ holds the same name (the layout of the preprocessed
pairs). Like the training sketches, a sketch should be dark lines on white; any size works (it is
resized to the training size) and a transparent background counts as white paper.
"""

from pathlib import Path

import torch
from PIL import Image

from helpers.checkpoints import load_generator
from helpers.cli import ArgumentParser, LessonError, add_device_argument, at_least, choose_device, fail, shown
from helpers.figures import save_grid
from helpers.files import check_writable_folder
from helpers.images import image_files, image_to_tensor, open_image, save_image, tensor_to_image, to_rgb


def prepare(image, image_size):
    """Any PIL image as the generator sees it: RGB, transparency on white paper, image_size square."""
    return to_rgb(image, background=(255, 255, 255)).resize((image_size, image_size), Image.BICUBIC)


@torch.inference_mode()
def colorize(net_G, sketch, image_size):
    """A sketch (PIL image, any size) -> the generator's colour PIL image (image_size square). Dropout off."""
    device = next(net_G.parameters()).device
    return tensor_to_image(net_G.eval()(image_to_tensor(prepare(sketch, image_size))[None].to(device))[0])


def target_of(sketch_path, image_size):
    """The colour half of a preprocessed pair (.../sketches/NAME.png -> .../colors/NAME.png) as a tensor, or None."""
    colour = sketch_path.parent.parent / "colors" / sketch_path.name
    if sketch_path.parent.name != "sketches" or not colour.is_file():
        return None
    return image_to_tensor(prepare(open_image(colour, "target colour image"), image_size))


def save_comparison(path, paths, sketches, runs):
    """One grid: a column per sketch; rows: the sketch, each run's colours, the target. Under each colouring:
    its mean L1 distance to the target on [-1, 1], the measure of the training loss and of val L1."""
    size = runs[0][2]  # the first run's training size (256 for every run of exercise3_train.py)
    targets = [target_of(p, size) for p in paths]
    rows, titles, captions = [[image_to_tensor(prepare(s, size)) for s in sketches]], ["sketch"], [None]
    for name, net_G, image_size in runs:
        colours = [image_to_tensor(colorize(net_G, s, image_size).resize((size, size), Image.BICUBIC)) for s in sketches]
        rows.append(colours), titles.append(name)
        captions.append(["" if t is None else f"L1 to target {(c - t).abs().mean():.3f}" for c, t in zip(colours, targets)])
    if any(t is not None for t in targets):  # preprocessed pairs: their colour halves are the answers
        rows.append(targets), titles.append("target"), captions.append(None)
    save_grid(path, rows, titles, title="One row per generator (named by its folder)",
              col_titles=[shown(p.stem) for p in paths], captions=captions)


def main(argv=None):
    parser = ArgumentParser(description="Colour line sketches with Exercise 3's trained generator(s).")
    parser.add_argument("sketches", nargs="+", type=Path, help="sketch images (PNG, JPEG, ...) or folders of them")
    parser.add_argument("--weights", nargs="+", type=Path, default=[Path("generator_weights.pth")],
                        help="one or more generator_weights.pth written by exercise3_train.py, each named by its "
                             "folder (default: ./generator_weights.pth)")
    parser.add_argument("--output-dir", type=Path, default=Path("."), help="where the coloured images go (default: .)")
    parser.add_argument("--grid", type=Path, help="write one comparison grid PNG here instead (default: no grid)")
    parser.add_argument("--per-folder", type=at_least(1), default=5,
                        help="sketches taken from each folder given, spread over its sorted files (default: 5)")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    try:
        folder = args.grid.parent if args.grid else args.output_dir
        problem = check_writable_folder(folder)
        if problem:
            raise LessonError(f"cannot write into {shown(folder)} ({problem}); choose another --output-dir or --grid")
        names = [w.resolve().parent.name for w in args.weights]
        if len(set(names)) < len(names):  # two runs in folders of the same name: add the folder above
            names = ["-".join(w.resolve().parent.parts[-2:]) for w in args.weights]
        device = choose_device(args.device)
        runs = [(name, net_G.to(device), size) for name, (net_G, size) in
                zip(names, map(load_generator, args.weights))]
        paths = image_files(args.sketches, args.per_folder)
        if not paths:
            raise LessonError(f"no sketch images in {' '.join(map(shown, args.sketches))}; pass PNG or JPEG files")
        sketches = [open_image(path, "sketch", "pass a PNG or JPEG line drawing") for path in paths]
        if args.grid:
            save_comparison(args.grid, paths, sketches, runs)
            print(f"Wrote {shown(args.grid)}: a row per generator ({len(runs)}), a column per sketch ({len(sketches)})")
            return
        for path, sketch in zip(paths, sketches):
            for name, net_G, image_size in runs:
                out = args.output_dir / f"{path.stem}_colorized{f'_{name}' if len(runs) > 1 else ''}.png"
                save_image(colorize(net_G, sketch, image_size), out)
                print(f"Coloured {shown(path)} -> {shown(out)}")
    except LessonError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
