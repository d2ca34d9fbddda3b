"""Slicer geometry: sections, cut heights, walls, gap fill, shells, coverage and ordering."""

import math

import numpy as np
import pytest
import shapely
import trimesh

from dosecraft.dose.shapes import FAMILIES
from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import InfillPattern, ShapeKind, ToolRole
from dosecraft.slicer import layer_outlines, slice_tablet
from dosecraft.slicer.medial import gap_beads
from dosecraft.slicer.ordering import Bead, order_layer
from dosecraft.slicer.section import section_areas, section_polygons
from dosecraft.slicer.shells import fill_classes
from dosecraft.slicer.slicing import cut_heights, layers_for_height
from dosecraft.slicer.walls import bead_spacing_mm, wall_geometry

S = bead_spacing_mm(0.45, 0.2)


def on_bed(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    mesh.apply_translation([0.0, 0.0, -mesh.bounds[0, 2]])
    return mesh


def disc(r: float) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([shapely.Point(0, 0).buffer(r, quad_segs=24)])


def ring(r_out: float, r_in: float) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([shapely.Point(0, 0).buffer(r_out, quad_segs=24).difference(
        shapely.Point(0, 0).buffer(r_in, quad_segs=24))])


# --- sections ---------------------------------------------------------------------------

def test_sections_match_trimesh_and_keep_holes():
    sphere = on_bed(trimesh.creation.icosphere(subdivisions=3, radius=4.0))
    z = np.linspace(0.3, 7.7, 9)
    ours = section_polygons(sphere, z)
    for zz, poly in zip(z, ours, strict=True):
        ref = sphere.section(plane_origin=[0, 0, zz], plane_normal=[0, 0, 1])
        ref_area = sum(p.area for p in ref.to_2D()[0].polygons_full)
        assert poly.area == pytest.approx(ref_area, rel=1e-9)
    np.testing.assert_allclose(section_areas(sphere, z), [p.area for p in ours], rtol=1e-9)
    annulus = on_bed(trimesh.creation.annulus(r_min=2.0, r_max=5.0, height=2.0, sections=64))
    (poly,) = section_polygons(annulus, np.array([1.0]))
    assert len(poly.geoms) == 1 and len(poly.geoms[0].interiors) == 1
    assert poly.area == pytest.approx(annulus.volume / 2.0, rel=1e-9)


def test_inverted_mesh_still_slices():
    mesh = on_bed(trimesh.creation.cylinder(radius=3.0, height=2.0, sections=48))
    mesh.invert()
    (poly,) = section_polygons(mesh, np.array([1.0]))
    assert poly.area == pytest.approx(abs(mesh.volume) / 2.0, rel=1e-9)


def test_cut_heights_make_layers_volume_true():
    """Σ h · A(cut) equals the mesh volume even where the midpoint rule is 1 % off."""
    cap = trimesh.creation.capsule(height=6.0, radius=2.0, count=[32, 32])
    cap.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
    cap = on_bed(cap)
    bottoms, tops = layers_for_height(cap.bounds[1, 2], 0.4, 0.4)
    mid = section_areas(cap, 0.5 * (bottoms + tops))
    true = section_areas(cap, cut_heights(cap, bottoms, tops))
    h = tops - bottoms
    assert abs(h @ mid / cap.volume - 1) > 0.005          # the plain midpoint rule
    assert h @ true == pytest.approx(cap.volume, rel=0.001)


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_production_shapes_full_density_volume(fdm_profile, kind):
    fam = FAMILIES[kind]
    size = 2.5 if kind == ShapeKind.MINITABLET else 9.0
    dims = fam.dimensions(size, fam.default_height(size))
    mesh = fam.mesh(dims)
    tp = slice_tablet(mesh, fdm_profile, InfillStrategy(1.0, InfillPattern.RECTILINEAR))
    assert tp.extruded_volume_mm3 == pytest.approx(mesh.volume, rel=0.005)


# --- walls and gaps ---------------------------------------------------------------------

def test_regular_walls_deposit_exactly_their_band():
    (g,) = wall_geometry([disc(5.0)], S, 2, 0.045)
    assert g.loop_depth == (0, 1) and g.gaps.is_empty
    assert g.interior.area == pytest.approx(disc(5.0).buffer(-2 * S).area, rel=1e-9)
    assert S * g.wall_length_mm == pytest.approx(disc(5.0).area - g.interior.area, rel=1e-9)
    radii = [np.hypot(*loop.T).mean() for loop in g.loops]
    assert radii == pytest.approx([5.0 - S / 2, 5.0 - 1.5 * S], abs=0.01)


@pytest.mark.parametrize("outline, loops, gap_area", [
    (disc(1.0), 2, math.pi * (1 - 2 * S) ** 2),   # mini-tablet: the centre is a gap
    (ring(5.0, 4.2), 0, None),                      # narrower than two beads: one gap bead
    (ring(5.0, 3.6), 2, None),                      # a loop on each edge, gap between
])
def test_thin_regions_become_gaps(outline, loops, gap_area):
    (g,) = wall_geometry([outline], S, 2, 0.045)
    assert len(g.loops) == loops
    accounted = S * g.wall_length_mm + g.interior.area + g.gaps.area
    assert accounted == pytest.approx(outline.area, rel=0.01)
    if gap_area is not None:
        assert g.gaps.area == pytest.approx(gap_area, rel=0.02)


def test_gap_beads_follow_the_gap():
    blob = gap_beads(disc(0.2), 0.045, 0.9)
    assert len(blob) == 1 and not blob[0][2]
    pts, width, _ = blob[0]
    assert width == pytest.approx(0.4, rel=0.05)
    assert np.hypot(*np.diff(pts, axis=0).T).sum() * width == pytest.approx(disc(0.2).area)
    (closed,) = gap_beads(ring(5.0, 4.4), 0.045, 0.9)
    pts, width, is_closed = closed
    assert is_closed and width == pytest.approx(0.6, rel=0.05)
    assert np.hypot(*pts.T) == pytest.approx(4.7, abs=0.02)


def footprint_coverage(tp, outlines) -> float:
    """Smallest fraction of a layer's outline covered by its beads' footprints."""
    worst = 1.0
    for layer in tp.layers:
        beads = [shapely.buffer(shapely.linearrings(p.points_xy) if p.closed
                                else shapely.linestrings(p.points_xy), 0.5 * p.width_mm)
                 for p in layer.paths]
        outline = outlines[layer.index].polygon
        covered = shapely.union_all(beads).intersection(outline).area
        worst = min(worst, covered / outline.area)
    return worst


@pytest.mark.parametrize("mesh", [
    on_bed(trimesh.creation.cylinder(radius=1.0, height=2.0, sections=96)),
    on_bed(trimesh.creation.annulus(r_min=4.2, r_max=5.0, height=1.0, sections=96)),
    on_bed(trimesh.creation.annulus(r_min=3.5, r_max=5.0, height=1.0, sections=96)),
], ids=["mini_2mm", "ring_0.8mm", "ring_1.5mm"])
def test_thin_tablets_fully_covered(fdm_profile, mesh):
    tp = slice_tablet(mesh, fdm_profile, InfillStrategy(0.3, InfillPattern.RECTILINEAR))
    outlines = {o.index: o for o in layer_outlines(mesh, fdm_profile)}
    assert footprint_coverage(tp, outlines) >= 0.95
    assert tp.extruded_volume_mm3 == pytest.approx(mesh.volume, rel=0.005)


# --- shells -----------------------------------------------------------------------------

def test_shell_fractions_give_exact_shell_thickness():
    """Stretched layers: 3.81 mm over 20 layers; shells stay 0.6 mm thick each."""
    bottoms, tops = layers_for_height(4.01, 0.2, 0.2)
    outlines = [disc(5.0)] * len(tops)
    interiors = [disc(4.0)] * len(tops)
    classes = fill_classes(outlines, interiors, bottoms, tops, 0.3, 0.6, 0.6, 1e-4)
    solid_mm = sum((t - b) * sum(c.fraction * c.area_mm2 for c in cs) / disc(4.0).area
                   for b, t, cs in zip(bottoms, tops, classes, strict=True))
    assert solid_mm == pytest.approx(1.2, rel=1e-9)
    fractions = [round(c.fraction, 3) for cs in classes for c in cs]
    assert any(0 < f < 1 for f in fractions)  # one transitional layer at each shell


# --- ordering ---------------------------------------------------------------------------

def test_ordering_groups_and_nearest_neighbour():
    square = np.array([[-2.0, -2.0], [2.0, -2.0], [2.0, 2.0], [-2.0, 2.0]])
    lines = [np.array([[x, -1.0], [x, 1.0]]) for x in (1.0, -1.0, 0.0)]
    beads = ([Bead(ToolRole.INFILL, p, 0.45, 0.08, False, -1, 0) for p in lines]
             + [Bead(ToolRole.OUTER_WALL, square, 0.45, 0.08, True, 0, -1),
                Bead(ToolRole.INNER_WALL, 0.8 * square, 0.45, 0.08, True, 1, -1)])
    ordered, end = order_layer(beads, np.array([-1.6, -1.7]))
    roles = [b.role for b, _ in ordered]
    assert roles[:2] == [ToolRole.INNER_WALL, ToolRole.OUTER_WALL]
    inner_pts = ordered[0][1]
    assert tuple(inner_pts[0]) == (-1.6, -1.6)        # entered at the nearest vertex
    outer_pts = ordered[1][1]
    assert outer_pts[0, 1] == 2.0 and outer_pts[0, 0] == 2.0  # rear seam (max y, then x)
    xs = [pts[0, 0] for _, pts in ordered[2:]]
    assert xs == [1.0, 0.0, -1.0]                      # nearest first, then its neighbour
    ys = [pts[0, 1] for _, pts in ordered[2:]]
    assert ys[0] != ys[1] and ys[1] != ys[2]          # raster direction alternates
    np.testing.assert_array_equal(end, ordered[-1][1][-1])
