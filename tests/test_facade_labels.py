"""The facade label builder: palette colours only, the windows and floors it was asked for, the
shipped samples and palette chart in step with the code, designs from JSON, its command line."""

import numpy as np
import pytest
from PIL import Image

from facades_generator import CLASS_COLORS, PALETTE, SAMPLE_LABELS_DIR
from helpers.facade_labels import SAMPLE_DESIGNS, FacadeDesign, draw_facade
from painter.server import random_design
from helpers.lesson import LessonError

EDGE_DESIGNS = [
    FacadeDesign(floors=1, windows_per_floor=1, door="none"),
    FacadeDesign(floors=1, windows_per_floor=1, door="left"),  # the door takes the only bay
    FacadeDesign(floors=12, windows_per_floor=10, blinds=1.0, balconies="all", seed=4),
    FacadeDesign(windows_per_floor=6, irregular=1.0, balconies="continuous", blinds=0.5, seed=9),
    FacadeDesign(floors=3, windows_per_floor=3, window_width=1, window_height=1, shop_front=True),
]
ALL_DESIGNS = [FacadeDesign(**spec) for spec in SAMPLE_DESIGNS.values()] + EDGE_DESIGNS
ALL_DESIGNS += [random_design(np.random.default_rng(seed)) for seed in range(24)]


def regions(image, *names):
    """The top rows of the 4-connected regions painted in the given classes."""
    array = np.asarray(image)
    mask = np.any([(array == CLASS_COLORS[name]).all(axis=-1) for name in names], axis=0)
    none = mask.size  # the id of pixels outside the mask
    ids = np.where(mask, np.arange(none).reshape(mask.shape), none)
    while True:  # each pixel takes its neighbours' smallest id, then that pixel's (pointer jumping)
        padded = np.pad(ids, 1, constant_values=none)
        near = [ids, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
        low = np.minimum.reduce(near)
        low = np.where(mask, low.take(np.minimum(low, none - 1)), none)
        if np.array_equal(low, ids):  # a region's id is its first pixel's: its top row
            return list(np.unique(ids[mask]) // mask.shape[1])
        ids = low


@pytest.mark.parametrize("design", ALL_DESIGNS, ids=lambda d: f"{d.floors}x{d.windows_per_floor}")
def test_builder_draws_the_windows_and_floors_asked_for_in_palette_colours(design):
    image = draw_facade(design)
    assert len(regions(image, "window")) == design.window_count()
    if design.shop_front:  # no windows at street level: exactly the upper floors' grid
        assert design.window_count() == design.floors * design.windows_per_floor
    # A blind covers a window's top, so floors are counted on window-or-blind regions: the windows
    # of a floor start on one pixel row, and the ground floor's (if any) on another.
    tops = regions(image, "window", "blind")
    ground_floor = design.window_count() > design.floors * design.windows_per_floor
    assert len(set(tops)) == design.floors + ground_floor
    for size in (256, 160):
        colours = np.unique(np.asarray(draw_facade(design, size)).reshape(-1, 3), axis=0)
        assert all((PALETTE == colour).all(axis=1).any() for colour in colours)


def test_same_design_same_label_and_the_seed_matters():
    design = FacadeDesign(irregular=0.8, blinds=0.5, seed=3)
    assert np.array_equal(np.asarray(draw_facade(design)), np.asarray(draw_facade(design)))
    other = FacadeDesign(irregular=0.8, blinds=0.5, seed=4)
    assert not np.array_equal(np.asarray(draw_facade(design)), np.asarray(draw_facade(other)))


@pytest.mark.parametrize("name", sorted(SAMPLE_DESIGNS))
def test_shipped_samples_are_what_the_builder_draws_from_designs_json(name):
    with Image.open(SAMPLE_LABELS_DIR / f"{name}.png") as shipped:
        drawn = draw_facade(FacadeDesign.from_spec(SAMPLE_DESIGNS[name]))
        assert np.array_equal(np.asarray(shipped.convert("RGB")), np.asarray(drawn))


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"flors": 3}, "unknown design key 'flors'"),
        ({"floors": 0}, "floors must be between 1 and 12"),
        ({"windows_per_floor": 11}, "windows_per_floor must be between 1 and 10"),
        ({"door": "middle"}, "door must be one of left, center, right, none"),
        ({"window_width": 1.5}, "window_width must be between 0 and 1"),
        ('{"floors": 3.5}', "floors must be a whole number, not 3.5"),
        ('{"floors": true}', "floors must be a whole number, not true"),
        ('{"shop_front": "yes"}', 'shop_front must be true or false, not "yes"'),
        ('{"window_width": NaN}', "window_width must be between 0 and 1, not nan"),
        ("[3]", "a design is a JSON object"),
        ("", "Expecting value"),
        ("[" * 100_000, "recursion"),
    ],
)
def test_from_spec_refuses_a_bad_design_in_one_sentence(spec, words):
    with pytest.raises(LessonError, match="--design is not a valid facade design") as error:
        FacadeDesign.from_spec(spec)
    assert words in str(error.value) and str(error.value).count("\n") == 0


def test_from_spec_reads_json_and_takes_whole_numbers_for_fractions():
    design = FacadeDesign.from_spec('{"floors": 3, "shop_front": true, "window_width": 1}')
    assert (design.floors, design.shop_front, design.window_width) == (3, True, 1)
