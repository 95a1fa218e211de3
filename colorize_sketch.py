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
folder stands for --per-folder of its images, spread over its sorted list. A sketch should be dark
lines on white, like the training sketches; any size works (it is resized to the training size)
and a transparent background counts as white paper. No output may replace an input.
"""

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from facades_generator import AUTHORS, open_generator
from helpers.figures import save_grid
from helpers.lesson import ArgumentParser, LessonError, add_device_argument, at_least
from helpers.lesson import check_writable_folder, choose_device, fail, image_files, image_to_tensor
from helpers.lesson import open_image, path_arg, refuse_overwrite, save_image, shown
from helpers.lesson import tensor_to_image, to_rgb, write_failure
from pix2pix_models import translate

PAPER = (255, 255, 255)  # what a transparent background becomes: the white of the training sketches


def as_input(image, size):
    """Any PIL image -> (3, size, size) tensor in [-1, 1], as the generator reads it."""
    return image_to_tensor(to_rgb(image, background=PAPER).resize((size, size), Image.BICUBIC))


def target_of(sketch_path, size):
    """The colour half of a preprocessed pair (.../sketches/NAME.png -> .../colors/NAME.png) as a
    tensor, or None."""
    colour = sketch_path.parent.parent / "colors" / sketch_path.name
    if sketch_path.parent.name != "sketches" or not colour.is_file():
        return None
    return as_input(open_image(colour, "target colour image"), size)


def save_comparison(path, paths, sketches, runs):
    """A column per sketch; rows: the sketch, each run's colours (captioned with their mean L1
    distance to the target on [-1, 1], the measure of the training loss), the target."""
    size = runs[0][2]  # the first run's training size (256 for every run of exercise3_train.py)
    targets = [target_of(p, size) for p in paths]
    rows, titles, captions = [[as_input(s, size) for s in sketches]], ["sketch"], [None]
    for name, net_G, image_size in runs:
        fake_B = translate(net_G, torch.stack([as_input(s, image_size) for s in sketches]))
        if image_size != size:  # a run trained at another --image-size
            fake_B = F.interpolate(fake_B, size=(size, size), mode="bicubic").clamp(-1, 1)
        rows.append(list(fake_B))
        titles.append(name)
        l1 = [
            None if t is None else (f - t).abs().mean()
            for f, t in zip(fake_B, targets, strict=True)
        ]
        captions.append(["" if d is None else f"L1 to target {d:.3f}" for d in l1])
    if any(t is not None for t in targets):  # preprocessed pairs: the colour halves are answers
        rows, titles, captions = rows + [targets], titles + ["target"], captions + [None]
    col_titles = [shown(p.stem) for p in paths]
    title = "One row per generator (named by its folder)"
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
    """write(path); a full disk or a name too long in one sentence. -> " (replaced the earlier
    file)" where `path` existed (a rerun after more training replaces its images), else ""."""
    try:
        replaced = " (replaced the earlier file)" if path.exists() else ""
        write(path)
    except OSError as exc:
        kept = "then run the command again (the images written before it are kept)"
        raise LessonError(f"{write_failure(exc, path)}, {kept}.") from None
    return replaced


def parse_args(argv):
    parser = ArgumentParser(description="Colour line sketches with Exercise 3's generator(s).")
    parser.add_argument(
        "sketches", nargs="+", type=path_arg, help="sketch images (PNG, JPEG, ...) or folders"
    )
    parser.add_argument(
        "--weights",
        nargs="+",
        type=path_arg,
        default=[Path("generator_weights.pth")],
        help="one or more generator_weights.pth written by exercise3_train.py, each named by its "
        "folder (default: ./generator_weights.pth)",
    )
    parser.add_argument(
        "--output-dir", type=path_arg, default=Path("."), help="for the images (default: .)"
    )
    parser.add_argument("--grid", type=path_arg, help="write one comparison grid PNG here instead")
    parser.add_argument(
        "--per-folder",
        type=at_least(1, below=1000),
        default=5,
        help="sketches taken from each folder, spread over its sorted files (default: 5)",
    )
    add_device_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:  # every refusal comes before any work
        folder = args.grid.parent if args.grid else args.output_dir
        problem = check_writable_folder(folder)
        if problem:
            raise LessonError(f"cannot write into {shown(folder)} ({problem}); choose another.")
        if args.grid and args.grid.is_dir():
            example = shown(args.grid / "comparison.png")
            raise LessonError(
                f"--grid {shown(args.grid)} is a folder; give a file name ({example})."
            )
        paths = image_files(args.sketches, args.per_folder)
        if not args.grid:  # a file named twice (a folder and a file in it) is coloured once
            first = {}
            for path in paths:
                first.setdefault(path.resolve(), path)
            paths = list(first.values())
        if not paths:
            given = " ".join(map(shown, args.sketches))
            raise LessonError(f"no sketch images in {given}; pass PNG or JPEG files.")
        names = [w.absolute().parent.name for w in args.weights]
        if len(set(names)) < len(names):  # two runs of one name: their last two folders
            names = ["-".join(w.absolute().parent.parts[-2:]) for w in args.weights]
        outputs = [[args.grid]] if args.grid else output_paths(paths, names, args.output_dir)
        flag, inputs = (
            "--grid" if args.grid else "--output-dir",
            [*args.sketches, *paths, *args.weights],
        )
        for out in (out for outs in outputs for out in outs):
            refuse_overwrite(out, inputs, flag)
        device = choose_device(args.device)
        print(f"device: {device}")
        runs = []
        for name, weights in zip(names, args.weights, strict=True):
            net_G, kind, image_size = open_generator(weights, device)
            if kind == AUTHORS:
                raise LessonError(
                    f"{shown(weights)} holds the authors' facades model, not a generator that "
                    "exercise3_train.py wrote; pass its generator_weights.pth with --weights."
                )
            runs.append((name, net_G, image_size))
        sketches = [open_image(p, "sketch", "pass a PNG or JPEG line drawing") for p in paths]
        if args.grid:
            replaced = save(lambda p: save_comparison(p, paths, sketches, runs), args.grid)
            print(
                f"Wrote {shown(args.grid)}: {len(runs)} runs x {len(sketches)} sketches{replaced}"
            )
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
