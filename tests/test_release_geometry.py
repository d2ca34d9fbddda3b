"""Voxelisation, wetted pores and the physical behaviour of the geometry-aware estimators."""

import numpy as np
import pytest
import shapely
import trimesh

from dosecraft.errors import ReleaseModelError
from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import InfillPattern, ToolRole
from dosecraft.model.formulation import ReleaseParameters
from dosecraft.model.toolpath import ExtrusionPath, Toolpath, ToolpathLayer
from dosecraft.release.body import body_from_mask, build_body
from dosecraft.release.compare import similarity
from dosecraft.release.estimate import estimate_release
from dosecraft.release.voxel import voxelize_mesh, voxelize_toolpath

DIFFUSION = ReleaseParameters(model="diffusion", diffusion_coeff_mm2_min=0.01, source="test")
EROSION = ReleaseParameters(model="erosion", erosion_rate_mm_min=0.02, source="test")
SAV = ReleaseParameters(model="sav_mdt", mdt_sav_intercept_min=5.0, mdt_sav_slope_min_mm=40.0,
                        source="test")


def cylinder(radius: float, height: float) -> trimesh.Trimesh:
    mesh = trimesh.creation.cylinder(radius=radius, height=height, sections=96)
    mesh.apply_translation([0, 0, height / 2])  # on z = 0 like dose.shapes meshes
    return mesh


def rectilinear_toolpath(radius: float, height: float, infill: float, *, width: float = 0.4,
                         layer: float = 0.2, walls: int = 2, skins: int = 3) -> Toolpath:
    """A cylinder printed with perimeters, solid skins and ±45° rectilinear infill."""
    outline = shapely.Point(0, 0).buffer(radius, quad_segs=24)
    area = (width - layer) * layer + np.pi * layer**2 / 4
    count = int(round(height / layer))
    layers = []
    for i in range(count):
        paths = []
        for k in range(walls):
            ring = np.asarray(outline.buffer(-(k + 0.5) * width).exterior.coords)[:-1]
            role = ToolRole.OUTER_WALL if k == 0 else ToolRole.INNER_WALL
            paths.append(ExtrusionPath(role, ring, width, area, closed=True))
        solid = i < skins or i >= count - skins
        spacing = width / (1.0 if solid else infill)
        angle = np.pi / 4 if i % 2 == 0 else -np.pi / 4
        along = np.array([np.cos(angle), np.sin(angle)])
        across = np.array([-along[1], along[0]])
        offsets = np.arange(-radius, radius + spacing, spacing)[:, None] * across
        lines = shapely.linestrings(np.stack([offsets - 2 * radius * along,
                                              offsets + 2 * radius * along], axis=1))
        region = outline.buffer(-(walls - 0.5) * width) if walls else outline.buffer(-width / 2)
        for part in shapely.get_parts(shapely.intersection(lines, region)):
            if part.length > 1e-6:
                paths.append(ExtrusionPath(ToolRole.SOLID if solid else ToolRole.INFILL,
                                           np.asarray(part.coords), width, area))
        layers.append(ToolpathLayer(i, (i + 1) * layer, layer, tuple(paths)))
    return Toolpath(tuple(layers))


# --- voxelisation ----------------------------------------------------------------------------

@pytest.mark.parametrize("mesh", [
    cylinder(5.0, 4.0),
    trimesh.creation.icosphere(subdivisions=4, radius=3.0),
    trimesh.creation.annulus(r_min=2.0, r_max=5.0, height=3.0, sections=96),
    trimesh.creation.capsule(height=8.0, radius=2.5, count=[48, 48]),
], ids=["cylinder", "sphere", "ring", "caplet"])
def test_mesh_voxel_volume_matches_the_mesh(mesh):
    grid = voxelize_mesh(mesh, 0.1)
    assert grid.volume_mm3 == pytest.approx(mesh.volume, rel=0.01)
    # Voxel centres sit on the global lattice (n + ½)·h.
    frac = grid.origin_mm / 0.1 - 0.5
    assert np.allclose(frac, np.round(frac))


def test_non_watertight_mesh_is_refused():
    mesh = cylinder(5.0, 4.0)
    mesh.update_faces(np.arange(len(mesh.faces)) > 0)
    with pytest.raises(ReleaseModelError, match="not watertight"):
        voxelize_mesh(mesh, 0.2)


def test_toolpath_voxels_hold_the_bead_volume():
    toolpath = rectilinear_toolpath(5.0, 2.0, 0.3, walls=2, skins=2)
    grid = voxelize_toolpath(toolpath, 0.05)
    # Rectangular beads (width × layer) overlap only where paths cross or meet walls.
    box = sum(p.length_mm * p.width_mm * layer.height_mm
              for layer in toolpath.layers for p in layer.paths)
    assert grid.volume_mm3 == pytest.approx(box, rel=0.06)


def test_full_infill_toolpath_fills_the_envelope():
    mesh = cylinder(5.0, 2.0)
    body = build_body(mesh, 0.1, toolpath=rectilinear_toolpath(5.0, 2.0, 1.0))
    assert body.porosity < 0.02


def test_open_and_closed_pores():
    solid = np.zeros((12, 12, 12), bool)
    solid[1:11, 1:11, 1:11] = True
    solid[4:8, 4:8, 4:8] = False  # sealed cavity
    sealed = body_from_mask(solid, 0.1)
    assert sealed.closed_pores.sum() == 64 and sealed.open_porosity == 0
    solid[4:8, 4:8, 8:11] = False  # drill it open to the top
    envelope = np.zeros_like(solid)
    envelope[1:11, 1:11, 1:11] = True  # without a mesh, say where the tablet is
    opened = body_from_mask(solid, 0.1, envelope=envelope)
    assert opened.closed_pores.sum() == 0 and opened.open_porosity > 0


def test_pore_width_of_a_slit():
    solid = np.zeros((40, 40, 30), bool)
    solid[2:-2, 2:-2, 2:-2] = True
    solid[2:-2, 2:-2, 13:17] = False  # a 4-voxel slit through the body, open at the sides
    body = body_from_mask(solid, 0.1, envelope=np.pad(np.ones((36, 36, 26), bool), 2))
    assert body.open_pore_width_mm == pytest.approx(0.4, rel=0.1)


def test_wetted_area_of_a_sphere():
    body = build_body(trimesh.creation.icosphere(subdivisions=4, radius=3.0), 0.1)
    assert body.wetted_area_mm2 == pytest.approx(4 * np.pi * 9.0, rel=0.02)


# --- estimate_release --------------------------------------------------------------------------

@pytest.mark.parametrize("params", [DIFFUSION, EROSION, SAV], ids=["diffusion", "erosion", "sav"])
def test_estimate_is_a_well_formed_curve(params):
    est = estimate_release(cylinder(5.0, 4.0), params, resolution_mm=0.2)
    assert est.time_min[0] == 0 and est.fraction[0] == 0
    assert np.all(np.diff(est.fraction) >= 0) and est.fraction[-1] >= 0.98
    assert 0 < est.t50_min < est.t80_min <= est.time_min[-1]
    assert est.model == params.model.value
    assert est.parameters["sa_v_per_mm"] == pytest.approx(0.9, rel=1e-3)
    assert not any("uncalibrated" in w for w in est.warnings)


def test_lag_and_grid_end_are_applied():
    base = estimate_release(cylinder(5.0, 4.0), EROSION, resolution_mm=0.2)
    lagged = estimate_release(cylinder(5.0, 4.0), EROSION.model_copy(update={"lag_min": 10.0}),
                              resolution_mm=0.2, t_max_min=45.0)
    assert lagged.time_min[-1] == 45.0
    assert lagged.t50_min == pytest.approx(base.t50_min + 10.0)
    assert lagged.t80_min is None and any("before 80 %" in w for w in lagged.warnings)
    assert lagged.mdt_min == pytest.approx(base.mdt_min + 10.0)


def test_example_parameters_are_flagged():
    example = ReleaseParameters(model="erosion", erosion_rate_mm_min=0.02)
    est = estimate_release(cylinder(5.0, 4.0), example, resolution_mm=0.2)
    assert any("uncalibrated" in w for w in est.warnings)


def test_sav_model_mdt_follows_the_correlation():
    mesh = cylinder(5.0, 4.0)
    est = estimate_release(mesh, SAV.model_copy(update={"lag_min": 3.0}))
    assert est.mdt_min == pytest.approx(5.0 + 40.0 / (mesh.area / mesh.volume) + 3.0)


# --- physical behaviour ------------------------------------------------------------------------

def _percent_on(times: np.ndarray, mesh: trimesh.Trimesh, params, **kw) -> np.ndarray:
    est = estimate_release(mesh, params, resolution_mm=0.2, **kw)
    return 100 * np.interp(times, est.time_min, est.fraction)


@pytest.mark.parametrize("params", [DIFFUSION, EROSION], ids=["diffusion", "erosion"])
def test_equal_sa_v_releases_alike(params):
    # SA/V = 2/H + 2/R = 0.9 mm⁻¹ for both, with different SA, V and aspect.
    a, b = cylinder(5.0, 4.0), cylinder(4.0, 5.0)
    assert a.area / a.volume == pytest.approx(b.area / b.volume, rel=0.01)
    assert a.area != pytest.approx(b.area, rel=0.05)
    t80 = estimate_release(a, params, resolution_mm=0.2).t80_min
    times = np.linspace(0, 1.3 * t80, 9)
    result = similarity(times, _percent_on(times, a, params), _percent_on(times, b, params))
    assert result.similar and result.f2 >= 50


@pytest.mark.parametrize("params", [DIFFUSION, EROSION, SAV], ids=["diffusion", "erosion", "sav"])
def test_higher_sa_v_at_equal_volume_releases_faster(params):
    thick, flat = cylinder(5.0, 4.0), cylinder(5.0 * np.sqrt(2.0), 2.0)
    assert thick.volume == pytest.approx(flat.volume, rel=0.01)
    slow = estimate_release(thick, params, resolution_mm=0.2)
    fast = estimate_release(flat, params, resolution_mm=0.2)
    assert fast.t50_min < 0.85 * slow.t50_min and fast.t80_min < slow.t80_min
    assert fast.mdt_min < slow.mdt_min


@pytest.mark.parametrize("params", [EROSION, DIFFUSION], ids=["erosion", "diffusion"])
def test_lower_infill_releases_faster(params):
    mesh = cylinder(5.0, 4.0)
    t80 = [estimate_release(mesh, params, toolpath=rectilinear_toolpath(5.0, 4.0, infill),
                            resolution_mm=0.1).t80_min for infill in (1.0, 0.5, 0.25)]
    assert t80[0] > t80[1] > t80[2]


def test_open_lattice_wets_and_small_pores_are_flagged():
    mesh = cylinder(5.0, 2.0)
    # No walls or skins: every gap opens to the medium.
    wide = build_body(mesh, 0.1, toolpath=rectilinear_toolpath(5.0, 2.0, 0.4, walls=0, skins=0))
    assert wide.closed_porosity < 0.01 and wide.open_porosity > 0.3
    tight = rectilinear_toolpath(5.0, 2.0, 0.75, walls=0, skins=0)
    est = estimate_release(mesh, EROSION, toolpath=tight, resolution_mm=0.1)
    assert any("may not wet" in w for w in est.warnings)
    solid = estimate_release(mesh, EROSION, resolution_mm=0.1)
    assert est.t50_min < solid.t50_min


def test_sealed_infill_is_reported():
    est = estimate_release(cylinder(5.0, 4.0), EROSION,
                           toolpath=rectilinear_toolpath(5.0, 4.0, 0.3), resolution_mm=0.1)
    assert any("sealed voids" in w and "flood" in w for w in est.warnings)


def test_lower_infill_releases_faster_with_the_real_slicer(fdm_profile):
    from dosecraft.slicer import slice_tablet

    mesh = cylinder(5.0, 4.0)
    t80 = []
    for density in (1.0, 0.3):
        strategy = InfillStrategy(density, InfillPattern.RECTILINEAR)
        toolpath = slice_tablet(mesh, fdm_profile, strategy)
        t80.append(estimate_release(mesh, EROSION, toolpath=toolpath, resolution_mm=0.1).t80_min)
    assert t80[1] < 0.8 * t80[0]


def test_voxels_coarser_than_the_layers_are_refused():
    with pytest.raises(ReleaseModelError, match="resolution_mm ≤ 0.2"):
        voxelize_toolpath(rectilinear_toolpath(3.0, 1.0, 0.5), 0.45)
