"""The canvas, boxes, arrows, pictures and text the concept diagrams are drawn with.

A canvas is laid out in its own units (a box at x=2.9 is 2.9 units from the left edge); each
figure says how many inches a unit is. Figures are made without pyplot, so no backend is needed.
"""

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from helpers.figures import save_figure

# The figures are read in the site's text column: 736 CSS pixels wide on a laptop (Furo's column
# at 1366x768). A figure W inches wide is shown there at 736 / (72 W) pixels per point of font
# size, so each figure is drawn about 8.5-9 inches wide with no text under 10 pt: 11-12 px on
# screen. DPI puts about 1500 pixels across, sharp on high-density screens. On a phone, tapping a
# figure opens it in full.
FONT = 10  # the smallest text: captions, shapes, notes
LABEL = 11  # names inside boxes
TITLE = 13
DPI = 170
ENCODER, DECODER, NEUTRAL, ACCENT = "#cfe3f7", "#fde2c4", "#ececec", "#c0392b"
GENERATOR, DISCRIMINATOR = "#d6eaf8", "#fadbd8"


def canvas(width, height, inches_per_unit):
    """A figure `width` x `height` units large, and its axes, without ticks or frame."""
    fig = Figure(figsize=(width * inches_per_unit, height * inches_per_unit))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def text(ax, x, y, words, size=FONT, ha="center", va="center", **options):
    """Text centred on (x, y) unless ha / va say otherwise."""
    ax.text(x, y, words, ha=ha, va=va, fontsize=size, **options)


def title(ax, x, y, words, ha="left"):
    ax.text(x, y, words, ha=ha, fontsize=TITLE, weight="bold")


def box(ax, x, y, w, h, words, color, size=LABEL, weight="normal"):
    """A rounded box with its lower left corner at (x, y), `words` in its centre."""
    style = "round,pad=0.02,rounding_size=0.12"
    patch = FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=color, edgecolor="#555555")
    patch.set_linewidth(1.0)
    ax.add_patch(patch)
    text(ax, x + w / 2, y + h / 2, words, size=size, weight=weight, linespacing=1.25)


def arrow(ax, start, end, color="#333333", style="-|>", **options):
    """An arrow from `start` to `end` (points); `options` go to matplotlib's arrowprops."""
    props = dict(arrowstyle=style, color=color, lw=1.5, shrinkA=2, shrinkB=2, **options)
    ax.annotate("", xy=end, xytext=start, arrowprops=props)


def arrows(ax, pairs):
    for start, end in pairs:
        arrow(ax, start, end)


def picture(ax, image, x, y, size, caption=None):
    """An image `size` units square with its lower left corner at (x, y), framed, captioned."""
    ax.imshow(image, extent=(x, x + size, y, y + size), interpolation="nearest", zorder=2)
    ax.add_patch(Rectangle((x, y), size, size, fill=False, edgecolor="#555555", lw=0.8, zorder=3))
    if caption:
        text(ax, x + size / 2, y - 0.15, caption, va="top")


def placeholder(ax, x, y, size, words):
    """A hatched square standing for a photo the figure does not show."""
    hatched = dict(facecolor="#f4f4f4", edgecolor="#888888", hatch="//", lw=0.8)
    ax.add_patch(Rectangle((x, y), size, size, **hatched))
    background = dict(facecolor="white", edgecolor="none", pad=2)
    text(ax, x + size / 2, y + size / 2, words, bbox=background)


def shape_text(shape):
    """(512, 1, 1) -> '512×1×1'."""
    return "×".join(str(s) for s in shape)


def save(fig, path):
    return save_figure(fig, path, dpi=DPI, facecolor="white")
