"""Draw CMP-style facade label maps from a few numbers: floors, windows, door, balconies, shop.

    from helpers.facade_labels import FacadeDesign, draw_facade
    draw_facade(FacadeDesign(floors=5, windows_per_floor=3, balconies="all")).save("my_facade.png")

Only palette colours, laid out as in the CMP labels. `python -m helpers.facade_labels` redraws
the shipped labels from sample_facades/base/designs.json (the same files every time).
"""

import json
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image

from facades_generator import CLASS_COLORS, SAMPLE_LABELS_DIR
from helpers.lesson import ArgumentParser, LessonError, save_image, shown
from pix2pix_models import IMAGE_SIZE

CHOICES = dict(door=("left", "center", "right", "none"))
CHOICES["balconies"] = ("none", "alternate", "all", "continuous")
LIMITS = dict(floors=(1, 12), windows_per_floor=(1, 10), margin=(0, 0.3), sky=(0, 0.3))
LIMITS |= {name: (0, 1) for name in ("window_width", "window_height", "irregular", "blinds")}
LIMITS["seed"] = (0, 2**32 - 1)  # numpy's generators take any seed >= 0; the scripts' --seed range
KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a word"}
SAMPLE_DESIGNS = json.loads((SAMPLE_LABELS_DIR / "designs.json").read_text("utf-8"))  # name: spec


@dataclass
class FacadeDesign:
    """The knobs of one facade. Fractions are of the facade width/height, or of one window bay."""

    floors: int = 4  # storeys with windows above the ground floor
    windows_per_floor: int = 4
    window_width: float = 0.5  # fraction of a bay's width
    window_height: float = 0.55  # fraction of a storey's height
    irregular: float = 0.0  # 0 = a regular grid; up to 1 = windows shifted and resized per floor
    door: str = "center"  # left | center | right | none
    balconies: str = "none"  # none | alternate (every other floor) | all | continuous
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
            name, value, kind = field.name, getattr(self, field.name), field.type
            if type(value) not in ((int, float) if kind is float else (kind,)):  # true: no number
                typed = json.dumps(value, default=repr)  # as typed: true, not True
                raise ValueError(f"{name} must be {KINDS[kind]}, not {typed}")
            low, high = LIMITS.get(name, (value, value))
            if not low <= value <= high:  # also refuses nan
                raise ValueError(f"{name} must be between {low} and {high}, not {value}")
            if value not in CHOICES.get(name, (value,)):
                raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])}, not {value!r}")

    @classmethod
    def from_spec(cls, spec):
        """A design from a dict or JSON ('{"floors": 3}'); else a LessonError naming --design."""
        try:
            spec = json.loads(spec) if isinstance(spec, str) else spec
            if not isinstance(spec, dict):
                typed = json.dumps(spec, default=repr)
                raise ValueError(f'a design is a JSON object such as {{"floors": 3}}, not {typed}')
            known = [f.name for f in fields(cls)]
            if unknown := sorted(set(spec) - set(known)):
                raise ValueError(f"unknown design key {unknown[0]!r}; known: {', '.join(known)}")
            return cls(**spec)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            fix = "see FacadeDesign in helpers/facade_labels.py"
            raise LessonError(f"--design is not a valid facade design ({exc}); {fix}.") from None

    def window_count(self):
        """How many separate windows draw_facade() paints: none at street level beside a shop."""
        ground = 0 if self.shop_front else self.windows_per_floor - (self.door != "none")
        return self.floors * self.windows_per_floor + ground


def draw_facade(design, size=IMAGE_SIZE):
    """Draw `design` as a size x size RGB label in palette colours only. Returns a PIL image."""
    rng = np.random.default_rng(design.seed)
    canvas = np.full((size, size, 3), CLASS_COLORS["background"], np.uint8)

    def box(x0, y0, x1, y1, name):  # the pixels [x0, x1) x [y0, y1) inside the canvas
        x0, y0, x1, y1 = (min(max(int(round(v)), 0), size) for v in (x0, y0, x1, y1))
        canvas[y0:y1, x0:x1] = CLASS_COLORS[name]

    def window(x0, y0, x1, y1, balcony):  # with its sill, blind (top) or balcony (bottom)
        box(x0, y0, x1, y1, "window")
        if design.blinds > 0 and rng.random() < design.blinds:
            box(x0, y0, x1, y0 + 0.45 * (y1 - y0), "blind")
        if balcony:
            reach = 0.15 * (x1 - x0)
            box(x0 - reach, y1 - 0.3 * (y1 - y0), x1 + reach, y1 + 0.06 * size * 0.5, "balcony")
        elif design.sills:
            ledge = 0.1 * (x1 - x0)
            box(x0 - ledge, y1, x1 + ledge, y1 + max(2.0, 0.012 * size), "sill")

    left, right = design.margin * size, (1 - design.margin) * size
    top, bottom = design.sky * size, float(size)
    box(left, top, right, bottom, "facade")
    pillar = 0.035 * size if design.pillars else 0.0  # red pilasters at both edges, if any
    wall_left, wall_right = left + pillar, right - pillar
    box(left, top, wall_left, bottom, "pillar")
    box(wall_right, top, right, bottom, "pillar")
    if design.cornice:
        cornice = max(3.0, 0.035 * size)
        box(left - 0.01 * size, top, right + 0.01 * size, top + cornice, "cornice")
        top += cornice

    # Storeys: the ground floor is a little taller than the upper ones, as on most real facades.
    storey = (bottom - top) / (design.floors + 1.25)
    ground_top = bottom - 1.25 * storey
    n = design.windows_per_floor
    bay = (wall_right - wall_left) / n
    band = max(2.0, 0.012 * size)
    for floor in range(design.floors):
        y_top = top + floor * storey
        if design.moldings:
            box(wall_left, y_top + storey - band, wall_right, y_top + storey, "molding")
        balcony = design.balconies == "all" or (design.balconies == "alternate" and floor % 2 == 0)
        # `irregular` shifts this whole floor's windows and gives each its own size.
        floor_shift = design.irregular * rng.uniform(-0.25, 0.25) * bay
        y0, heights = y_top + 0.18 * storey, []
        for i in range(n):
            w = bay * design.window_width * (1 + design.irregular * rng.uniform(-0.35, 0.35))
            h = storey * design.window_height * (1 + design.irregular * rng.uniform(-0.25, 0.2))
            w, h = min(w, 0.8 * bay), min(h, 0.72 * storey)
            cx = wall_left + (i + 0.5) * bay + floor_shift
            cx += design.irregular * rng.uniform(-0.1, 0.1) * bay
            low, high = wall_left + (i + 0.1) * bay + w / 2, wall_left + (i + 0.9) * bay - w / 2
            cx = float(np.clip(cx, low, high))  # the window stays inside its bay
            window(cx - w / 2, y0, cx + w / 2, y0 + h, balcony)
            heights.append(h)
        if design.balconies == "continuous" and floor % 2 == 1:
            # Over the lower 30% of every window and down past the lowest sill: a thinner band
            # would leave a sliver of window under it and split each window in two.
            y, lowest = y0 + 0.7 * min(heights), y0 + max(heights)
            box(wall_left + 0.3 * bay, y, wall_right - 0.3 * bay, lowest + 0.03 * size, "balcony")

    # Ground floor: the door sits in one bay; the others hold windows or one long shop front.
    door_bay = {"left": 0, "center": n // 2, "right": n - 1}.get(design.door)  # None: no door
    if design.shop_front:
        inset = 0.1 * bay
        box(wall_left + inset, ground_top + 0.12 * storey, wall_right - inset, bottom, "shop")
    for i in range(n):
        cx = wall_left + (i + 0.5) * bay
        if i == door_bay:
            dw = min(0.6 * bay, 0.09 * size)
            box(cx - dw / 2, ground_top + 0.2 * storey, cx + dw / 2, bottom, "door")
        elif not design.shop_front:
            w, y0 = bay * design.window_width, ground_top + 0.3 * storey
            window(cx - w / 2, y0, cx + w / 2, y0 + storey * design.window_height, balcony=False)
    return Image.fromarray(canvas)


def main(argv=None):
    parser = ArgumentParser(description="Redraw the shipped sample labels from designs.json.")
    parser.parse_args(argv)
    for name, spec in SAMPLE_DESIGNS.items():
        save_image(draw_facade(FacadeDesign(**spec)), SAMPLE_LABELS_DIR / f"{name}.png")
    print(f"Wrote {len(SAMPLE_DESIGNS)} labels to {shown(SAMPLE_LABELS_DIR)}")


if __name__ == "__main__":
    main()
