"""Calibration recovers known parameters; inverse design finds the right candidate."""

import csv
from pathlib import Path

import numpy as np
import pytest
import trimesh

from dosecraft.errors import InfeasibleDose, ReleaseModelError
from dosecraft.model.enums import ReleaseModelKind
from dosecraft.model.formulation import ReleaseParameters
from dosecraft.release.calibrate import calibrate, calibrate_detailed, calibrate_sav_mdt
from dosecraft.release.estimate import estimate_release, prepare_geometry
from dosecraft.release.fitting import fit_models
from dosecraft.release.inverse import ReleaseTarget, choose_design
from dosecraft.release.sav import sav_curve

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "dissolution"
TIMES = np.repeat(np.array([5.0, 10, 15, 30, 45, 60, 90, 120, 180, 240]), 3)


def cylinder(radius: float, height: float) -> trimesh.Trimesh:
    mesh = trimesh.creation.cylinder(radius=radius, height=height, sections=64)
    mesh.apply_translation([0, 0, height / 2])
    return mesh


@pytest.mark.parametrize(("kind", "true"), [
    ("diffusion", {"diffusion_coeff_mm2_min": 0.012, "lag_min": 4.0}),
    ("erosion", {"erosion_rate_mm_min": 0.03, "lag_min": 4.0}),
])
def test_calibration_recovers_known_parameters(kind, true):
    mesh = cylinder(5.0, 4.0)
    truth = ReleaseParameters(model=kind, source="truth", **true)
    geometry = prepare_geometry(mesh, kind, resolution_mm=0.2)
    rng = np.random.default_rng(21)
    measured = 100 * geometry.curve(truth).fraction(TIMES) + rng.normal(0, 1.5, TIMES.size)
    result = calibrate_detailed(TIMES, measured, mesh, kind, geometry=geometry,
                                source="synthetic batch 7")
    for name, value in true.items():
        got = getattr(result.parameters, name)
        lo, hi = result.ci95[name]
        assert got == pytest.approx(value, rel=0.05, abs=0.8)
        assert lo <= value <= hi
    assert result.parameters.source == "synthetic batch 7"
    assert result.rmse_pct == pytest.approx(1.5, rel=0.35)


def test_calibrate_returns_parameters_usable_by_the_estimator():
    mesh = cylinder(5.0, 3.0)
    truth = ReleaseParameters(model="erosion", erosion_rate_mm_min=0.025, source="truth")
    est = estimate_release(mesh, truth, resolution_mm=0.2)
    t = np.array([10.0, 20, 30, 45, 60, 90])
    pct = 100 * np.interp(t, est.time_min, est.fraction)
    params = calibrate(t, pct, mesh, ReleaseModelKind.EROSION, resolution_mm=0.2,
                       fit_lag=False, source="lab report 12")
    assert params.erosion_rate_mm_min == pytest.approx(0.025, rel=0.01)
    assert params.lag_min == 0.0 and params.source == "lab report 12"


def test_sav_model_needs_several_geometries():
    with pytest.raises(ReleaseModelError, match="calibrate_sav_mdt"):
        calibrate(TIMES, TIMES, cylinder(5, 4), "sav_mdt")


def test_sav_calibration_recovers_intercept_and_slope():
    meshes = [cylinder(5.0, 4.0), cylinder(5.0, 2.0), cylinder(3.0, 3.0)]
    rng = np.random.default_rng(2)
    profiles = []
    for mesh in meshes:
        curve = sav_curve(mesh.area / mesh.volume, 6.0, 35.0)
        profiles.append((TIMES, 100 * curve.fraction(TIMES) + rng.normal(0, 1.0, TIMES.size)))
    params = calibrate_sav_mdt(profiles, meshes, source="three-shape study")
    assert params.mdt_sav_intercept_min == pytest.approx(6.0, abs=2.0)
    assert params.mdt_sav_slope_min_mm == pytest.approx(35.0, rel=0.08)


def _design_for(radius_for_shape: dict[str, float], volume: float = 157.0):
    """Equal-volume cylinders of different radius: the 'dose solver' fixes the height."""
    def design(shape: str, infill: float):
        radius = radius_for_shape[shape]
        if radius > 7:
            raise InfeasibleDose(f"{shape} is too wide for the build plate")
        return cylinder(radius, volume / (np.pi * radius**2)), None
    return design


def test_inverse_design_finds_the_shape_for_a_target_t80():
    shapes = {"r3": 3.0, "r4": 4.0, "r5": 5.0, "r6": 6.0, "r9": 9.0}
    design = _design_for(shapes)
    params = ReleaseParameters(model="erosion", erosion_rate_mm_min=0.02, source="test")
    mesh_r5, _ = design("r5", 1.0)
    target_t80 = estimate_release(mesh_r5, params, resolution_mm=0.1).t80_min
    result = choose_design(design, [(s, 1.0) for s in shapes], params,
                           ReleaseTarget(t80_min=target_t80), coarse_resolution_mm=0.25)
    assert result.best.shape == "r5" and result.best.resolution_mm == 0.1
    assert result.best.t80_min == pytest.approx(target_t80, rel=0.01)
    assert [f[0] for f in result.failed] == ["r9"]
    assert len(result.ranked) == 4


def test_inverse_design_by_f2_against_a_target_profile():
    shapes = {"r3": 3.0, "r4": 4.0, "r5": 5.0, "r6": 6.0}
    design = _design_for(shapes)
    params = ReleaseParameters(model="diffusion", diffusion_coeff_mm2_min=0.01, source="test")
    est = estimate_release(design("r4", 1.0)[0], params, resolution_mm=0.15)
    t = np.array([10.0, 20, 30, 45, 60, 90, 120])
    target = ReleaseTarget(time_min=tuple(t),
                           pct=tuple(100 * np.interp(t, est.time_min, est.fraction)))
    result = choose_design(design, [(s, 1.0) for s in shapes], params, target,
                           coarse_resolution_mm=0.3, fine_resolution_mm=0.15)
    assert result.best.shape == "r4" and result.best.f2 > 80
    assert result.ranked[-1].f2 < result.best.f2


def test_release_target_needs_something_to_aim_at():
    with pytest.raises(ReleaseModelError):
        ReleaseTarget()


@pytest.mark.parametrize("name", ["paracetamol_pva_weibull.csv",
                                  "theophylline_hpmc_peppas_sahlin.csv",
                                  "propranolol_pva_first_order.csv"])
def test_sample_dissolution_data_fit_their_generating_model(name):
    with (SAMPLES / name).open() as fh:
        rows = list(csv.DictReader(fh))
    t = np.array([float(r["time_min"]) for r in rows])
    pct = np.array([float(r["percent_released"]) for r in rows])
    generator = name.removesuffix(".csv").split("_", 2)[2]
    report = fit_models(t, pct)
    assert generator in [r.name for r in report.results[:2]]


def test_calibration_on_the_sample_cylinder_recovers_its_generator():
    with (SAMPLES / "cylinder_10x4_erosion.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    t = np.array([float(r["time_min"]) for r in rows])
    pct = np.array([float(r["percent_released"]) for r in rows])
    mesh = trimesh.creation.cylinder(radius=5.0, height=4.0, sections=128)
    mesh.apply_translation([0, 0, 2.0])
    params = calibrate(t, pct, mesh, "erosion", source="sample")
    assert params.erosion_rate_mm_min == pytest.approx(0.02, rel=0.05)
    assert params.lag_min == pytest.approx(3.0, abs=1.0)
