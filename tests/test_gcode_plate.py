"""Plate layout: capacity, spacing, margins, centring, and the error when tablets overflow."""

import itertools

import numpy as np
import pytest
from test_gcode_support import HEADER, fdm_profile, formulation, tiny_toolpath

from dosecraft.errors import GcodeError
from dosecraft.gcode import (
    layout_plate,
    plan_plate,
    plate_capacity,
    read_gcode,
    tablet_labels,
    toolpath_footprint,
    write_gcode,
)

SQUARE = (-5.0, -5.0, 5.0, 5.0)  # 10 × 10 mm


def _boxes(footprints, offsets) -> np.ndarray:
    return np.array([[fp[0] + o[0], fp[1] + o[1], fp[2] + o[0], fp[3] + o[1]]
                     for (_, fp), o in zip(footprints, offsets, strict=True)])


def test_capacity_of_a_grid() -> None:
    profile = fdm_profile()  # 100 × 100 bed, 10 mm margin, 5 mm spacing → 80 mm usable
    assert plate_capacity(SQUARE, profile) == 25  # 5 per row: 5·10 + 4·5 = 70 ≤ 80 < 85
    assert plate_capacity((0.0, 0.0, 80.0, 10.0), profile) == 5  # exactly the usable width
    assert plate_capacity((0.0, 0.0, 80.1, 10.0), profile) == 0
    assert plate_capacity(SQUARE, fdm_profile(plate_spacing_mm=10.0)) == 16


def test_full_grid_is_spaced_inside_margins_and_centred() -> None:
    profile = fdm_profile()
    footprints = [(f"T{k}", SQUARE) for k in range(25)]
    boxes = _boxes(footprints, layout_plate(footprints, profile))
    assert boxes[:, :2].min() >= 10.0 - 1e-9 and boxes[:, 2:].max() <= 90.0 + 1e-9
    centre = (boxes[:, :2].min(axis=0) + boxes[:, 2:].max(axis=0)) / 2
    np.testing.assert_allclose(centre, [50.0, 50.0])
    xs, ys = np.unique(boxes[:, 0]), np.unique(boxes[:, 1])
    np.testing.assert_allclose(np.diff(xs), 15.0)  # 10 mm tablet + 5 mm gap
    np.testing.assert_allclose(np.diff(ys), 15.0)
    # Row-major, front to back: T0..T4 share the lowest Y.
    assert np.all(boxes[:5, 1] == ys[0]) and np.all(np.diff(boxes[:5, 0]) > 0)


def test_overflow_says_how_many_fit() -> None:
    footprints = [(f"T{k}", SQUARE) for k in range(26)]
    with pytest.raises(GcodeError, match=r"26 tablets do not fit .*25 fit per plate; split "
                                         r"them into 2 plates"):
        layout_plate(footprints, fdm_profile())


def test_a_tablet_larger_than_the_bed() -> None:
    with pytest.raises(GcodeError, match=r"tablet 'BIG' \(90\.0×10\.0 mm\).*0 fit per plate"):
        layout_plate([("BIG", (0.0, 0.0, 90.0, 10.0))], fdm_profile())


def test_mixed_footprints_never_overlap_or_crowd() -> None:
    profile = fdm_profile()
    sizes = [(12, 8), (20, 10), (6, 6), (30, 14), (8, 20), (16, 9), (10, 10)]
    footprints = [(f"T{k}", (-w / 2, -h / 2 + 1.0, w / 2, h / 2 + 1.0))
                  for k, (w, h) in enumerate(sizes)]
    boxes = _boxes(footprints, layout_plate(footprints, profile))
    assert boxes[:, :2].min() >= 10.0 - 1e-3 and boxes[:, 2:].max() <= 90.0 + 1e-3
    for a, b in itertools.combinations(boxes, 2):
        gap_x = max(b[0] - a[2], a[0] - b[2])
        gap_y = max(b[1] - a[3], a[1] - b[3])
        assert max(gap_x, gap_y) >= 5.0 - 1e-3


def test_plan_plate_writes_a_labelled_program() -> None:
    profile = fdm_profile()
    tp = tiny_toolpath()
    assert toolpath_footprint(tp) == pytest.approx((-5.2, -5.2, 5.2, 5.2))
    plate = plan_plate(list(zip(tablet_labels("RX5", 9), [tp] * 9, strict=True)), profile)
    assert plate.labels == tuple(f"RX5_{k}" for k in range(1, 10))
    program = write_gcode(plate, profile, formulation(), HEADER)
    r = read_gcode(program.text)
    assert r.object_names == plate.labels
    for label in plate.labels:
        assert r.volume_by_object_mm3[label] == pytest.approx(tp.extruded_volume_mm3,
                                                              abs=1.3e-5)
    assert program.text.count("M486 S-1") == 9 * tp.layer_count
    assert "M486 T9\n" in program.text
