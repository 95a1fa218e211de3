"""Colour your own line sketch with the generator you trained in Exercise 3, or compare generators.

    python colorize_sketch.py my_sketch.png         # uses ./generator_weights.pth
    python colorize_sketch.py a.png b.png --weights runs/quick/generator_weights.pth --output-dir c/
    python colorize_sketch.py anime_processed/val/sketches --grid ablation.png \\
        --weights l1_only/generator_weights.pth gan_only/generator_weights.pth generator_weights.pth

Writes NAME_colorized.png for each sketch into --output-dir (default: the current folder), or, with
several --weights, NAME_colorized_RUN.png, RUN being the folder that holds the weights. Sketches of
one name are told apart by their folders (a/x.png, b/x.png -> a_x_colorized.png, b_x_colorized.png);
an earlier run's file of the same name is replaced, and the line says so. With --grid it writes
that one PNG instead: one column per sketch; rows: the sketch, each run's colours, and the target
where a colors/ folder beside sketches/ holds the same name (the preprocessed pairs' layout). A
folder stands for --per-folder of its images, spread over its sorted list. Like the training
sketches, a sketch should be dark lines on white; any size works (it is resized to the training
size) and a transparent background counts as white paper.
"""

from functools import partial
from pathlib import Path

from PIL import Image

from helpers.checkpoints import load_generator
from helpers.lesson import (
    ArgumentParser,
    LessonError,
    add_device_argument,
    at_least,
    choose_device,
    fail,
    shown,
)
from helpers.figures import save_grid
from helpers.lesson import check_writable_folder, not_a_file, write_failure
from helpers.lesson import (
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


def output_paths(paths, runs, folder):
    """[[one output path per run] per sketch]: NAME_colorized[_RUN].png, NAME being the sketch's
    name, or FOLDER_NAME where two sketches share a name. LessonError, before any work, where two
    outputs would still clash (a/x.png and a/x.jpg) or one would replace a sketch given."""
    stems = [p.stem for p in paths]
    stems = [
        f"{p.resolve().parent.name}_{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths
    ]
    suffixes = [f"_{name}" if len(runs) > 1 else "" for name, _, _ in runs]
    outputs = [[folder / f"{stem}_colorized{suffix}.png" for suffix in suffixes] for stem in stems]
    inputs = {p.resolve() for p in paths}
    for path, stem, outs in zip(paths, stems, outputs, strict=True):
        if stems.count(stem) > 1:
            other = next(p for p, s in zip(paths, stems, strict=True) if s == stem and p != path)
            both = f"{shown(path)} and {shown(other)}"
            raise LessonError(
                f"{both} would both be written as {shown(outs[0])}; rename one of them."
            )
        if any(out.resolve() in inputs for out in outs):
            raise LessonError(
                f"{shown(outs[0])} is one of the sketches given; choose another --output-dir."
            )
    return outputs


def save(save_to, path):
    """save_to(path), a full disk or a name too long in one sentence. -> " (replaced the earlier
    file)" where `path` existed, else "" (a rerun after more training replaces its images)."""
    try:
        replaced = " (replaced the earlier file)" if path.exists() else ""
        save_to(path)
    except OSError as exc:
        kept = "the images written before it are kept"
        raise LessonError(
            f"{write_failure(exc, path)}, then run the command again ({kept})."
        ) from None
    return replaced


def read_sketches(paths):
    """The sketches as PIL images; a FIFO, a device or a bad image in one sentence."""
    fix = "pass a PNG or JPEG line drawing"
    for path in paths:
        what = not_a_file(path)
        if what:
            raise LessonError(f"sketch {shown(path)} is {what}, not an image file; {fix}.")
    return [open_image(path, "sketch", fix) for path in paths]


def check_files(args):
    """One sentence before any work for outputs that cannot be written and for inputs that are no
    files (a FIFO, which would make the script wait forever)."""
    folder = args.grid.parent if args.grid else args.output_dir
    problem = check_writable_folder(folder)
    if problem:
        raise LessonError(
            f"cannot write into {shown(folder)} ({problem}); choose another --output-dir or --grid"
        )
    if args.grid and args.grid.is_dir():
        raise LessonError(
            f"--grid {shown(args.grid)} is a folder; give a file name, such as "
            f"{shown(args.grid / 'comparison.png')}."
        )
    for weights in args.weights:
        what = not_a_file(weights)
        if what and what != "a folder":  # read_weights says so for a folder
            fix = "pass a generator_weights.pth"
            raise LessonError(f"--weights {shown(weights)} is {what}, not a weights file; {fix}.")


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
        check_files(args)
        device = choose_device(args.device)
        print(f"device: {device}")
        runs = []
        for name, weights in zip(run_names(args.weights), args.weights, strict=True):
            net_G, image_size = load_generator(weights)
            runs.append((name, net_G.to(device), image_size))
        paths = image_files(args.sketches, args.per_folder)
        if not args.grid:  # a file named twice (a folder and a file in it) is coloured once
            first = {}
            for path in paths:
                first.setdefault(path.resolve(), path)
            paths = list(first.values())
        if not paths:
            given = " ".join(map(shown, args.sketches))
            raise LessonError(f"no sketch images in {given}; pass PNG or JPEG files")
        sketches = read_sketches(paths)
        if args.grid:
            grid = partial(save_comparison, paths=paths, sketches=sketches, runs=runs)
            replaced = save(grid, args.grid)
            print(
                f"Wrote {shown(args.grid)}: a row per generator ({len(runs)}), "
                f"a column per sketch ({len(sketches)}){replaced}"
            )
            return
        outputs = output_paths(paths, runs, args.output_dir)
        for path, sketch, outs in zip(paths, sketches, outputs, strict=True):
            for (_, net_G, image_size), out in zip(runs, outs, strict=True):
                colours = colorize(net_G, sketch, image_size)
                replaced = save(partial(save_image, colours), out)
                print(f"Coloured {shown(path)} -> {shown(out)}{replaced}")
    except LessonError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
