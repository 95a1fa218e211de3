"""Colour your own line sketch with the generator you trained in Exercise 3, or compare generators.

    python colorize_sketch.py my_sketch.png         # uses ./generator_weights.pth
    python colorize_sketch.py a.png b.png --weights runs/quick/generator_weights.pth --output-dir c/
    python colorize_sketch.py anime_processed/val/sketches --grid ablation.png \\
        --weights l1_only/generator_weights.pth gan_only/generator_weights.pth generator_weights.pth

Writes NAME_colorized.png per sketch into --output-dir (default: .), NAME_colorized_RUN.png with
several --weights (RUN: their folder). With --grid, one PNG instead: a column per sketch; rows: the
sketch, each run's colours, and the target where a colors/ folder beside sketches/ holds the same
name. A sketch is dark lines on white (transparent: white paper), any size.
"""

import os
from functools import partial
from pathlib import Path

import torch
from PIL import Image

from facades_generator import AUTHORS, open_generator
from helpers.figures import save_grid
from helpers.lesson import ArgumentParser, LessonError, add_device_argument, at_least, fail, shown
from helpers.lesson import check_writable_folder, choose_device, image_files, image_to_tensor
from helpers.lesson import open_image, path_arg, refuse_overwrite, save_image, tensor_to_image
from helpers.lesson import to_rgb, write_failure
from pix2pix_models import translate


def as_input(image, size):
    """Any PIL image -> (3, size, size) tensor in [-1, 1], as the generator reads it; transparent
    pixels become to_rgb's white, the paper of the training sketches."""
    return image_to_tensor(to_rgb(image).resize((size, size), Image.BICUBIC))


def target_of(sketch_path, size):
    """The colour half of a preprocessed pair (.../sketches/X.png -> .../colors/X.png), or None."""
    colour = sketch_path.parent.parent / "colors" / sketch_path.name
    if sketch_path.parent.name == "sketches" and colour.is_file():
        return as_input(open_image(colour, "target colour image"), size)


def save_comparison(paths, sketches, runs, path):
    """The --grid figure; under each colouring its mean L1 distance to the target on [-1, 1], the
    measure of the training loss. Every run colours at the first run's training size."""
    size = runs[0][2]
    targets = [target_of(p, size) for p in paths]
    real_A = torch.stack([as_input(s, size) for s in sketches])
    rows, titles, captions = [list(real_A)], ["sketch"], [None]
    for name, net_G, _ in runs:
        rows.append(list(translate(net_G, real_A)))
        titles.append(name)
        pairs = zip(rows[-1], targets, strict=True)
        distances = [None if t is None else (f - t).abs().mean() for f, t in pairs]
        captions.append(["" if d is None else f"L1 to target {d:.3f}" for d in distances])
    if any(t is not None for t in targets):  # preprocessed pairs: the colour halves are answers
        rows, titles, captions = rows + [targets], titles + ["target"], captions + [None]
    title = "One row per generator (named by its folder)"
    col_titles = [shown(p.stem) for p in paths]
    save_grid(path, rows, titles, title=title, col_titles=col_titles, captions=captions)


def output_paths(paths, run_names, folder):
    """[[NAME_colorized[_RUN].png per run] per sketch], NAME being FOLDER_NAME where two sketches
    share a name; LessonError where two would still clash (a/x.png and a/x.jpg)."""
    names = [p.stem for p in paths]
    stems = [
        f"{p.absolute().parent.name}_{p.stem}" if names.count(p.stem) > 1 else p.stem for p in paths
    ]
    for i, stem in enumerate(stems):
        if stem in stems[:i]:
            both = f"{shown(paths[stems.index(stem)])} and {shown(paths[i])}"
            raise LessonError(f"{both} would both be written as {stem}_colorized.png; rename one.")
    suffixes = [f"_{name}" if len(run_names) > 1 else "" for name in run_names]
    return [[folder / f"{stem}_colorized{suffix}.png" for suffix in suffixes] for stem in stems]


def save(write, path):
    """write(path), or a LessonError; " (replaced the earlier file)" where `path` existed."""
    try:
        replaced = " (replaced the earlier file)" if path.exists() else ""
        write(path)
    except OSError as exc:
        kept = "then run the command again (the images written before it are kept)"
        raise LessonError(f"{write_failure(exc, path)}, {kept}.") from None
    return replaced


def parse_args(argv):
    parser = ArgumentParser(description="Colour line sketches with Exercise 3's generator(s).")
    add = parser.add_argument
    add("sketches", nargs="+", type=path_arg, help="sketch images or folders")
    weights = "exercise3_train.py's generator_weights.pth (default: ./generator_weights.pth)"
    default = [Path("generator_weights.pth")]  # several: a row each
    add("--weights", nargs="+", type=path_arg, default=default, help=weights)
    add("--output-dir", type=path_arg, default=Path("."), help="(default: .)")
    add("--grid", type=path_arg, help="write one comparison grid PNG here instead")
    add("--per-folder", type=at_least(1, below=1000), default=5, help="per folder (default: 5)")
    add_device_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:  # every refusal comes before any work
        folder = args.grid.parent if args.grid else args.output_dir
        is_dir = args.grid and args.grid.is_dir() and "it is a folder; give a file name"
        if problem := check_writable_folder(folder) or is_dir:
            raise LessonError(f"cannot write {shown(args.grid or folder)} ({problem}).")
        paths = image_files(args.sketches, args.per_folder)
        if not args.grid:  # a file named twice (a folder and a file in it) is coloured once
            real = [os.path.realpath(path) for path in paths]
            paths = [path for i, path in enumerate(paths) if real[i] not in real[:i]]
        if not paths:
            raise LessonError(f"no sketch images in {' '.join(map(shown, args.sketches))}.")
        names = [w.absolute().parent.name for w in args.weights]
        if len(set(names)) < len(names):  # two runs of one name: their last two folders
            names = ["-".join(w.absolute().parent.parts[-2:]) for w in args.weights]
        outputs = [[args.grid]] if args.grid else output_paths(paths, names, args.output_dir)
        for out in (out for outs in outputs for out in outs):
            flag = "--grid" if args.grid else "--output-dir"
            refuse_overwrite(out, [*args.sketches, *paths, *args.weights], flag)
        device = choose_device(args.device)
        print(f"device: {device}")
        runs = []
        for name, weights in zip(names, args.weights, strict=True):
            net_G, kind, image_size = open_generator(weights, device)
            if kind == AUTHORS:  # Exercise 1's model: labels, not sketches, into pictures
                fix = "pass a generator_weights.pth that exercise3_train.py wrote"
                raise LessonError(f"{shown(weights)} holds the authors' facades model; {fix}.")
            runs.append((name, net_G, image_size))
        sketches = [open_image(p, "sketch", "pass a PNG or JPEG line drawing") for p in paths]
        if args.grid:
            replaced = save(partial(save_comparison, paths, sketches, runs), args.grid)
            print(f"Wrote {shown(args.grid)}: {len(runs)} runs x {len(paths)} sketches{replaced}")
            return
        for path, sketch, outs in zip(paths, sketches, outputs, strict=True):
            for (_, net_G, size), out in zip(runs, outs, strict=True):
                fake_B = translate(net_G, as_input(sketch, size)[None])[0]
                replaced = save(partial(save_image, tensor_to_image(fake_B)), out)
                print(f"Coloured {shown(path)} -> {shown(out)}{replaced}")
    except LessonError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
