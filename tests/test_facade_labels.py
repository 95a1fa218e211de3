"""The facade label builder: palette colours only, the windows and floors it was asked for, the
shipped samples and palette chart in step with the code, and its command line."""

import numpy as np
import pytest
from PIL import Image

from helpers import facade_labels
from helpers.facade_labels import (
    SAMPLE_DESIGNS,
    SAMPLE_LABELS_DIR,
    FacadeDesign,
    draw_facade,
    random_design,
)
from facades_generator import CLASS_COLORS, PALETTE, palette_chart
from helpers.lesson import ROOT
from helpers.lesson import image_files

RANDOM_DESIGNS = [random_design(np.random.default_rng(seed)) for seed in range(24)]
EDGE_DESIGNS = [
    FacadeDesign(floors=1, windows_per_floor=1, door="none"),
    # the door takes the only ground-floor bay
    FacadeDesign(floors=1, windows_per_floor=1, door="left"),
    FacadeDesign(floors=12, windows_per_floor=10, blinds=1.0, balconies="all", seed=4),
    FacadeDesign(
        floors=5, windows_per_floor=6, irregular=1.0, balconies="continuous", blinds=0.5, seed=9
    ),
    FacadeDesign(
        floors=3, windows_per_floor=3, window_width=1.0, window_height=1.0, shop_front=True
    ),
]
ALL_DESIGNS = list(SAMPLE_DESIGNS.values()) + RANDOM_DESIGNS + EDGE_DESIGNS


def components(mask):
    """4-connected regions of a boolean (H, W) mask, as a list of their top rows (union-find on row
    runs)."""
    parent, top, previous = [], [], []

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for y, row in enumerate(mask):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        runs = []
        for start, end in zip(edges[::2], edges[1::2], strict=True):  # pixels [start, end) are set
            parent.append(len(parent))
            top.append(y)
            runs.append((start, end, len(parent) - 1))
            for p_start, p_end, p_id in previous:
                # overlapping columns: the runs touch vertically
                if p_start < end and start < p_end:
                    a, b = find(p_id), find(runs[-1][2])
                    # keep the earlier run, so its top row is the region's
                    parent[max(a, b)] = min(a, b)
        previous = runs
    return [top[i] for i in range(len(parent)) if find(i) == i]


def rgb_codes(rgb):
    """(..., 3) uint8 -> one integer per colour, for fast set tests."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def pixels_of(image, *names):
    array = np.asarray(image)
    return np.any([(array == CLASS_COLORS[name]).all(axis=-1) for name in names], axis=0)


def test_components_counts_touching_and_separate_regions():
    mask = np.zeros((6, 8), dtype=bool)
    mask[0:2, 0:2] = True  # one square
    mask[1:5, 4] = True
    mask[4, 4:7] = True  # an L joined at a corner run: one region
    mask[3, 0] = True  # touches nothing 4-connected
    mask[2, 2] = True  # diagonal to the square only: separate under 4-connectivity
    assert sorted(components(mask)) == [0, 1, 2, 3]


@pytest.mark.parametrize("size", [256, 160])
def test_builder_draws_only_palette_colours(size):
    for design in ALL_DESIGNS:
        codes = rgb_codes(np.asarray(draw_facade(design, size)))
        assert np.isin(codes, rgb_codes(PALETTE)).all(), design


@pytest.mark.parametrize(
    "design", ALL_DESIGNS, ids=lambda d: f"{d.floors}x{d.windows_per_floor}-{d.balconies}"
)
def test_builder_draws_the_requested_windows_and_floors(design):
    image = draw_facade(design)
    assert len(components(pixels_of(image, "window"))) == design.window_count()
    if design.shop_front:  # no windows at street level: exactly the upper floors' grid
        assert design.window_count() == design.floors * design.windows_per_floor
    # A blind covers a window's top, so rows are counted on window-or-blind regions: every window of
    # a floor starts on the same pixel row, and the ground floor's windows (if any) on another.
    tops = components(pixels_of(image, "window", "blind"))
    assert len(tops) == design.window_count()
    assert len(set(tops)) == design.floors + (design.ground_floor_windows() > 0)


def test_same_design_same_label_and_seed_matters():
    design = FacadeDesign(floors=4, windows_per_floor=4, irregular=0.8, blinds=0.5, seed=3)
    assert np.array_equal(np.asarray(draw_facade(design)), np.asarray(draw_facade(design)))
    other = FacadeDesign(floors=4, windows_per_floor=4, irregular=0.8, blinds=0.5, seed=4)
    assert not np.array_equal(np.asarray(draw_facade(design)), np.asarray(draw_facade(other)))


@pytest.mark.parametrize("name", sorted(SAMPLE_DESIGNS))
def test_shipped_samples_are_what_the_builder_draws(name):
    with Image.open(SAMPLE_LABELS_DIR / f"{name}.png") as shipped:
        assert shipped.size == (256, 256)
        assert np.array_equal(
            np.asarray(shipped.convert("RGB")), np.asarray(draw_facade(SAMPLE_DESIGNS[name]))
        )


def test_palette_chart_swatches_are_the_palette_and_docs_copy_is_current():
    for chart in (palette_chart(), Image.open(ROOT / "docs" / "palette.png").convert("RGB")):
        swatch = chart.height // len(PALETTE)
        centres = [
            chart.getpixel((int(1.5 * swatch), i * swatch + swatch // 2))
            for i in range(len(PALETTE))
        ]
        assert np.array_equal(np.array(centres), PALETTE)


def test_from_spec_reads_json_and_rejects_mistakes():
    design = FacadeDesign.from_spec('{"floors": 3, "balconies": "all", "shop_front": true}')
    assert (design.floors, design.balconies, design.shop_front) == (3, "all", True)
    with pytest.raises(ValueError, match="unknown design key 'flors'"):
        FacadeDesign.from_spec({"flors": 3})
    for bad in (
        {"floors": 0},
        {"windows_per_floor": 11},
        {"door": "middle"},
        {"balconies": "some"},
        {"window_width": 1.5},
        {"margin": 0.5},
    ):
        with pytest.raises(ValueError):
            FacadeDesign.from_spec(bad)


def test_image_files_expands_folders_in_name_order(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt", "c.png", "d.png"):
        (tmp_path / name).write_bytes(b"")
    single = tmp_path / "elsewhere.png"
    assert image_files([tmp_path, single]) == [
        tmp_path / n for n in ("a.jpg", "b.png", "c.png", "d.png")
    ] + [single]
    # per_folder spreads its picks over the sorted folder: first, middle, last
    assert image_files([tmp_path], per_folder=3) == [
        tmp_path / n for n in ("a.jpg", "c.png", "d.png")
    ]


def test_cli_draws_a_design_and_rejects_a_bad_one(tmp_path, capsys):
    output = tmp_path / "mine.png"
    facade_labels.main(
        [
            "--design",
            '{"floors": 2, "windows_per_floor": 3, "shop_front": true}',
            "--output",
            str(output),
        ]
    )
    assert "(6 windows)" in capsys.readouterr().out
    with Image.open(output) as drawn:
        assert len(components(pixels_of(drawn.convert("RGB"), "window"))) == 6
    with pytest.raises(SystemExit) as exit_info:
        facade_labels.main(["--design", '{"floors": 2,', "--output", str(tmp_path / "bad.png")])
    assert exit_info.value.code == 2
    assert "--design is not a valid facade design" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()
