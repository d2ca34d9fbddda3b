"""Infill pattern registry: every pattern stays inside its region at about its density."""

import numpy as np
import pytest
import shapely

from dosecraft.errors import SlicingError
from dosecraft.model.enums import InfillPattern
from dosecraft.slicer.fill_fit import FillJob, fit_fill
from dosecraft.slicer.infill import (
    REGISTRY,
    infill_generator,
    polyline_length_mm,
    rectilinear,
)

WIDTH = 0.407  # bead spacing of a 0.45 mm bead at 0.2 mm layers
DISC = shapely.Point(0, 0).buffer(8.0, quad_segs=32)
RING = shapely.Point(0, 0).buffer(12.0, quad_segs=48).difference(
    shapely.Point(0, 0).buffer(4.0, quad_segs=32))


def density_of(lines: list[np.ndarray], region) -> float:
    return polyline_length_mm(lines) * WIDTH / region.area


def test_registry_has_every_pattern():
    assert set(REGISTRY) == set(InfillPattern)


@pytest.mark.parametrize("pattern", list(InfillPattern))
@pytest.mark.parametrize("density", [0.15, 0.4, 0.8])
@pytest.mark.parametrize("region", [DISC, RING], ids=["disc", "ring"])
def test_pattern_inside_region_at_density(pattern, density, region):
    gen = infill_generator(pattern)
    lines = gen(region, density, WIDTH, 3, 1.3, 45.0)
    assert lines, "no lines"
    pts = np.vstack(lines)
    assert shapely.contains_xy(region.buffer(1e-6), pts[:, 0], pts[:, 1]).all()
    assert all(line.ndim == 2 and line.shape[1] == 2 and len(line) >= 2 for line in lines)
    # concentric loops are whole rings, so a ring region quantises them more coarsely
    tolerance = 0.35 if pattern == InfillPattern.CONCENTRIC and region is RING else 0.2
    assert density_of(lines, region) == pytest.approx(density, rel=tolerance)


def test_rectilinear_turns_every_layer_and_alternates():
    a = rectilinear(DISC, 0.3, WIDTH, 0, 0.2, 45.0)
    b = rectilinear(DISC, 0.3, WIDTH, 1, 0.4, 45.0)
    da, db = a[0][-1] - a[0][0], b[0][-1] - b[0][0]
    assert abs(np.dot(da, db)) < 1e-9 * np.hypot(*da) * np.hypot(*db)
    # consecutive rows run in opposite directions
    dirs = np.array([np.sign(np.dot(line[-1] - line[0], da)) for line in a])
    assert np.all(dirs[1:] != dirs[:-1])


def test_solid_rectilinear_is_joined_into_zigzags():
    lines = rectilinear(DISC, 1.0, WIDTH, 0, 0.2, 45.0)
    rows = int(16.0 / WIDTH)
    assert len(lines) < rows / 4   # most rows joined
    assert density_of(lines, DISC) == pytest.approx(1.0, rel=0.1)


def test_gyroid_changes_with_z_and_concentric_is_closed():
    g1 = infill_generator("gyroid")(DISC, 0.3, WIDTH, 0, 0.2, 0.0)
    g2 = infill_generator("gyroid")(DISC, 0.3, WIDTH, 1, 1.0, 0.0)
    assert not np.allclose(g1[0][:3], g2[0][:3])
    rings = infill_generator("concentric")(DISC, 0.5, WIDTH, 0, 0.2, 0.0)
    assert all(np.array_equal(r[0], r[-1]) for r in rings)


def test_unknown_pattern_lists_valid_names():
    with pytest.raises(SlicingError, match="rectilinear, grid"):
        infill_generator("zigzag-deluxe")


@pytest.mark.parametrize("pattern", list(InfillPattern))
def test_fit_reaches_target_in_small_regions(pattern):
    """A 1.5 mm disc holds two or four lines; the fit finds a density that fills it right."""
    region = shapely.Point(0, 0).buffer(0.75, quad_segs=16)
    job = FillJob(region, 0.6, WIDTH, 2, 0.6, 45.0, 0.2 * 0.6 * region.area, WIDTH * 0.2)
    lines, scale = fit_fill(infill_generator(pattern), job)
    assert job.miss(lines) < 0.1 and scale > 0
