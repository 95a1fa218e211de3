"""Exercise 2: ask the pretrained facades model five questions, one figure each.

    python exercise2_explore.py                         # all five experiments
    python exercise2_explore.py --experiment skips      # or windows, partial, colors, consistency
    python exercise2_explore.py --labels my_facade.png  # your labels: colours, consistency figures
    python exercise2_explore.py --design '{"floors": 6, "balconies": "all"}'  # your base label

Writes exercise2_<experiment>.png into --output-dir (default: .) and prints the numbers in its
column titles. Needs the official weights (python download_pretrained.py).
"""

import json
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from facades_generator import CLASS_NAMES, FACADE_CLASSES, PALETTE, add_generator_arguments
from facades_generator import load_label, open_generator, snap_to_palette
from helpers.facade_labels import FacadeDesign, draw_facade
from helpers.figures import Heat, save_grid
from helpers.lesson import ArgumentParser, LessonError, check_writable_folder, choose_device, fail
from helpers.lesson import image_files, image_to_tensor, path_arg, refuse_overwrite, seed_number
from helpers.lesson import shown, tensor_to_image
from pix2pix_models import IMAGE_SIZE, UNetGenerator, translate

EXPERIMENTS = ("windows", "partial", "colors", "consistency", "skips")
DEFAULT_DESIGN = FacadeDesign(balconies="alternate", shop_front=True, blinds=0.3, seed=1)
WINDOW_DESIGNS = {
    "sparse": FacadeDesign(floors=2, windows_per_floor=2),
    "dense": FacadeDesign(floors=9, windows_per_floor=8, window_width=0.6, window_height=0.5),
    "asymmetric": FacadeDesign(irregular=0.9, seed=7),
    "large": FacadeDesign(floors=3, windows_per_floor=3, window_width=0.8, window_height=0.72),
}
# Colours a person might guess (grey wall, red windows, yellow door, green balconies): not the
# colours the model was trained on. The other classes keep theirs.
GUESSED = dict(facade=(128, 128, 128), window=(255, 0, 0), door=(255, 255, 0), balcony=(0, 255, 0))
HUE_SHIFT = 85  # a third of the way round the colour wheel (PIL's hue channel runs 0..255)
BLUR_RADIUS = 4  # pixels of Gaussian blur: turns every class border into a soft gradient
# Hidden pixels are 0 in G's [-1, 1] input, mid-grey: none of the 12 classes, and the value for
# which G's first convolution (it has no bias) outputs exactly zero, so a hidden region tells the
# network nothing. Painting it "background" would claim "no building".
MASK_VALUE = 0.0
DROPOUT_SAMPLES = 4  # facades drawn per label with test-time dropout on
MAX_LABELS = 4  # rows of --labels shown in one figure
LABEL_ROWS = ["label", "generated"]  # the row titles of most figures
# The seven skips, innermost first (the order the cuts accumulate in), and the decoder block whose
# input each is the first half of: up2 reads cat([d7, u1]), ..., final reads cat([d1, u7]).
SKIP_READERS = dict(d7="up2", d6="up3", d5="up4", d4="up5", d3="up6", d2="up7", d1="final")


def class_map(label):
    """(3, H, W) palette label in [-1, 1] -> (H, W) class indices 0..11."""
    return snap_to_palette(np.asarray(tensor_to_image(label)))


def report(header, titles):
    """Print the numbers behind a figure: its column titles, one line each."""
    print("\n  ".join([header] + [t.replace("\n", ": ", 1).replace("\n", ", ") for t in titles]))


def explore_windows(net_G, own_design):
    designs = dict(WINDOW_DESIGNS, **({"your design": own_design} if own_design else {}))
    labels = torch.stack([load_label(draw_facade(d)) for d in designs.values()])
    fake_B = translate(net_G, labels)
    titles = []
    for (name, design), label, fake in zip(designs.items(), labels, fake_B, strict=True):
        classes = torch.from_numpy(class_map(label))
        light = (fake.mean(dim=0) + 1) / 2  # (H, W) brightness 0..1
        glass, wall = (light[classes == CLASS_NAMES.index(c)].mean() for c in ("window", "facade"))
        layout = f"{design.window_count()} windows, {design.floors + 1} storeys"
        titles.append(f"{name}\n{layout}\nglass {glass:.2f}, wall {wall:.2f}")
    report("windows: the brightness (0..1) of the generated windows and wall", titles)
    return "2a: how the model handles window layouts", [labels, fake_B], LABEL_ROWS, titles


def explore_partial(net_G, label, seed):
    size, block = label.shape[-1], label.shape[-1] // 6
    top, strip, blocks = (torch.zeros(size, size, dtype=torch.bool) for _ in range(3))
    top[: size // 2] = True
    strip[:, 3 * size // 8 : 5 * size // 8] = True
    for y, x in np.random.default_rng(seed).integers(0, size - block, size=(8, 2)):
        blocks[y : y + block, x : x + block] = True
    wall = torch.from_numpy(class_map(label) == CLASS_NAMES.index("facade"))
    masks = {"top half": top, "vertical strip": strip, "random blocks": blocks}
    masks["all but the wall"] = ~wall
    labels = [label] + [label.masked_fill(mask, MASK_VALUE) for mask in masks.values()]
    fake_B = translate(net_G, torch.stack(labels))
    titles = []
    for (name, mask), fake in zip(masks.items(), fake_B[1:], strict=True):
        change = (fake - fake_B[0]).abs().mean(dim=0) * 127.5  # (H, W) in 0..255 levels
        hidden, inside, outside = mask.float().mean(), change[mask].mean(), change[~mask].mean()
        titles.append(f"{name}\n{hidden:.0%} hidden\nchange {inside:.1f} in, {outside:.1f} out")
    report("partial: the mean change (0..255) inside and outside the hidden region", titles)
    title = "2b: what the model invents where the label is hidden (mid-grey)"
    return title, [labels, fake_B], LABEL_ROWS, ["full label", *titles]


def explore_colors(net_G, labels, seed):
    guessed = np.array([GUESSED.get(name, rgb) for name, rgb in FACADE_CLASSES], np.uint8)
    hsv = np.asarray(Image.fromarray(PALETTE[None]).convert("HSV")).copy()
    hsv[..., 0] += HUE_SHIFT  # uint8: wraps around the colour wheel
    shifted = np.asarray(Image.fromarray(hsv, mode="HSV").convert("RGB"))[0]
    random = np.random.default_rng(seed).integers(0, 256, size=PALETTE.shape, dtype=np.uint8)
    palettes = {"real palette": PALETTE, "guessed colours": guessed}
    palettes |= {"hue shifted 120°": shifted, "random colours": random}
    rows, row_titles, col_titles = [], [], []
    for name, label in labels:
        classes = class_map(label)
        soft = Image.fromarray(PALETTE[classes]).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
        schemes = {scheme: colours[classes] for scheme, colours in palettes.items()}
        schemes["soft borders"] = np.asarray(soft)
        # Straight from the RGB arrays: load_label would snap every pixel back to the palette and
        # hide exactly what this experiment shows.
        inputs = torch.stack([image_to_tensor(Image.fromarray(rgb)) for rgb in schemes.values()])
        titles = []
        for scheme, rgb in schemes.items():
            nearest = snap_to_palette(rgb)
            distance = np.linalg.norm(rgb.astype(np.float64) - PALETTE[nearest], axis=-1).mean()
            other = (nearest != classes).mean()
            titles.append(f"{scheme}\ndistance {distance:.1f}, {other:.0%} other class")
        report(f"colors, {name}: distance to the palette (0..255), share of another class", titles)
        col_titles = col_titles or titles  # the first label's numbers in the figure
        rows += [list(inputs), list(translate(net_G, inputs))]
        row_titles += [name, "generated"]
    return "2c: the model only knows the colours it was trained on", rows, row_titles, col_titles


def dropout_samples(net_dropout, label, seed, samples=DROPOUT_SAMPLES):
    """(3, H, W) label -> (samples, 3, H, W) facades, the same for the same seed."""
    torch.manual_seed(seed)  # the dropout masks come from torch's global generator
    return translate(net_dropout, label.repeat(samples, 1, 1, 1))  # each copy its own masks


def explore_consistency(net_G, labels, open_net, seed):
    batch = torch.stack([label for _, label in labels])  # (n, 3, H, W)
    first, second = translate(net_G, batch), translate(net_G, batch)
    net_dropout = open_net(dropout=True)[0]
    # Seeded per label, so a label's samples do not depend on the labels beside it.
    samples = torch.stack([dropout_samples(net_dropout, label, seed) for label in batch])
    same_seed = (samples[0] - dropout_samples(net_dropout, batch[0], seed)).abs().max()
    del net_dropout
    spread = samples.std(dim=1).mean(dim=1) * 127.5  # (n, H, W) per-pixel std, 0..255 levels
    running = translate(open_net(stats="running")[0], batch)
    gap = (first - running).abs().mean() * 127.5
    numbers = [  # one column per way of running G
        f"default run 2\nmax |diff| {(first - second).abs().max():g}",
        f"dropout std\nmean {spread.mean():.2f} levels\nsame --seed: max |diff| {same_seed:g}",
        f"running stats (--eval)\nmean |diff| {gap:.2f} levels",
    ]
    report("consistency: dropout off twice, dropout on (the paper's), stored statistics", numbers)
    col_titles = ["default run 1", numbers[0], "dropout 1", "dropout 2", "dropout 3", *numbers[1:]]
    heat = dict(vmax=max(float(spread.max()), 1e-6), label="std (0..255 levels)")
    rows, row_titles = [], []
    for i, (name, label) in enumerate(labels):
        drawn = [first[i], second[i], *samples[i, :3], Heat(spread[i], **heat), running[i]]
        rows += [[label] * len(col_titles), drawn]
        row_titles += [f"{name[:18]}\n(input)", "generated"]
    title = "2d: deterministic with dropout off, varied with the paper's test-time dropout"
    return title, rows, row_titles, col_titles


@contextmanager
def skips_cut(net_G, levels):
    """Inside the block, net_G runs with the skips from `levels` (("d7", "d6"), say) cut where they
    arrive: the decoder block gets zeros instead of d_k, which add nothing to its transposed
    convolution (it has no bias). d_k still feeds the encoder below: only what crosses is lost."""

    def zero_skip(block, inputs):  # cat([d_k, u]) -> cat([0, u]): unet_256's halves are as wide
        d_k, u = inputs[0].chunk(2, dim=1)
        return (torch.cat([torch.zeros_like(d_k), u], dim=1),)

    unet = next(m for m in net_G.modules() if isinstance(m, UNetGenerator))  # --fast wraps it
    hooks = [getattr(unet, SKIP_READERS[k]).register_forward_pre_hook(zero_skip) for k in levels]
    try:
        yield net_G
    finally:
        for hook in hooks:
            hook.remove()


def explore_skips(net_G, label):
    skips, outputs, titles = list(SKIP_READERS), [translate(net_G, label[None])[0]], []
    for n, skip in enumerate(skips, 1):
        with skips_cut(net_G, skips[:n]):
            outputs.append(translate(net_G, label[None])[0])
        change = (outputs[-1] - outputs[0]).abs().mean() * 127.5
        size = IMAGE_SIZE >> int(skip[1:])  # d_k is 256 / 2^k pixels wide
        cut = f"{skip} cut\n2x2" if n == 1 else f"{skips[0]}..{skip} cut\n2x2 to {size}x{size}"
        titles.append(f"{cut} levels\nchange {change:.1f}")
    report("skips: cut from the innermost outward; the mean change (0..255) of the output", titles)
    title = "2e: what the skip connections carry, cut from the innermost outward"
    return title, [[label] * len(outputs), outputs], LABEL_ROWS, ["full network", *titles]


def parse_args(argv):
    parser = ArgumentParser(description="Five experiments with the pretrained facades model.")
    choices = ["all", *EXPERIMENTS]
    parser.add_argument("--experiment", choices=choices, default="all", help="(default: all)")
    parser.add_argument(
        "--output-dir", type=path_arg, default=Path("."), help="for the figures (default: .)"
    )
    add_generator_arguments(parser)  # --checkpoint, --device, --fast
    parser.add_argument(
        "--labels", nargs="+", type=path_arg, default=[], help="labels for colors and consistency"
    )
    parser.add_argument(
        "--design", help="the base label as a FacadeDesign in JSON (default: a shop-front facade)"
    )
    parser.add_argument(
        "--seed", type=seed_number, default=0, help="random blocks, colours, dropout (default: 0)"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = args.output_dir
    try:  # every refusal before any work, not after it
        own_design = None if args.design is None else FacadeDesign.from_spec(args.design)
        paths = image_files(args.labels)
        chosen = [name for name in EXPERIMENTS if args.experiment in ("all", name)]
        figures = {name: out / f"exercise2_{name}.png" for name in chosen}
        for figure in figures.values():
            refuse_overwrite(figure, [*paths, args.checkpoint], "--output-dir")
        if problem := check_writable_folder(out):
            raise LessonError(f"cannot write into --output-dir {shown(out)} ({problem}).")
        if args.labels and not paths:
            given = " ".join(map(shown, args.labels))
            raise LessonError(f"no label images in {given}; pass PNG or JPEG files, or folders.")
        device, base = choose_device(args.device), own_design or DEFAULT_DESIGN
        network = "--fast" if args.fast else "exact fp32"
        print(f"experiments: {', '.join(figures)} | checkpoint: {shown(args.checkpoint)}")
        print(f"device: {device}, {network} | seed: {args.seed} | output dir: {shown(out)}")
        print(f"base design: {json.dumps(asdict(base))}")
        base_label = load_label(draw_facade(base))
        labels = [(shown(path.name), load_label(path)) for path in paths[:MAX_LABELS]]
        labels = labels or [("base design", base_label)]  # --labels: the first MAX_LABELS
        # open_net(dropout=True) and open_net(stats="running"): the protocols of open_generator
        open_net = partial(open_generator, args.checkpoint, device, fast=args.fast)
        net_G = open_net()[0]
        run = dict(  # each gives (title, rows, row titles, column titles) and prints its numbers
            windows=lambda: explore_windows(net_G, own_design),
            partial=lambda: explore_partial(net_G, base_label, args.seed),
            colors=lambda: explore_colors(net_G, labels, args.seed),
            consistency=lambda: explore_consistency(net_G, labels, open_net, args.seed),
            skips=lambda: explore_skips(net_G, base_label),
        )
        for name, path in figures.items():
            title, rows, row_titles, col_titles = run[name]()
            save_grid(path, rows, row_titles, title=f"Exercise {title}", col_titles=col_titles)
            print(f"Wrote {shown(path)}")
    except LessonError as exc:
        fail(str(exc))  # one sentence on stderr, exit status 2, no traceback
    except OSError as exc:  # the figures are the only files written
        fail(f"could not write a figure into {shown(out)} ({exc.strerror or exc}).")


if __name__ == "__main__":
    main()
