"""Synthetic pairs in the Kaggle format (--demo), to run Exercise 3 with no download.

    pair = draw_demo_pair(seed=0, index=7)  # 1024x512 RGB: colour LEFT, sketch RIGHT

A cartoon head and shoulders outlined in black. Every colour follows from the shapes, which makes
the task learnable: skin inside the face outline, one character per hair style (spiky = blond, bob
= brown, long = pink, buns = blue) with its own eye and shirt colours, sky above the horizon line,
grass below, a yellow sun, white clouds. The same (seed, index) draws the same pixels.
"""

import numpy as np
from PIL import Image, ImageDraw

PAIR_SIZE = (1024, 512)  # the Kaggle pairs: two 512x512 halves side by side
SUPERSAMPLE = 2  # drawn at twice the size and shrunk: outlines antialiased like real line art

BLACK, WHITE, NAVY, BOW = (20, 20, 20), (255, 255, 255), (45, 55, 115), (220, 45, 65)
SKIN, MOUTH, SUN, GRASS = (255, 222, 196), (205, 75, 90), (255, 212, 60), (126, 196, 96)
SKY_TOP, SKY_HORIZON = (110, 170, 235), (205, 230, 250)


def points(text):
    """ "x,y x,y ..." in head units (the head's radius is 1, y down) -> an (n, 2) array."""
    return np.array([xy.split(",") for xy in text.split()], dtype=float)


def ellipse(cx, cy, rx, ry, start=0.0, stop=360.0, n=48):
    """An ellipse, or an arc in degrees (0 = right, 90 = down), as an (n, 2) array."""
    t = np.radians(np.linspace(start, stop, n, endpoint=stop - start < 360))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


# One character per hair style, which alone decides its colours: hair, eyes, shirt.
COLOURS = {
    "spiky": ((250, 204, 70), (55, 120, 225), (215, 55, 60)),
    "bob": ((110, 68, 42), (170, 95, 40), (70, 165, 95)),
    "long": ((240, 125, 175), (45, 160, 110), (245, 245, 245)),
    "buns": ((70, 105, 210), (150, 80, 200), (245, 150, 50)),
}
HOOD = np.vstack([ellipse(0, 1.3, 0.95, 0.5, 200, 340, 16), points("0.7,1.6 -0.7,1.6")])
COLLARS = {  # drawn over the shirt: [(points, fill or None for a line only, closed)]
    "spiky": [(points("-0.34,1.3 0.34,1.3 0,2.05"), SKIN, True)],
    "bob": [
        (ellipse(0, 1.3, 0.5, 0.32, 0, 180, 16), SKIN, True),
        (ellipse(0, 1.3, 0.58, 0.4, 0, 180, 16), None, False),
    ],
    "long": [  # a sailor collar and its bow
        (points("-0.36,1.3 0.36,1.3 1.25,1.6 1.1,2 0,2.2 -1.1,2 -1.25,1.6"), NAVY, True),
        (points("-0.3,1.3 0.3,1.3 0,1.95"), SKIN, True),
        (points("0,1.95 0.42,1.78 0.42,2.28"), BOW, True),
        (points("0,1.95 -0.42,1.78 -0.42,2.28"), BOW, True),
    ],
    "buns": [  # a hood and its drawstrings
        (HOOD, COLOURS["buns"][2], True),
        (points("-0.3,1.7 -0.34,2.5"), None, False),
        (points("0.3,1.7 0.34,2.5"), None, False),
    ],
}
BACK_HAIR = {
    "bob": points("1.12,0.7 -1.12,0.7"),
    "long": points("1.25,1 1.35,2.3 -1.35,2.3 -1.25,1"),
}
SCALLOPS = [ellipse(x, -0.42, 0.32, 0.2, 0, 180, 10) for x in (0.64, 0.0, -0.64)]
FRINGE = {
    "bob": points("1.02,0.62 0.8,0.62 0.72,-0.38 -0.72,-0.38 -0.8,0.62 -1.02,0.62"),
    "long": points("1,0.35 0.82,0.3 0.55,-0.42 -0.2,-0.62 -0.7,-0.2 -0.9,0.45 -1.05,0.4"),
    "buns": np.vstack([[[0.98, 0.1]], *SCALLOPS, [[-0.98, 0.1]]]),
}
NOSE = (points("0.02,0.42 -0.03,0.5"), None, False)
OPEN_MOUTH = (ellipse(0, 0.66, 0.17, 0.13, 0, 180, 16), MOUTH, True)
SMILE = (ellipse(0, 0.56, 0.18, 0.1, 20, 160, 12), None, False)
BODY = points("-0.32,1.3 0.32,1.3 1.55,1.55 1.95,2.1 2.1,9 -2.1,9 -1.95,2.1 -1.55,1.55")
NECK = points("-0.27,0.7 0.27,0.7 0.27,1.33 -0.27,1.33")
# A cloud: five puffs (x, y offsets and radius, in units of the cloud's radius).
PUFFS = ((-1.3, 0.25, 0.8), (0, 0, 1.1), (1.3, 0.25, 0.8), (0.6, 0.5, 0.8), (-0.6, 0.5, 0.8))


def figure(style, mouth_open, gaze):
    """[(points in head units, fill or None, closed, tilts with the head)], back to front."""
    hair_colour, eyes, shirt = COLOURS[style]
    top = ellipse(0, -0.05, 1.08, 1.12, 180, 360, 40)  # hair: left ear -> crown -> right ear
    back = [ellipse(x, -0.92, 0.4, 0.4) for x in (0.78, -0.78)] if style == "buns" else []
    if style in BACK_HAIR:
        back.append(np.vstack([top, BACK_HAIR[style]]))
    if style == "spiky":  # spikes: alternate inner and outer tips, then a zigzag fringe
        odd = np.arange(15) % 2 == 1
        r, t = np.where(odd, 1.42, 1.12), np.radians(np.linspace(170, 370, 15))
        fringe = np.stack([np.linspace(0.95, -0.95, 9), np.where(odd[:9], -0.58, -0.2)], axis=1)
        front = np.vstack([np.stack([r * np.cos(t), -0.05 + r * np.sin(t)], axis=1), fringe])
    else:
        front = np.vstack([top, FRINGE[style]])
    shapes = [(b, hair_colour, True, True) for b in back]
    body = [(BODY, shirt, True), *COLLARS[style], (NECK, SKIN, True)]
    shapes += [(*shape, False) for shape in body]
    face = [(ellipse(0, 0.05, 0.86, 1.0), SKIN, True)]
    for ex in (-0.38, 0.38):
        face += [
            (ellipse(ex, 0.18, 0.2, 0.25), WHITE, True),
            (ellipse(ex + gaze, 0.22, 0.14, 0.19), eyes, True),
            (ellipse(ex + gaze, 0.24, 0.065, 0.09), BLACK, True),
            (ellipse(ex + gaze - 0.05, 0.14, 0.035, 0.035), WHITE, True),
            (ellipse(ex, -0.14, 0.2, 0.08, 200, 340, 8), None, False),  # eyebrow
        ]
    face += [NOSE, OPEN_MOUTH if mouth_open else SMILE, (front, hair_colour, True)]
    return shapes + [(*shape, True) for shape in face]


def draw_half(colored, scene, shapes, side):
    """One half: filled colours and outlines (colour), or the outlines on white (sketch)."""
    horizon, line = scene["horizon"] * side, scene["line"]
    if colored:  # sky above the horizon, grass below; the sketch keeps only the horizon line
        t = np.clip(np.arange(side) / horizon, 0, 1)[:, None]
        rows = np.where(t < 1, np.array(SKY_TOP) + (np.array(SKY_HORIZON) - SKY_TOP) * t, GRASS)
        column = Image.fromarray(rows[:, None, :].astype(np.uint8))
        image = column.resize((side, side), Image.Resampling.NEAREST)  # one column stretched
    else:
        image = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(image)
    draw.line([(0, horizon), (side, horizon)], fill=BLACK, width=line)
    if scene["sun"] is not None:
        x, y, r = (v * side for v in scene["sun"])
        draw.ellipse([x - r, y - r, x + r, y + r], SUN if colored else WHITE, BLACK, line)
    for cx, cy, cr in scene["clouds"]:
        # Every puff black, then every puff a line's width smaller in white: one outline round the
        # whole cloud, none between its puffs.
        puffs = [(cx + dx * cr, cy + dy * cr, cr * s) for dx, dy, s in PUFFS]
        for x, y, r in puffs:
            draw.ellipse([(x - r) * side, (y - r) * side, (x + r) * side, (y + r) * side], BLACK)
        for x, y, r in puffs:
            r2 = r * side - line
            draw.ellipse([x * side - r2, y * side - r2, x * side + r2, y * side + r2], WHITE)
    for xy, fill, closed in shapes:
        # The sketch keeps the outlines on white paper; only the black pupils stay filled.
        flat = (xy * side).ravel().tolist()
        if closed:
            draw.polygon(flat, fill=fill if colored or fill in (None, BLACK) else WHITE)
            flat += flat[:2]
        # Rounded joints hide the notches at sharp corners; smooth curves (many points) need none.
        draw.line(flat, fill=BLACK, width=line, joint="curve" if len(xy) < 20 else None)
    return image.reduce(SUPERSAMPLE)  # box-average each 2x2 block: cheap, exact antialiasing


def draw_demo_pair(seed, index):
    """Pair `index` of the demo set `seed`: a 1024x512 RGB image, colour LEFT, sketch RIGHT."""
    rng = np.random.default_rng([seed, index])  # a stream per pair: the same pixels in any order
    style = list(COLOURS)[rng.integers(len(COLOURS))]
    head = rng.uniform(0.13, 0.19)  # head radius as a fraction of the half's side
    origin = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.33, 0.45)])
    tilt = np.radians(rng.uniform(-14, 14))
    neck = np.array([0.0, 1.1])
    shapes = []
    for xy, fill, closed, on_head in figure(style, rng.random() < 0.4, rng.uniform(-0.05, 0.05)):
        angle = tilt if on_head else tilt / 4  # the head tilts on the neck, the body less
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        shapes.append((((xy - neck) @ rotation.T + neck) * head + origin, fill, closed))
    sun = rng.uniform([0.08, 0.07, 0.04], [0.92, 0.2, 0.07]) if rng.random() < 0.6 else None
    clouds = [rng.uniform([0.1, 0.1, 0.03], [0.9, 0.25, 0.05]) for _ in range(rng.integers(0, 3))]
    scene = dict(horizon=rng.uniform(0.55, 0.8), sun=sun, clouds=clouds, line=3 * SUPERSAMPLE)
    side = PAIR_SIZE[1] * SUPERSAMPLE
    sketch = draw_half(False, scene, shapes, side).convert("L").convert("RGB")  # grey as RGB
    return Image.fromarray(np.hstack([draw_half(True, scene, shapes, side), sketch]))
