"""Colour your own line sketch with the generator you trained in Exercise 3, or compare generators.

    python colorize_sketch.py my_sketch.png         # uses ./generator_weights.pth
    python colorize_sketch.py a.png b.png --weights runs/quick/generator_weights.pth --output-dir c/
    python colorize_sketch.py anime_processed/val/sketches --grid ablation.png \\
        --weights l1_only/generator_weights.pth gan_only/generator_weights.pth generator_weights.pth

Writes NAME_colorized.png for each sketch into --output-dir (default: the current folder), or, with
several --weights, NAME_colorized_RUN.png, RUN being the folder that holds the weights. With --grid
it writes that one PNG instead: one column per sketch; rows: the sketch, each run's colours, and the
target where a colors/ folder beside sketches/ holds the same name (the preprocessed pairs' layout).
A folder stands for --per-folder of its images, spread over its sorted list. Like the training
sketches, a sketch should be dark lines on white; any size works (it is resized to the training
size) and a transparent background counts as white paper.
"""

from pathlib import Path

from PIL import Image

from helpers.checkpoints import load_generator
from helpers.cli import (
    ArgumentParser,
    LessonError,
    add_device_argument,
    at_least,
    choose_device,
    fail,
    shown,
)
from helpers.figures import save_grid
from helpers.files import check_writable_folder
from helpers.images import (
    image_files,
    image_to_tensor,
    open_image,
    save_image,
    tensor_to_image,
    to_rgb,
)
from pix2pix_models import translate

PAPER = (255, 255, 255)  # what a transparent background becomes: the white of the training sketches


def as_input(image, image_size):
    """Any PIL image -> (3, image_size, image_size) tensor in [-1, 1], as the generator reads it."""
    square = to_rgb(image, background=PAPER).resize((image_size, image_size), Image.BICUBIC)
    return image_to_tensor(square)


def colorize(net_G, sketch, image_size):
    """A sketch (PIL image, any size) -> G's colours, a PIL image image_size square. Dropout off."""
    real_A = as_input(sketch, image_size)[None]  # (1, 3, S, S)
    fake_B = translate(net_G.eval(), real_A)
    return tensor_to_image(fake_B[0])


def target_of(sketch_path, image_size):
    """The colour half of a preprocessed pair as a tensor (.../sketches/NAME.png ->
    .../colors/NAME.png), or None for a sketch that has none."""
    colour = sketch_path.parent.parent / "colors" / sketch_path.name
    if sketch_path.parent.name != "sketches" or not colour.is_file():
        return None
    return as_input(open_image(colour, "target colour image"), image_size)


def save_comparison(path, paths, sketches, runs):
    """One grid: a column per sketch; rows: the sketch, each run's colours, the target. Under each
    colouring, its mean L1 distance to the target on [-1, 1]: the measure of the training loss."""
    size = runs[0][2]  # the first run's training size (256 for every run of exercise3_train.py)
    targets = [target_of(p, size) for p in paths]
    rows = [[as_input(s, size) for s in sketches]]
    titles = ["sketch"]
    captions = [None]
    for name, net_G, image_size in runs:
        colours = []
        for sketch in sketches:
            colour = colorize(net_G, sketch, image_size).resize((size, size), Image.BICUBIC)
            colours.append(image_to_tensor(colour))
        rows.append(colours)
        titles.append(name)
        captions.append([l1_caption(c, t) for c, t in zip(colours, targets, strict=True)])
    if any(t is not None for t in targets):  # preprocessed pairs: the colour halves are answers
        rows.append(targets)
        titles.append("target")
        captions.append(None)
    col_titles = [shown(p.stem) for p in paths]
    title = "One row per generator (named by its folder)"
    save_grid(path, rows, titles, title=title, col_titles=col_titles, captions=captions)


def l1_caption(colour, target):
    return "" if target is None else f"L1 to target {(colour - target).abs().mean():.3f}"


def run_names(weights):
    """Each weights file named by its folder; by its last two folders if two runs share a name."""
    names = [w.resolve().parent.name for w in weights]
    if len(set(names)) < len(names):
        names = ["-".join(w.resolve().parent.parts[-2:]) for w in weights]
    return names


def parse_args(argv):
    parser = ArgumentParser(
        description="Colour line sketches with Exercise 3's trained generator(s)."
    )
    parser.add_argument(
        "sketches", nargs="+", type=Path, help="sketch images (PNG, JPEG, ...) or folders of them"
    )
    parser.add_argument(
        "--weights",
        nargs="+",
        type=Path,
        default=[Path("generator_weights.pth")],
        help="one or more generator_weights.pth written by exercise3_train.py, each named by its "
        "folder (default: ./generator_weights.pth)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        help="where the coloured images go (default: .)",
    )
    parser.add_argument(
        "--grid", type=Path, help="write one comparison grid PNG here instead (default: no grid)"
    )
    parser.add_argument(
        "--per-folder",
        type=at_least(1),
        default=5,
        help="sketches taken from each folder given, spread over its sorted files (default: 5)",
    )
    add_device_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        folder = args.grid.parent if args.grid else args.output_dir
        problem = check_writable_folder(folder)
        if problem:
            fix = "choose another --output-dir or --grid"
            raise LessonError(f"cannot write into {shown(folder)} ({problem}); {fix}")
        device = choose_device(args.device)
        print(f"device: {device}")
        runs = []
        for name, weights in zip(run_names(args.weights), args.weights, strict=True):
            net_G, image_size = load_generator(weights)
            runs.append((name, net_G.to(device), image_size))
        paths = image_files(args.sketches, args.per_folder)
        if not paths:
            given = " ".join(map(shown, args.sketches))
            raise LessonError(f"no sketch images in {given}; pass PNG or JPEG files")
        sketches = [open_image(path, "sketch", "pass a PNG or JPEG line drawing") for path in paths]
        if args.grid:
            save_comparison(args.grid, paths, sketches, runs)
            print(
                f"Wrote {shown(args.grid)}: a row per generator ({len(runs)}), "
                f"a column per sketch ({len(sketches)})"
            )
            return
        for path, sketch in zip(paths, sketches, strict=True):
            for name, net_G, image_size in runs:
                suffix = f"_{name}" if len(runs) > 1 else ""
                out = args.output_dir / f"{path.stem}_colorized{suffix}.png"
                save_image(colorize(net_G, sketch, image_size), out)
                print(f"Coloured {shown(path)} -> {shown(out)}")
    except LessonError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
