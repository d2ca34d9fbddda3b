"""Slicer core: layering, structure and volume exactness of `slice_tablet`."""

import math

import numpy as np
import pytest
import shapely
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from dosecraft.errors import SlicingError
from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import InfillPattern, ToolRole
from dosecraft.slicer import (
    layer_outlines,
    plan_layers,
    predict_deposited_volume_mm3,
    slice_tablet,
)
from dosecraft.slicer.slicing import layers_for_height
from dosecraft.slicer.toolpath_builder import FLOW_CORRECTION_LIMIT, _flow_factors
from dosecraft.slicer.walls import bead_spacing_mm

WALLS = (ToolRole.OUTER_WALL, ToolRole.INNER_WALL)
FILLS = (ToolRole.SOLID, ToolRole.INFILL)


def on_bed(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    mesh.apply_translation([0.0, 0.0, -mesh.bounds[0, 2]])
    return mesh


def cylinder(d: float = 10.0, h: float = 4.0) -> trimesh.Trimesh:
    return on_bed(trimesh.creation.cylinder(radius=d / 2, height=h, sections=96))


def biconvex(d: float = 10.0, h: float = 4.0) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    mesh.apply_scale([d / 2, d / 2, h / 2])
    return on_bed(mesh)


def caplet(length: float = 12.0, width: float = 5.0, h: float = 4.0) -> trimesh.Trimesh:
    mesh = trimesh.creation.capsule(height=length - width, radius=width / 2, count=[32, 32])
    mesh.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
    mesh.apply_scale([1.0, 1.0, h / width])
    return on_bed(mesh)


def torus(outer: float = 10.0, inner: float = 5.0, h: float = 3.0) -> trimesh.Trimesh:
    return on_bed(trimesh.creation.annulus(r_min=inner / 2, r_max=outer / 2, height=h,
                                           sections=96))


SHAPES = {
    "cylinder": cylinder,
    "caplet": caplet,
    "biconvex": biconvex,
    "torus": torus,
    "mini_2mm": lambda: cylinder(2.0, 2.0),
}


@pytest.fixture(scope="module")
def sse(sse_profile):
    """SSE as in the brief: 0.8 mm beads, 0.4 mm layers, one wall, 2/2 shells."""
    return sse_profile.model_copy(update={"wall_count": 1, "top_layers": 2,
                                          "bottom_layers": 2})


def solid(pattern: str = "rectilinear", density: float = 1.0) -> InfillStrategy:
    return InfillStrategy(density, InfillPattern(pattern))


# --- layering ---------------------------------------------------------------------------

@pytest.mark.parametrize("height, first, layer, count", [
    (4.0, 0.2, 0.2, 20), (4.05, 0.2, 0.2, 21), (2.0, 0.3, 0.2, 10), (0.22, 0.2, 0.2, 1),
    (4.8, 0.4, 0.4, 12),
])
def test_layer_count_covers_height(height, first, layer, count):
    bottoms, tops = layers_for_height(height, first, layer)
    assert len(tops) == count
    if height > 1.25 * first:  # else one layer takes the whole (tiny) height
        assert count == 1 + math.ceil((height - first) / layer - 1e-9)
        assert np.all(tops - bottoms <= max(first, layer) + 1e-12)
    assert tops[-1] == pytest.approx(height, abs=1e-12)
    assert bottoms[0] == 0.0
    assert np.all(np.diff(tops) > 0)
    np.testing.assert_allclose(bottoms[1:], tops[:-1])


def test_layer_outlines_z_and_heights(fdm_profile):
    outlines = layer_outlines(cylinder(), fdm_profile)
    assert len(outlines) == 20
    z = np.array([o.z_mm for o in outlines])
    assert np.all(np.diff(z) > 0) and z[-1] == pytest.approx(4.0)
    assert all(o.area_mm2 == pytest.approx(outlines[0].area_mm2) for o in outlines)


# --- structure --------------------------------------------------------------------------

def test_toolpath_structure(fdm_profile):
    tp = slice_tablet(cylinder(), fdm_profile, solid("rectilinear", 0.3))
    assert tp.layer_count == 20
    z = np.array([layer.z_mm for layer in tp.layers])
    assert np.all(np.diff(z) > 0) and tp.height_mm == pytest.approx(4.0)
    for layer in tp.layers:
        roles = [p.role for p in layer.paths]
        # walls first (inner to outer), then fills
        first_fill = next(i for i, r in enumerate(roles) if r in FILLS)
        assert set(roles[:first_fill]) == {ToolRole.INNER_WALL, ToolRole.OUTER_WALL}
        assert roles[first_fill - 1] == ToolRole.OUTER_WALL
        assert all(r in FILLS for r in roles[first_fill:])
        outer = [p for p in layer.paths if p.role == ToolRole.OUTER_WALL]
        assert len(outer) == 1 and outer[0].closed
        # rear seam: the loop starts at its largest y
        assert outer[0].points_xy[0, 1] == pytest.approx(outer[0].points_xy[:, 1].max())
        for p in layer.paths:
            assert p.points_xy.shape[1] == 2 and len(p.points_xy) >= 2
            assert p.width_mm > 0 and p.mm3_per_mm > 0


def test_solid_shells_bottom_and_top(fdm_profile):
    tp = slice_tablet(cylinder(), fdm_profile, solid("gyroid", 0.3))
    roles = [{p.role for p in layer.paths} for layer in tp.layers]
    for r in roles[:fdm_profile.bottom_layers] + roles[-fdm_profile.top_layers:]:
        assert ToolRole.SOLID in r and ToolRole.INFILL not in r
    for r in roles[fdm_profile.bottom_layers + 1:-fdm_profile.top_layers - 1]:
        assert ToolRole.INFILL in r and ToolRole.SOLID not in r


def test_domed_layers_get_exposed_solid(fdm_profile):
    """Below a dome, the ring not covered by the layers above is solid (PrusaSlicer-style)."""
    tp = slice_tablet(biconvex(10.0, 5.0), fdm_profile, solid("rectilinear", 0.2))
    half = len(tp.layers) // 2
    mixed = [{ToolRole.SOLID, ToolRole.INFILL} <= {p.role for p in layer.paths}
             for layer in tp.layers]
    # where the dome steepens, the exposed ring is solid under a sparse core
    assert sum(mixed[fdm_profile.bottom_layers:half]) >= 3
    assert sum(mixed[half:-fdm_profile.top_layers]) >= 3
    assert not any(mixed[half - 2:half + 2])  # the flat equator is covered: all sparse


@pytest.mark.parametrize("shape", ["cylinder", "biconvex", "torus", "caplet"])
@pytest.mark.parametrize("pattern", ["rectilinear", "gyroid", "honeycomb"])
def test_every_point_inside_outline(fdm_profile, shape, pattern):
    mesh = SHAPES[shape]()
    tp = slice_tablet(mesh, fdm_profile, solid(pattern, 0.35))
    outlines = {o.index: o for o in layer_outlines(mesh, fdm_profile)}
    for layer in tp.layers:
        for p in layer.paths:
            grown = outlines[layer.index].polygon.buffer(0.5 * p.width_mm + 1e-6)
            assert shapely.contains_xy(grown, p.points_xy[:, 0], p.points_xy[:, 1]).all()


def test_deterministic(fdm_profile):
    mesh = biconvex()
    a = slice_tablet(mesh, fdm_profile, solid("gyroid", 0.4)).to_arrays()
    b = slice_tablet(biconvex(), fdm_profile, solid("gyroid", 0.4)).to_arrays()
    for name in ("start", "end", "role", "layer", "width_mm"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# --- volume exactness -------------------------------------------------------------------

@pytest.mark.parametrize("shape", list(SHAPES))
def test_full_density_volume_matches_mesh(fdm_profile, shape):
    mesh = SHAPES[shape]()
    tp = slice_tablet(mesh, fdm_profile, solid())
    assert tp.extruded_volume_mm3 == pytest.approx(mesh.volume, rel=0.005)
    assert predict_deposited_volume_mm3(mesh, fdm_profile, 1.0) == pytest.approx(
        tp.extruded_volume_mm3, rel=1e-9)


@pytest.mark.parametrize("shape", ["cylinder", "caplet", "torus", "mini_2mm"])
def test_full_density_volume_matches_mesh_sse(sse, shape):
    mesh = SHAPES[shape]()
    assert slice_tablet(mesh, sse, solid()).extruded_volume_mm3 == pytest.approx(
        mesh.volume, rel=0.005)


@pytest.mark.parametrize("shape, density, pattern", [
    ("cylinder", 0.1, "rectilinear"), ("cylinder", 0.5, "grid"), ("biconvex", 0.3, "gyroid"),
    ("biconvex", 0.9, "triangles"), ("caplet", 0.2, "honeycomb"), ("torus", 0.4, "concentric"),
    ("torus", 0.15, "rectilinear"), ("mini_2mm", 0.3, "gyroid"),
])
def test_partial_density_matches_prediction_per_layer(fdm_profile, shape, density, pattern):
    mesh = SHAPES[shape]()
    tp = slice_tablet(mesh, fdm_profile, solid(pattern, density))
    plans = {p.outline.index: p for p in plan_layers(mesh, fdm_profile, density)}
    for layer in tp.layers:
        assert layer.volume_mm3 == pytest.approx(plans[layer.index].target_mm3, rel=0.005)
    assert tp.extruded_volume_mm3 == pytest.approx(
        predict_deposited_volume_mm3(mesh, fdm_profile, density), rel=0.005)


@pytest.mark.parametrize("density", [0.1, 0.35, 0.8])
def test_cylinder_volume_closed_form(fdm_profile, density):
    """V = H·A − (1 − d)·A_core·(H − shells), A_core = outline eroded by the wall band."""
    mesh, height = cylinder(10.0, 4.0), 4.0
    outline = layer_outlines(mesh, fdm_profile)[5].polygon
    s = bead_spacing_mm(fdm_profile.line_width_mm, fdm_profile.layer_height_mm)
    core = outline.buffer(-fdm_profile.wall_count * s, join_style="mitre").area
    shells = (fdm_profile.bottom_layers + fdm_profile.top_layers) * 0.2
    expected = height * outline.area - (1 - density) * core * (height - shells)
    tp = slice_tablet(mesh, fdm_profile, solid("rectilinear", density))
    assert tp.extruded_volume_mm3 == pytest.approx(expected, rel=1e-6)


def test_flow_corrections_bounded(fdm_profile):
    for mesh, inf in [(biconvex(), solid("gyroid", 0.25)), (torus(), solid("triangles", 0.3)),
                      (cylinder(3.0, 2.4), solid("honeycomb", 0.2))]:
        tp = slice_tablet(mesh, fdm_profile, inf)
        s = bead_spacing_mm(fdm_profile.line_width_mm, fdm_profile.layer_height_mm)
        for layer in tp.layers:
            for p in layer.paths:
                if p.role in WALLS:
                    assert p.mm3_per_mm == pytest.approx(s * layer.height_mm, rel=1e-9)
                elif p.role in FILLS:
                    ratio = p.mm3_per_mm / (s * layer.height_mm)
                    assert abs(ratio - 1) <= FLOW_CORRECTION_LIMIT + 1e-9


def test_flow_correction_beyond_limit_raises(fdm_profile):
    plan = plan_layers(cylinder(), fdm_profile, 1.0)[5]
    from dosecraft.slicer.ordering import Bead

    wall = Bead(ToolRole.OUTER_WALL, np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), 0.45,
                plan.target_mm3 * 0.5 / (2 + math.sqrt(2)), True, 0, -1)
    fill = Bead(ToolRole.SOLID, np.array([[0.0, 0.0], [1.0, 0.0]]), 0.45,
                plan.target_mm3 * 0.1, False, -1, 0)
    with pytest.raises(SlicingError, match="flow limits"):
        _flow_factors(plan, [wall, fill], {0: plan.target_mm3 * 0.5})
    # within the limit: the fill takes up the difference exactly
    fill_ok = Bead(ToolRole.SOLID, fill.points, 0.45, plan.target_mm3 * 0.45, False, -1, 0)
    factors = _flow_factors(plan, [wall, fill_ok], {0: plan.target_mm3 * 0.5})
    assert factors[-1] == 1.0 and factors[0] == pytest.approx(0.5 / 0.45)


@given(d=st.floats(4.0, 12.0), h=st.floats(2.0, 5.0), density=st.floats(0.1, 1.0),
       dome=st.booleans())
@settings(max_examples=6, deadline=None)
def test_random_tablets_slice_exactly(fdm_profile, d, h, density, dome):
    mesh = biconvex(d, h) if dome else cylinder(d, h)
    tp = slice_tablet(mesh, fdm_profile, solid("rectilinear", density))
    assert tp.extruded_volume_mm3 == pytest.approx(
        predict_deposited_volume_mm3(mesh, fdm_profile, density), rel=0.005)


def test_prediction_is_smooth_in_diameter(fdm_profile):
    """The dose solver scales the tablet: the predicted volume must not jump."""
    ds = np.linspace(8.0, 8.2, 9)
    v = np.array([predict_deposited_volume_mm3(biconvex(d, 4.0), fdm_profile, 0.3) for d in ds])
    step = np.diff(np.log(v))
    assert np.all(step > 0)
    assert np.abs(np.diff(step)).max() < 0.05 * step.mean()


def test_bad_inputs(fdm_profile):
    with pytest.raises(SlicingError, match="density"):
        predict_deposited_volume_mm3(cylinder(), fdm_profile, 1.5)
    with pytest.raises(SlicingError, match="empty"):
        slice_tablet(trimesh.Trimesh(), fdm_profile, solid())


@pytest.mark.parametrize("technology, mesh_args, density, pattern", [
    ("fdm", ("caplet", 10.549, 5.423, 4.173), 0.579, "honeycomb"),
    ("sse", ("biconvex", 10.557, 4.932), 1.0, "gyroid"),
    ("sse", ("biconvex", 5.276, 3.160), 1.0, "rectilinear"),
    ("sse", ("caplet", 11.767, 6.354, 4.890), 0.679, "rectilinear"),
    ("sse", ("biconvex", 8.166, 2.587), 0.735, "triangles"),
])
def test_small_shell_regions_stay_exact(fdm_profile, sse, technology, mesh_args, density,
                                        pattern):
    """Regressions: narrow first layers where zig-zag links or few rows used to miss the
    target by more than the flow limit."""
    kind, *dims = mesh_args
    mesh = {"caplet": caplet, "biconvex": biconvex}[kind](*dims)
    profile = fdm_profile if technology == "fdm" else sse
    tp = slice_tablet(mesh, profile, solid(pattern, density))
    assert tp.extruded_volume_mm3 == pytest.approx(
        predict_deposited_volume_mm3(mesh, profile, density), rel=1e-9)
