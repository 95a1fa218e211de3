"""Draw CMP-style facade label maps from a few numbers: floors, windows, door, balconies, shop.

    from helpers.facade_labels import FacadeDesign, draw_facade
    label = draw_facade(FacadeDesign(floors=5, windows_per_floor=3, balconies="all"))  # PIL image
    label.save("my_facade.png")

Every pixel is one of the 12 palette colours of facades_generator.py, laid out the way
the real CMP labels are: blue background margins, a bright-blue wall, floors of light-blue windows
with sills and blinds, orange moldings between floors, a cornice on top, a door and often a
dark-red shop front at street level. The shipped `sample_facades/base/` labels are drawn by this
module: `python -m helpers.facade_labels` rewrites them (same files every time).
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from helpers.lesson import ArgumentParser, LessonError, fail
from facades_generator import CLASS_COLORS, FACADE_CLASSES, palette_chart
from helpers.lesson import ROOT
from helpers.lesson import save_image
from pix2pix_models import IMAGE_SIZE

SAMPLE_LABELS_DIR = ROOT / "sample_facades" / "base"  # the shipped labels: SAMPLE_DESIGNS below

DOOR_POSITIONS = ("left", "center", "right", "none")
BALCONY_STYLES = ("none", "alternate", "all", "continuous")
LIMITS = {"floors": (1, 12), "windows_per_floor": (1, 10), "margin": (0, 0.3), "sky": (0, 0.3)}
LIMITS |= {name: (0, 1) for name in ("window_width", "window_height", "irregular", "blinds")}
LIMITS["seed"] = (0, 2**32 - 1)  # numpy's generators take any seed >= 0; the scripts' --seed range
KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a word"}


@dataclass
class FacadeDesign:
    """The knobs of one facade. Fractions are of the facade width/height, or of one window bay."""

    floors: int = 4  # storeys with windows above the ground floor
    windows_per_floor: int = 4
    window_width: float = 0.5  # fraction of a bay's width
    window_height: float = 0.55  # fraction of a storey's height
    irregular: float = 0.0  # 0 = a regular grid; up to 1 = windows shifted and resized per floor
    door: str = "center"  # left | center | right | none
    # none | alternate (every other floor) | all | continuous (one long balcony per floor)
    balconies: str = "none"
    shop_front: bool = False  # a dark-red shop along the ground floor, instead of its windows
    moldings: bool = True  # orange bands between storeys
    cornice: bool = True  # the projecting band along the top of the wall
    sills: bool = True  # a thin sill under every window
    blinds: float = 0.0  # fraction of windows with a (yellow) blind pulled half down
    pillars: bool = False  # red pilasters at both edges of the wall
    margin: float = 0.06  # background visible left and right of the building
    sky: float = 0.06  # background visible above it
    seed: int = 0  # drives `irregular` and `blinds`; the same design always draws the same label

    def __post_init__(self):
        for field in fields(self):  # JSON gives 3.5 or "yes" as readily as 3 or true
            value = getattr(self, field.name)
            if not fits(value, field.type):
                shown = json.dumps(value, default=repr)  # as typed: true, not True
                raise ValueError(f"{field.name} must be {KINDS[field.type]}, not {shown}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, not {value}")
        for name, choices in (("door", DOOR_POSITIONS), ("balconies", BALCONY_STYLES)):
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    @classmethod
    def from_spec(cls, spec):
        """A design from a dict or a JSON string, e.g. '{"floors": 3, "balconies": "all"}'."""
        if isinstance(spec, str):
            spec = json.loads(spec)
        if not isinstance(spec, dict):
            typed = json.dumps(spec, default=repr)
            raise ValueError(f'a design is a JSON object such as {{"floors": 3}}, not {typed}')
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            known_keys = ", ".join(sorted(known))
            raise ValueError(f"unknown design key {unknown[0]!r}; known keys: {known_keys}")
        return cls(**spec)

    def ground_floor_windows(self):
        """Windows at street level: none beside a shop front, else one per bay but the door's."""
        if self.shop_front:
            return 0
        return self.windows_per_floor - (0 if self.door == "none" else 1)

    def window_count(self):
        """How many separate windows draw_facade() paints."""
        return self.floors * self.windows_per_floor + self.ground_floor_windows()


def fits(value, kind):
    """True if `value` is of `kind`; a whole number is a number too, but true and false are not."""
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


def design_from_flag(spec):
    """A script's --design JSON -> FacadeDesign; LessonError (one sentence) if it is not one."""
    try:
        return FacadeDesign.from_spec(spec)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise LessonError(
            f"--design is not a valid facade design ({exc}); see FacadeDesign in "
            "helpers/facade_labels.py."
        ) from None


def _box(draw, x0, y0, x1, y1, name):
    """Fill the pixel box [x0, x1) x [y0, y1) with one class colour (no antialiasing, ever)."""
    x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x1, y1))
    if x1 > x0 and y1 > y0:
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=CLASS_COLORS[name])


def draw_facade(design, size=IMAGE_SIZE):
    """Draw `design` as a size x size RGB label using only palette colours. Returns a PIL image."""
    rng = np.random.default_rng(design.seed)
    image = Image.new("RGB", (size, size), CLASS_COLORS["background"])
    draw = ImageDraw.Draw(image)

    left, right = design.margin * size, (1 - design.margin) * size
    top, bottom = design.sky * size, float(size)
    _box(draw, left, top, right, bottom, "facade")
    wall_left, wall_right = left, right
    if design.pillars:
        pillar = 0.035 * size
        _box(draw, left, top, left + pillar, bottom, "pillar")
        _box(draw, right - pillar, top, right, bottom, "pillar")
        wall_left, wall_right = left + pillar, right - pillar
    if design.cornice:
        cornice = max(3.0, 0.035 * size)
        _box(draw, left - 0.01 * size, top, right + 0.01 * size, top + cornice, "cornice")
        top += cornice

    # Storeys: the ground floor is a little taller than the upper ones, as on most real facades.
    storey = (bottom - top) / (design.floors + 1.25)
    ground_top = bottom - 1.25 * storey
    bay = (wall_right - wall_left) / design.windows_per_floor
    band = max(2.0, 0.012 * size)

    for floor in range(design.floors):
        y_top = top + floor * storey
        if design.moldings:
            _box(draw, wall_left, y_top + storey - band, wall_right, y_top + storey, "molding")
        # `irregular` shifts this whole floor's windows and gives each its own size.
        floor_shift = design.irregular * rng.uniform(-0.25, 0.25) * bay
        shortest, lowest = storey, 0.0
        for i in range(design.windows_per_floor):
            w = bay * design.window_width * (1 + design.irregular * rng.uniform(-0.35, 0.35))
            h = storey * design.window_height * (1 + design.irregular * rng.uniform(-0.25, 0.2))
            w, h = min(w, 0.8 * bay), min(h, 0.72 * storey)
            jitter = design.irregular * rng.uniform(-0.1, 0.1) * bay
            cx = wall_left + (i + 0.5) * bay + floor_shift + jitter
            low, high = wall_left + (i + 0.1) * bay + w / 2, wall_left + (i + 0.9) * bay - w / 2
            cx = float(np.clip(cx, low, high))  # the window stays inside its bay
            y0 = y_top + 0.18 * storey
            balcony = _has_balcony(design, floor)
            _window(draw, (cx - w / 2, y0, cx + w / 2, y0 + h), design, rng, size, balcony)
            shortest, lowest = min(shortest, h), max(lowest, y0 + h)
        if design.balconies == "continuous" and floor % 2 == 1:
            # Over the lower 30% of every window and down past the lowest sill: a thinner band
            # would leave a sliver of window under it and split each window in two.
            y = y_top + 0.18 * storey + 0.7 * shortest
            x0, x1 = wall_left + 0.3 * bay, wall_right - 0.3 * bay
            _box(draw, x0, y, x1, lowest + 0.03 * size, "balcony")

    # Ground floor: the door sits in one bay; the others hold windows or one long shop front.
    n = design.windows_per_floor
    door_bay = {"left": 0, "center": n // 2, "right": n - 1}.get(design.door)  # None: no door
    if design.shop_front:
        shop_x0 = wall_left + 0.1 * bay
        shop_x1 = wall_right - 0.1 * bay
        _box(draw, shop_x0, ground_top + 0.12 * storey, shop_x1, bottom, "shop")
    for i in range(design.windows_per_floor):
        x0, x1 = wall_left + i * bay, wall_left + (i + 1) * bay
        if i == door_bay:
            dw = min(0.6 * bay, 0.09 * size)
            cx = (x0 + x1) / 2
            _box(draw, cx - dw / 2, ground_top + 0.2 * storey, cx + dw / 2, bottom, "door")
        elif not design.shop_front:
            w = bay * design.window_width
            cx = (x0 + x1) / 2
            y0 = ground_top + 0.3 * storey
            box = (cx - w / 2, y0, cx + w / 2, y0 + storey * design.window_height)
            _window(draw, box, design, rng, size, balcony=False)
    return image


def _has_balcony(design, floor):
    return design.balconies == "all" or (design.balconies == "alternate" and floor % 2 == 0)


def _window(draw, box, design, rng, size, balcony):
    """One window (box: x0, y0, x1, y1) with its sill, optional blind (top part) and optional
    balcony (bottom part)."""
    x0, y0, x1, y1 = box
    _box(draw, x0, y0, x1, y1, "window")
    h = y1 - y0
    if design.blinds > 0 and rng.random() < design.blinds:
        _box(draw, x0, y0, x1, y0 + 0.45 * h, "blind")
    if balcony:
        reach = 0.15 * (x1 - x0)
        _box(draw, x0 - reach, y1 - 0.3 * h, x1 + reach, y1 + 0.06 * size * 0.5, "balcony")
    elif design.sills:
        ledge = 0.1 * (x1 - x0)
        _box(draw, x0 - ledge, y1, x1 + ledge, y1 + max(2.0, 0.012 * size), "sill")


def random_design(rng):
    """A plausible random facade (for Exercise 2 and the painter's "random facade" button)."""
    return FacadeDesign(
        floors=int(rng.integers(2, 7)),
        windows_per_floor=int(rng.integers(2, 7)),
        window_width=float(rng.uniform(0.35, 0.65)),
        window_height=float(rng.uniform(0.4, 0.65)),
        irregular=float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.8)])),
        door=str(rng.choice(DOOR_POSITIONS[:3])),
        balconies=str(rng.choice(BALCONY_STYLES)),
        shop_front=bool(rng.random() < 0.5),
        moldings=bool(rng.random() < 0.8),
        cornice=bool(rng.random() < 0.8),
        blinds=float(rng.choice([0.0, 0.3, 0.7])),
        pillars=bool(rng.random() < 0.3),
        seed=int(rng.integers(0, 2**31)),
    )


# The shipped sample labels (sample_facades/base/NAME.png): named for what they show.
SAMPLE_DESIGNS = {
    "townhouse_4_floors": FacadeDesign(floors=4, windows_per_floor=3),
    "apartment_block_balconies": FacadeDesign(
        floors=5, windows_per_floor=4, balconies="all", shop_front=True
    ),
    "shop_street": FacadeDesign(
        floors=3, windows_per_floor=5, shop_front=True, door="left", blinds=0.4, seed=3
    ),
    "narrow_house": FacadeDesign(
        floors=3, windows_per_floor=2, window_width=0.55, door="right", margin=0.18
    ),
    "wide_office": FacadeDesign(
        floors=6, windows_per_floor=6, window_width=0.6, window_height=0.6, cornice=False
    ),
    "irregular_old_house": FacadeDesign(
        floors=3, windows_per_floor=4, irregular=0.7, seed=11, blinds=0.3
    ),
    "hotel_continuous_balconies": FacadeDesign(
        floors=5, windows_per_floor=5, balconies="continuous", shop_front=True, pillars=True
    ),
    "blinds_and_pillars": FacadeDesign(
        floors=4, windows_per_floor=4, blinds=0.7, pillars=True, seed=5
    ),
    "alternate_balconies": FacadeDesign(
        floors=4, windows_per_floor=3, balconies="alternate", door="left"
    ),
    "tall_windows": FacadeDesign(
        floors=3, windows_per_floor=4, window_width=0.4, window_height=0.68, shop_front=True, seed=2
    ),
    "plain_no_moldings": FacadeDesign(
        floors=4, windows_per_floor=4, moldings=False, cornice=False, sills=False
    ),
    "small_windows_many_floors": FacadeDesign(
        floors=8, windows_per_floor=5, window_width=0.38, window_height=0.45, door="right"
    ),
}


def main(argv=None):
    parser = ArgumentParser(description="Draw facade label maps in the CMP palette.")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=SAMPLE_LABELS_DIR,
        help="where to write the sample labels (default: sample_facades/base/)",
    )
    parser.add_argument(
        "--design",
        default=None,
        help='draw one design from JSON, e.g. \'{"floors": 3, "balconies": "all"}\', '
        "into --output (default: write all shipped samples)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("my_facade.png"),
        help="file for --design (default: my_facade.png)",
    )
    parser.add_argument(
        "--palette-chart",
        type=Path,
        default=None,
        help="instead, draw the palette's colour chart into this PNG (the README's is "
        "docs/palette.png)",
    )
    args = parser.parse_args(argv)

    if args.palette_chart is not None:
        save_image(palette_chart(), args.palette_chart)
        print(f"Wrote the {len(FACADE_CLASSES)}-colour palette chart to {args.palette_chart}")
        return
    if args.design is not None:
        try:
            design = design_from_flag(args.design)
        except LessonError as exc:
            fail(str(exc))
        save_image(draw_facade(design), args.output)
        print(
            f"Wrote {args.output} ({design.window_count()} windows): {json.dumps(asdict(design))}"
        )
        return
    for name, design in SAMPLE_DESIGNS.items():
        save_image(draw_facade(design), args.output_dir / f"{name}.png")
    print(f"Wrote {len(SAMPLE_DESIGNS)} labels to {args.output_dir}")


if __name__ == "__main__":
    main()
