"""Exercise 2: ask the pretrained facades model five questions, one figure each.

    python exercise2_explore.py                         # all five experiments
    python exercise2_explore.py --experiment skips      # or windows, partial, colors, consistency
    python exercise2_explore.py --labels my_facade.png  # your labels: colours, consistency figures
    python exercise2_explore.py --design '{"floors": 6, "balconies": "all"}'  # your base label

Writes into --output-dir (default: the current folder), and prints the numbers behind each figure:
    exercise2_windows.png      sparse, dense, asymmetric and large windows: labels over facades
    exercise2_partial.png      one label with parts hidden: what the model invents without context
    exercise2_colors.png       one label in five colour schemes; only the first is its palette
    exercise2_consistency.png  the default mode twice, dropout samples and their spread, running
                               statistics
    exercise2_skips.png        the full network, then its skips cut level by level, innermost first
Needs the official weights (python download_pretrained.py). The network is the official one in
fp32, exactly; --fast runs faster copies (reduced precision where the hardware has it).
"""

import json
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from facades_generator import add_generator_arguments, generator_from_args, load_label
from helpers.lesson import ArgumentParser, LessonError, choose_device, fail, seed_number, shown
from helpers.facade_labels import FacadeDesign, design_from_flag, draw_facade
from facades_generator import CLASS_NAMES, PALETTE, snap_to_palette
from helpers.figures import Heat, save_grid
from helpers.lesson import check_writable_folder
from helpers.lesson import image_files, image_to_tensor, tensor_to_image
from helpers.skip_cuts import SKIP_READERS, skips_cut
from pix2pix_models import IMAGE_SIZE, translate

EXPERIMENTS = ("windows", "partial", "colors", "consistency", "skips")
DEFAULT_DESIGN = FacadeDesign(
    floors=4, windows_per_floor=4, balconies="alternate", shop_front=True, blinds=0.3, seed=1
)
WINDOW_DESIGNS = {
    "sparse": FacadeDesign(floors=2, windows_per_floor=2),
    "dense": FacadeDesign(floors=9, windows_per_floor=8, window_width=0.6, window_height=0.5),
    "asymmetric": FacadeDesign(floors=4, windows_per_floor=4, irregular=0.9, seed=7),
    "large windows": FacadeDesign(
        floors=3, windows_per_floor=3, window_width=0.8, window_height=0.72
    ),
}
# Colours a person might guess for a facade label (grey wall, red windows, yellow door, green
# balconies): not the colours the model was trained on (PALETTE). The other classes keep theirs.
GUESSED_PALETTE = dict(
    facade=(128, 128, 128), window=(255, 0, 0), door=(255, 255, 0), balcony=(0, 255, 0)
)
HUE_SHIFT = 85  # a third of the way round the colour wheel (PIL's hue channel runs 0..255)
BLUR_RADIUS = 4  # pixels of Gaussian blur: turns every class border into a soft gradient
# Hidden pixels are set to 0 in the model's [-1, 1] input, i.e. mid-grey: not one of the 12
# classes, and the value for which G's first convolution (it has no bias) outputs exactly zero, so
# a hidden region tells the network nothing. Painting it "background" would claim "no building".
MASK_VALUE = 0.0
DROPOUT_SAMPLES = 4  # facades drawn per label with test-time dropout on
MAX_LABELS = 4  # rows of --labels shown in one figure


def class_map(label):
    """(3, H, W) palette label in [-1, 1] -> (H, W) class indices 0..11."""
    return snap_to_palette(np.asarray(tensor_to_image(label)))


def explore_windows(net_G, own_design, out_dir):
    designs = dict(WINDOW_DESIGNS, **({"your design": own_design} if own_design else {}))
    labels = torch.stack([load_label(draw_facade(d)) for d in designs.values()])
    fake_B = translate(net_G, labels)
    window, wall = CLASS_NAMES.index("window"), CLASS_NAMES.index("facade")
    print("windows: layout, window share of the image, brightness of windows vs wall (0..1)")
    for (name, design), label, fake in zip(designs.items(), labels, fake_B, strict=True):
        classes = torch.from_numpy(class_map(label))
        light = (fake.mean(dim=0) + 1) / 2  # (H, W) brightness 0..1
        print(
            f"  {name:<14} {design.window_count():3d} windows on {design.floors + 1} storeys, "
            f"{(classes == window).float().mean():5.1%} window pixels; windows "
            f"{light[classes == window].mean():.2f} vs wall {light[classes == wall].mean():.2f}"
        )
    # The numbers go in the column titles: captions would collide with the row below.
    col_titles = [f"{name}\n{d.window_count()} windows" for name, d in designs.items()]
    title = "Exercise 2a: how the model handles window layouts"
    rows = [list(labels), list(fake_B)]
    path = out_dir / "exercise2_windows.png"
    return save_grid(path, rows, ["label", "generated"], title=title, col_titles=col_titles)


def region_masks(classes, seed):
    """The four regions to hide, as (H, W) boolean tensors."""
    size = classes.shape[0]
    top, strip, blocks = (torch.zeros(size, size, dtype=torch.bool) for _ in range(3))
    top[: size // 2] = True
    strip[:, 3 * size // 8 : 5 * size // 8] = True
    block = size // 6
    for y, x in np.random.default_rng(seed).integers(0, size - block, size=(8, 2)):
        blocks[y : y + block, x : x + block] = True
    masks = {"top half": top, "vertical strip": strip, "random blocks": blocks}
    masks["all but the wall"] = torch.from_numpy(classes != CLASS_NAMES.index("facade"))
    return masks


def explore_partial(net_G, label, seed, out_dir):
    masks = region_masks(class_map(label), seed)
    masked = [label.masked_fill(mask, MASK_VALUE) for mask in masks.values()]  # over R, G and B
    fake_B = translate(net_G, torch.stack([label] + masked))
    print("partial: hidden share; mean change of the output (0..255) inside / outside the region")
    col_titles = ["full label"]
    for (name, mask), fake in zip(masks.items(), fake_B[1:], strict=True):
        change = (fake - fake_B[0]).abs().mean(dim=0) * 127.5  # (H, W)
        hidden = mask.float().mean()
        inside, outside = change[mask].mean(), change[~mask].mean()
        changes = f"change inside {inside:5.1f}, outside {outside:5.1f}"
        print(f"  {name:<16} {hidden:5.1%} hidden; {changes}")
        col_titles.append(f"{name}\n{hidden:.0%} hidden")
    title = "Exercise 2b: what the model invents where the label is hidden (mid-grey)"
    rows = [[label] + masked, list(fake_B)]
    path = out_dir / "exercise2_partial.png"
    return save_grid(path, rows, ["label", "generated"], title=title, col_titles=col_titles)


def color_schemes(classes, seed):
    """The same class layout in five colour schemes, each an (H, W, 3) uint8 array."""
    guessed = PALETTE.copy()
    for name, rgb in GUESSED_PALETTE.items():
        guessed[CLASS_NAMES.index(name)] = rgb
    hsv = np.asarray(Image.fromarray(PALETTE[None]).convert("HSV")).copy()
    hsv[..., 0] += HUE_SHIFT  # uint8: wraps around the colour wheel
    shifted = np.asarray(Image.fromarray(hsv, mode="HSV").convert("RGB"))[0]
    random = np.random.default_rng(seed).integers(0, 256, size=PALETTE.shape, dtype=np.uint8)
    soft = Image.fromarray(PALETTE[classes]).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    return {
        "real palette": PALETTE[classes],
        "guessed colours": guessed[classes],
        "hue shifted 120°": shifted[classes],
        "random colours": random[classes],
        "soft borders": np.asarray(soft),
    }


def explore_colors(net_G, labels, seed, out_dir):
    rows, row_titles, col_titles = [], [], []
    print("colors: mean distance to the nearest palette colour (0..255), share of another class")
    for name, label in labels:
        classes = class_map(label)
        schemes = color_schemes(classes, seed)
        # Tensors straight from the RGB arrays: load_label would snap every pixel back to the
        # nearest palette colour and hide exactly what this experiment shows.
        inputs = torch.stack([image_to_tensor(Image.fromarray(rgb)) for rgb in schemes.values()])
        for scheme, rgb in schemes.items():
            nearest = snap_to_palette(rgb)
            distance = np.linalg.norm(rgb.astype(np.float64) - PALETTE[nearest], axis=-1).mean()
            other = (nearest != classes).mean()
            numbers = f"distance {distance:5.1f}, {other:5.1%} nearest another class"
            print(f"  {name}: {scheme:<20} {numbers}")
            if len(col_titles) < len(schemes):  # the first label's numbers; all of them are printed
                col_titles.append(f"{scheme}\ndistance {distance:.0f}, {other:.0%} other class")
        rows += [list(inputs), list(translate(net_G, inputs))]
        row_titles += [name, "generated"]
    title = "Exercise 2c: the model only knows the colours it was trained on"
    path = out_dir / "exercise2_colors.png"
    return save_grid(path, rows, row_titles, title=title, col_titles=col_titles)


def dropout_samples(net_dropout, batch, seed, samples=DROPOUT_SAMPLES):
    """(n, 3, H, W) labels -> (n, samples, 3, H, W) facades, reproducible for a given seed."""
    torch.manual_seed(seed)  # the dropout masks come from torch's global generator
    # Each copy of a label in the batch draws its own dropout masks: all samples in one pass.
    copies = batch.repeat_interleave(samples, dim=0)
    return translate(net_dropout, copies).unflatten(0, (len(batch), samples))


def explore_consistency(net_G, labels, make_generator, seed, out_dir):
    batch = torch.stack([label for _, label in labels])  # (n, 3, H, W)
    first, second = translate(net_G, batch), translate(net_G, batch)
    repeat_diff = (first - second).abs().max()
    print(f"consistency: default mode (dropout off), two runs: max |diff| = {repeat_diff:g}")
    net_dropout = make_generator(dropout=True)
    # Seeded per label, so a label's samples do not depend on the other labels beside it.
    samples = torch.cat([dropout_samples(net_dropout, label[None], seed) for label in batch])
    again = dropout_samples(net_dropout, batch[:1], seed)  # the first label once more, same seed
    del net_dropout
    spread = samples.std(dim=1).mean(dim=1) * 127.5  # (n, H, W) per-pixel std, 0..255 levels
    print(
        f"  test-time dropout, {DROPOUT_SAMPLES} samples per label: mean per-pixel std "
        f"{spread.mean():.2f} levels (max {spread.max():.1f})"
    )
    print(f"  the same --seed again: max |diff| = {(samples[:1] - again).abs().max():g}")
    running = translate(make_generator(stats="running"), batch)
    gap = (first - running).abs().mean() * 127.5
    print(f"  per-image vs stored running statistics (--eval): mean |diff| = {gap:.2f} levels")
    # One column per way of running G; for each label its input on top, what G made of it below.
    col_titles = ["default run 1", f"default run 2\nmax |diff| = {repeat_diff:g}"]
    col_titles += [f"dropout sample {i}" for i in (1, 2, 3)]
    col_titles += [f"dropout std\nmean {spread.mean():.1f} levels"]
    col_titles += [f"running stats (--eval)\nmean |diff| {gap:.1f} levels"]
    rows, row_titles = [], []
    outputs = zip(first, second, samples, spread, running, strict=True)  # one per label
    for (name, label), (a, b, drawn, std, r) in zip(labels, outputs, strict=True):
        heat = Heat(std, vmax=max(float(spread.max()), 1e-6), label="std (0..255 levels)")
        rows += [[label] * len(col_titles), [a, b, *drawn[:3], heat, r]]
        row_titles += [f"{name[:18]}\n(input)", "generated"]
    title = "Exercise 2d: deterministic with dropout off, varied with the paper's test-time dropout"
    path = out_dir / "exercise2_consistency.png"
    return save_grid(path, rows, row_titles, title=title, col_titles=col_titles)


def explore_skips(net_G, label, out_dir):
    skips = list(SKIP_READERS)
    full = translate(net_G, label[None])[0]
    outputs, col_titles = [full], ["full network"]
    print("skips: cut from the innermost outward; mean |change| vs the full network (0..255)")
    for n in range(1, len(skips) + 1):
        with skips_cut(net_G, skips[:n]):
            fake_B = translate(net_G, label[None])[0]
        change = (fake_B - full).abs().mean() * 127.5
        size = IMAGE_SIZE >> int(skips[n - 1][1:])  # d_k is 256 / 2^k pixels wide
        cut = skips[0] if n == 1 else f"{skips[0]}..{skips[n - 1]}"
        levels = "the 2x2 level" if n == 1 else f"the 2x2 to {size}x{size} levels"
        print(f"  {cut:<6} cut ({levels}): change {change:5.1f}")
        outputs.append(fake_B)
        col_titles.append(f"{cut} cut\nchange {change:.1f} levels")
    title = "Exercise 2e: what the skip connections carry, cut from the innermost outward"
    rows, row_titles = [[label] * len(outputs), outputs], ["label", "generated"]
    path = out_dir / "exercise2_skips.png"
    return save_grid(path, rows, row_titles, title=title, col_titles=col_titles, cell_inches=1.9)


def parse_args(argv):
    parser = ArgumentParser(description="Five experiments with the pretrained facades model.")
    choices = ["all", *EXPERIMENTS]
    parser.add_argument("--experiment", choices=choices, default="all", help="(default: all)")
    parser.add_argument(
        "--output-dir", type=Path, default=Path("."), help="for the figures (default: .)"
    )
    add_generator_arguments(parser)  # --checkpoint, --device, --fast
    parser.add_argument(
        "--labels",
        nargs="+",
        type=Path,
        default=None,
        help=f"your label files or folders for the colours and consistency experiments (the "
        f"first {MAX_LABELS}; default: the base design)",
    )
    parser.add_argument(
        "--design",
        default=None,
        help="a facade design as JSON (FacadeDesign in helpers/facade_labels.py): the base label "
        "of the partial and skips figures, and a column of the windows figure (default: a "
        "4-storey shop-front facade)",
    )
    parser.add_argument(
        "--seed",
        type=seed_number,
        default=0,
        help="random blocks, colours, dropout masks: 0 to 2**32 - 1 (default: 0)",
    )
    return parser.parse_args(argv)


def explore(args):
    """Run the experiments the flags ask for; LessonError for expected problems."""
    own_design = design_from_flag(args.design) if args.design else None
    out_dir = args.output_dir
    problem = check_writable_folder(out_dir)  # before any work, not after it
    if problem:
        where = f"--output-dir {shown(out_dir)} ({problem})"
        raise LessonError(f"cannot write into {where}; choose another --output-dir.")
    paths = image_files(args.labels or [])
    if args.labels and not paths:
        where = " ".join(map(shown, args.labels))
        raise LessonError(
            f"no label images in {where}; pass PNG or JPEG files, or folders of them."
        )
    experiments = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
    device = choose_device(args.device)
    network = "--fast" if args.fast else "exact fp32"
    print(f"experiments: {', '.join(experiments)} | checkpoint: {shown(args.checkpoint)}")
    print(f"device: {device}, {network} | seed: {args.seed} | output dir: {shown(out_dir)}")
    base = own_design or DEFAULT_DESIGN
    print(f"base design: {json.dumps(asdict(base))}")
    if len(paths) > MAX_LABELS:
        print(f"using the first {MAX_LABELS} of {len(paths)} labels")
    base_label = load_label(draw_facade(base))
    labels = [(shown(path.name), load_label(path)) for path in paths[:MAX_LABELS]]
    labels = labels or [("base design", base_label)]

    start = time.perf_counter()
    make_generator = partial(generator_from_args, args, device)  # (stats=..., dropout=...)
    net_G = make_generator()
    for name in experiments:
        if name == "windows":
            path = explore_windows(net_G, own_design, out_dir)
        elif name == "partial":
            path = explore_partial(net_G, base_label, args.seed, out_dir)
        elif name == "colors":
            path = explore_colors(net_G, labels, args.seed, out_dir)
        elif name == "consistency":
            path = explore_consistency(net_G, labels, make_generator, args.seed, out_dir)
        else:
            path = explore_skips(net_G, base_label, out_dir)
        print(f"Wrote {shown(path)}")
    print(f"done in {time.perf_counter() - start:.1f} s (loading the weights included)")


def main(argv=None):
    args = parse_args(argv)
    try:
        explore(args)
    except LessonError as exc:
        fail(str(exc))  # one sentence on stderr, exit status 2, no traceback
    except OSError as exc:  # the figures are the only files written
        fail(
            f"could not write a figure into {shown(args.output_dir)} ({exc.strerror or exc}); "
            "choose another --output-dir."
        )


if __name__ == "__main__":
    main()
