"""Draw synthetic anime-style sketch/colour pairs in the Kaggle format, to run Exercise 3 offline.

    from helpers.anime_demo import draw_demo_pair
    pair = draw_demo_pair(seed=0, index=7)  # 1024x512 RGB: colour LEFT, line sketch RIGHT

`python preprocess_anime_sketches.py --demo 200` writes such pairs to disk and preprocesses them.
Each pair is a cartoon head-and-shoulders figure outlined in black. Every colour can be read from
the shapes, which is what makes the task learnable: skin inside the face outline, a hair colour
for each of four hair styles (spiky = blond, bob = brown, long with a side fringe = pink, buns =
blue), iris and clothes colours that go with the same character, a sky above the horizon line,
grass below it, a yellow sun and white clouds. Position, size, head tilt, gaze, mouth and scenery
vary from pair to pair. The same (seed, index) always draws the same pixels.
"""

import numpy as np
from PIL import Image, ImageDraw

PAIR_SIZE = (1024, 512)  # the Kaggle pairs: two 512x512 halves side by side
SUPERSAMPLE = 2  # drawn at twice the size and shrunk: outlines antialiased like real line art

BLACK, WHITE = (20, 20, 20), (255, 255, 255)
SKIN, MOUTH, SUN, GRASS = (255, 222, 196), (205, 75, 90), (255, 212, 60), (126, 196, 96)
SKY_TOP, SKY_HORIZON = (110, 170, 235), (205, 230, 250)
# One character per hair style; the style alone decides hair, eye and clothes colours.
CHARACTERS = {
    "spiky": dict(hair=(250, 204, 70), eyes=(55, 120, 225), shirt=(215, 55, 60), collar="v"),
    "bob": dict(hair=(110, 68, 42), eyes=(170, 95, 40), shirt=(70, 165, 95), collar="round"),
    "long": dict(hair=(240, 125, 175), eyes=(45, 160, 110), shirt=(245, 245, 245), collar="sailor"),
    "buns": dict(hair=(70, 105, 210), eyes=(150, 80, 200), shirt=(245, 150, 50), collar="hood"),
}
NAVY, BOW = (45, 55, 115), (220, 45, 65)
# A cloud: five puffs (x, y offsets and radius, in units of the cloud's radius).
PUFFS = ((-1.3, 0.25, 0.8), (0, 0, 1.1), (1.3, 0.25, 0.8), (0.6, 0.5, 0.8), (-0.6, 0.5, 0.8))


def _ellipse(cx, cy, rx, ry, start=0.0, stop=360.0, n=48):
    """Points of an ellipse (or of an arc, in degrees, 0 = right, 90 = down): an (n, 2) array."""
    t = np.radians(np.linspace(start, stop, n, endpoint=stop - start < 360))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _hair(style):
    """(back hair polygon or None, front hair polygon, extra back shapes), in head units (the
    head's radius is 1)."""
    top = _ellipse(0, -0.05, 1.08, 1.12, 180, 360, 40)  # left ear -> crown -> right ear
    if style == "spiky":
        k = np.arange(15)
        r = np.where(k % 2 == 0, 1.12, 1.42)  # alternate inner and outer tips of the spikes
        t = np.radians(np.linspace(170, 370, 15))
        front_top = np.stack([r * np.cos(t), -0.05 + r * np.sin(t)], axis=1)
        fringe_x = np.linspace(0.95, -0.95, 9)
        fringe = np.stack([fringe_x, np.where(np.arange(9) % 2 == 0, -0.2, -0.58)], axis=1)
        return None, np.vstack([front_top, fringe]), []
    if style == "bob":
        back = np.vstack([top, [[1.12, 0.7], [-1.12, 0.7]]])
        fringe = [
            [1.02, 0.62],
            [0.8, 0.62],
            [0.72, -0.38],
            [-0.72, -0.38],
            [-0.8, 0.62],
            [-1.02, 0.62],
        ]
        return back, np.vstack([top, fringe]), []
    if style == "long":
        back = np.vstack([top, [[1.25, 1.0], [1.35, 2.3], [-1.35, 2.3], [-1.25, 1.0]]])
        fringe = [
            [1.0, 0.35],
            [0.82, 0.3],
            [0.55, -0.42],
            [-0.2, -0.62],
            [-0.7, -0.2],
            [-0.9, 0.45],
            [-1.05, 0.4],
        ]
        return back, np.vstack([top, fringe]), []
    # buns: two round buns on top and a scalloped fringe
    scallops = [_ellipse(x, -0.42, 0.32, 0.2, 0, 180, 10) for x in (0.64, 0.0, -0.64)]
    fringe = np.vstack([[[0.98, 0.1]], *scallops, [[-0.98, 0.1]]])
    buns = [_ellipse(0.78, -0.92, 0.4, 0.4), _ellipse(-0.78, -0.92, 0.4, 0.4)]
    return None, np.vstack([top, fringe]), buns


def _collar(kind, shirt):
    """[(polygon or polyline, fill, closed)] drawn over the shirt: neckline, collar, bow,
    drawstrings."""
    if kind == "v":
        return [([[-0.34, 1.3], [0.34, 1.3], [0.0, 2.05]], SKIN, True)]
    if kind == "round":
        return [
            (_ellipse(0, 1.3, 0.5, 0.32, 0, 180, 16), SKIN, True),
            (_ellipse(0, 1.3, 0.58, 0.4, 0, 180, 16), None, False),
        ]
    if kind == "sailor":
        return [
            (
                [
                    [-0.36, 1.3],
                    [0.36, 1.3],
                    [1.25, 1.6],
                    [1.1, 2.0],
                    [0.0, 2.2],
                    [-1.1, 2.0],
                    [-1.25, 1.6],
                ],
                NAVY,
                True,
            ),
            ([[-0.3, 1.3], [0.3, 1.3], [0.0, 1.95]], SKIN, True),
            ([[0.0, 1.95], [0.42, 1.78], [0.42, 2.28]], BOW, True),
            ([[0.0, 1.95], [-0.42, 1.78], [-0.42, 2.28]], BOW, True),
        ]
    return [
        (
            _ellipse(0, 1.3, 0.95, 0.5, 200, 340, 16).tolist() + [[0.7, 1.6], [-0.7, 1.6]],
            shirt,
            True,
        ),
        ([[-0.3, 1.7], [-0.34, 2.5]], None, False),
        ([[0.3, 1.7], [0.34, 2.5]], None, False),
    ]


def _figure(style, mouth_open, gaze):
    """The figure as [(points in head units, fill or None, closed, part)], part 'head' or 'body'."""
    c = CHARACTERS[style]
    back, front, buns = _hair(style)
    body = [
        [-0.32, 1.3],
        [0.32, 1.3],
        [1.55, 1.55],
        [1.95, 2.1],
        [2.1, 9.0],
        [-2.1, 9.0],
        [-1.95, 2.1],
        [-1.55, 1.55],
    ]
    shapes = [(b, c["hair"], True, "head") for b in buns]
    if back is not None:
        shapes.append((back, c["hair"], True, "head"))
    shapes += [(body, c["shirt"], True, "body")]
    shapes += [
        (pts, fill, closed, "body") for pts, fill, closed in _collar(c["collar"], c["shirt"])
    ]
    shapes += [
        ([[-0.27, 0.7], [0.27, 0.7], [0.27, 1.33], [-0.27, 1.33]], SKIN, True, "body"),
        (_ellipse(0, 0.05, 0.86, 1.0), SKIN, True, "head"),
    ]
    for side in (-1, 1):
        ex = 0.38 * side
        shapes += [
            (_ellipse(ex, 0.18, 0.2, 0.25), WHITE, True, "head"),
            (_ellipse(ex + gaze, 0.22, 0.14, 0.19), c["eyes"], True, "head"),
            (_ellipse(ex + gaze, 0.24, 0.065, 0.09), BLACK, True, "head"),
            (_ellipse(ex + gaze - 0.05, 0.14, 0.035, 0.035), WHITE, True, "head"),
            (_ellipse(ex, -0.14, 0.2, 0.08, 200, 340, 8), None, False, "head"),  # eyebrow
        ]
    shapes.append(([[0.02, 0.42], [-0.03, 0.5]], None, False, "head"))  # nose
    if mouth_open:
        shapes.append((_ellipse(0, 0.66, 0.17, 0.13, 0, 180, 16), MOUTH, True, "head"))
    else:
        shapes.append((_ellipse(0, 0.56, 0.18, 0.1, 20, 160, 12), None, False, "head"))
    shapes.append((front, c["hair"], True, "head"))
    return shapes


def _place(points, scale, angle, pivot, origin):
    """Head-unit points rotated by `angle` radians about `pivot`, scaled to pixels and moved to
    `origin`."""
    p = np.asarray(points, dtype=float) - pivot
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (p @ rot.T + pivot) * scale + origin


def _draw_half(colored, scene, shapes, side):
    """One 512x512 half: filled colours and outlines (colour), or the outlines on white (sketch)."""
    horizon, line = scene["horizon"] * side, scene["line"]
    if colored:  # sky above the horizon, grass below; the sketch keeps only the horizon line
        t = np.clip(np.arange(side) / horizon, 0, 1)[:, None]
        rows = np.where(t < 1, np.array(SKY_TOP) + (np.array(SKY_HORIZON) - SKY_TOP) * t, GRASS)
        column = Image.fromarray(rows[:, None, :].astype(np.uint8))
        image = column.resize((side, side), Image.Resampling.NEAREST)  # stretch one column sideways
    else:
        image = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(image)
    draw.line([(0, horizon), (side, horizon)], fill=BLACK, width=line)
    if scene["sun"] is not None:
        x, y, r = (v * side for v in scene["sun"])
        sun = SUN if colored else WHITE
        draw.ellipse([x - r, y - r, x + r, y + r], fill=sun, outline=BLACK, width=line)
    for puffs in scene["clouds"]:
        # Every puff drawn black, then every puff a line's width smaller in white: one outline
        # round the whole cloud, none between its puffs.
        for x, y, r in puffs:
            box = [(x - r) * side, (y - r) * side, (x + r) * side, (y + r) * side]
            draw.ellipse(box, fill=BLACK)
        for x, y, r in puffs:
            r2 = r * side - line
            draw.ellipse([x * side - r2, y * side - r2, x * side + r2, y * side + r2], fill=WHITE)
    for points, fill, closed, _ in shapes:
        xy = (points * side).ravel().tolist()
        if closed:
            # The sketch keeps the outlines on white paper; only the black pupils stay filled.
            ink = fill if colored or fill in (None, BLACK) else WHITE
            draw.polygon(xy, fill=ink)
            xy += xy[:2]
        # Rounded joints hide the notches at sharp corners; smooth curves (many points) need none.
        draw.line(xy, fill=BLACK, width=line, joint="curve" if len(points) < 20 else None)
    return image.reduce(SUPERSAMPLE)  # box-average each 2x2 block: cheap, exact antialiasing


def draw_demo_pair(seed, index):
    """Pair `index` of the demo set `seed`: a 1024x512 RGB image, colour LEFT, sketch RIGHT."""
    rng = np.random.default_rng([seed, index])  # a stream per pair: the same pixels in any order
    style = list(CHARACTERS)[rng.integers(len(CHARACTERS))]
    head = rng.uniform(0.13, 0.19)  # head radius as a fraction of the half's side
    origin = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.33, 0.45)])
    tilt = np.radians(rng.uniform(-14, 14))
    neck = np.array([0.0, 1.1])
    shapes = []
    for points, fill, closed, part in _figure(style, rng.random() < 0.4, rng.uniform(-0.05, 0.05)):
        angle = tilt if part == "head" else tilt / 4  # the head tilts on the neck, the body less
        shapes.append((_place(points, head, angle, neck, origin), fill, closed, part))
    sun = None
    if rng.random() < 0.6:
        sun = (rng.uniform(0.08, 0.92), rng.uniform(0.07, 0.2), rng.uniform(0.04, 0.07))
    clouds = []
    for _ in range(rng.integers(0, 3)):
        x, y, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.25), rng.uniform(0.03, 0.05)
        clouds.append([(x + dx * r, y + dy * r, r * s) for dx, dy, s in PUFFS])
    side = PAIR_SIZE[1] * SUPERSAMPLE
    horizon = rng.uniform(0.55, 0.8)
    scene = dict(horizon=horizon, sun=sun, clouds=clouds, line=round(3 * SUPERSAMPLE))
    pair = Image.new("RGB", PAIR_SIZE)
    pair.paste(_draw_half(True, scene, shapes, side), (0, 0))
    sketch = _draw_half(False, scene, shapes, side).convert("L").convert("RGB")  # grey as RGB
    pair.paste(sketch, (PAIR_SIZE[0] // 2, 0))
    return pair
