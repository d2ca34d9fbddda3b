"""Calibrate a formulation's release parameters on measured dissolution of a known geometry.

Diffusion and erosion curves are time-scaled: F(t) = G(θ·(t − lag)) with θ = D/h² or the
erosion rate, and G fixed by the geometry. So the geometry is prepared once and least
squares runs over (log θ, lag) on the cheap G. The SA/V–MDT correlation has two parameters
per formulation and one MDT per geometry, so it needs two or more geometries
(`calibrate_sav_mdt`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import gamma

import numpy as np
import trimesh
from scipy import optimize, stats

from dosecraft.errors import ReleaseModelError
from dosecraft.model.enums import ReleaseModelKind
from dosecraft.model.formulation import ReleaseParameters
from dosecraft.model.toolpath import Toolpath
from dosecraft.release.curves import ReleaseCurve, time_to_fraction
from dosecraft.release.estimate import GeometryModel, prepare_geometry
from dosecraft.release.fitting import fit_model, mean_profile
from dosecraft.release.sav import fit_sav_mdt, mesh_sa_v


@dataclass(frozen=True, eq=False)
class Calibration:
    """A calibrated parameter set with its fit.

    Attributes
    ----------
    parameters : the calibrated `ReleaseParameters` (source recorded).
    ci95 : 95 % interval per fitted parameter name.
    rmse_pct : root-mean-square residual in % released; n_points : observations used.
    curve : the fitted curve on the calibration geometry.
    """

    parameters: ReleaseParameters
    ci95: dict[str, tuple[float, float]]
    rmse_pct: float
    n_points: int
    curve: ReleaseCurve


def _params(kind: ReleaseModelKind, scale: float, lag: float, source: str) -> ReleaseParameters:
    field = ("diffusion_coeff_mm2_min" if kind == ReleaseModelKind.DIFFUSION
             else "erosion_rate_mm_min")
    return ReleaseParameters(model=kind, lag_min=lag, source=source, **{field: scale})


def calibrate_detailed(measured_time_min: np.ndarray, measured_pct: np.ndarray,
                       mesh: trimesh.Trimesh, model_kind: ReleaseModelKind | str,
                       toolpath: Toolpath | None = None, *, source: str = "calibrated",
                       resolution_mm: float = 0.1, fit_lag: bool = True,
                       geometry: GeometryModel | None = None) -> Calibration:
    """Fit D (diffusion) or the erosion rate, and optionally a lag, to measured release.

    Parameters
    ----------
    measured_time_min, measured_pct : (N,) observations; repeated times are replicates.
    mesh, toolpath : the geometry the data were measured on.
    model_kind : diffusion or erosion (SA/V needs `calibrate_sav_mdt`).
    source : where the data come from (batch, lab, report); stored in the parameters.
    resolution_mm : voxel size; use the one the predictions will use.
    fit_lag : fit a lag time ≥ 0 (else lag = 0).
    geometry : a prepared geometry to reuse (then mesh/toolpath/resolution are ignored).
    """
    kind = ReleaseModelKind(model_kind)
    if kind == ReleaseModelKind.SAV_MDT:
        raise ReleaseModelError("the SA/V–MDT correlation needs several geometries: use "
                                "calibrate_sav_mdt(profiles, meshes)")
    t = np.asarray(measured_time_min, dtype=float).reshape(-1)
    y = np.asarray(measured_pct, dtype=float).reshape(-1) / 100.0
    if t.shape != y.shape or t.size < 3:
        raise ReleaseModelError(f"calibration needs ≥ 3 matching points, got {t.size} times "
                                f"and {y.size} values")
    geo = geometry or prepare_geometry(mesh, kind, toolpath=toolpath,
                                       resolution_mm=resolution_mm)

    def curve(scale: float, lag: float) -> ReleaseCurve:
        return geo.curve(_params(kind, scale, lag, source))

    # Start where the unit-rate curve reaches the data's highest well-measured level.
    prof = mean_profile(t, 100 * y)
    level = float(np.clip(0.8 * prof.mean_pct.max() / 100.0, 0.05, 0.5))
    t_data = np.interp(level * 100, np.maximum.accumulate(prof.mean_pct), prof.time_min)
    t_unit = time_to_fraction(curve(1.0, 0.0), level)
    if t_unit is None or t_data <= 0:
        raise ReleaseModelError("the measured curve does not rise; cannot calibrate")
    x0 = np.array([np.log(t_unit / t_data), 0.0])
    n_free = 2 if fit_lag else 1

    def residuals(x: np.ndarray) -> np.ndarray:
        lag = float(x[1]) if fit_lag else 0.0
        return curve(float(np.exp(x[0])), lag).fraction(t) - y

    # log θ spans any physically sensible rate; the lag cannot exceed the experiment.
    lower, upper = np.array([-50.0, 0.0]), np.array([50.0, float(t.max())])
    res = optimize.least_squares(residuals, x0[:n_free], bounds=(lower[:n_free], upper[:n_free]),
                                 jac="3-point", x_scale=np.array([1.0, max(t_data, 1.0)])[:n_free])
    scale = float(np.exp(res.x[0]))
    lag = float(res.x[1]) if fit_lag else 0.0
    dof = max(t.size - n_free, 1)
    s2 = float(np.sum(res.fun**2)) / dof
    cov = s2 * np.linalg.pinv(res.jac.T @ res.jac)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    q = stats.t.ppf(0.975, dof)
    name = ("diffusion_coeff_mm2_min" if kind == ReleaseModelKind.DIFFUSION
            else "erosion_rate_mm_min")
    ci = {name: (float(np.exp(res.x[0] - q * se[0])), float(np.exp(res.x[0] + q * se[0])))}
    if fit_lag:
        ci["lag_min"] = (float(max(lag - q * se[1], 0.0)), float(lag + q * se[1]))
    params = _params(kind, scale, lag, source)
    return Calibration(params, ci, float(100 * np.sqrt(np.mean(res.fun**2))), int(t.size),
                       geo.curve(params))


def calibrate(measured_time_min: np.ndarray, measured_pct: np.ndarray, mesh: trimesh.Trimesh,
              model_kind: ReleaseModelKind | str, toolpath: Toolpath | None = None, *,
              source: str = "calibrated", resolution_mm: float = 0.1,
              fit_lag: bool = True) -> ReleaseParameters:
    """Calibrated `ReleaseParameters` for a diffusion or erosion formulation.

    See `calibrate_detailed` for the parameters; this returns only the parameter set.
    """
    return calibrate_detailed(measured_time_min, measured_pct, mesh, model_kind, toolpath,
                              source=source, resolution_mm=resolution_mm,
                              fit_lag=fit_lag).parameters


def profile_mdt(time_min: np.ndarray, pct: np.ndarray) -> float:
    """Model MDT of a measured profile: a fitted Weibull's mean, robust to a profile that
    stops before its plateau (where Σ ΔM·t_mid/Σ ΔM would be biased low)."""
    fit = fit_model(time_min, pct, "weibull")
    td, beta = fit.params["Td"], fit.params["beta"]
    return float(td * gamma(1.0 + 1.0 / beta))


def calibrate_sav_mdt(profiles: Sequence[tuple[np.ndarray, np.ndarray]],
                      meshes: Sequence[trimesh.Trimesh], *,
                      sa_v_per_mm: Sequence[float] | None = None,
                      source: str = "calibrated", lag_min: float = 0.0) -> ReleaseParameters:
    """Fit MDT = intercept + slope/(SA/V) over several geometries of one formulation.

    Parameters
    ----------
    profiles : per geometry, (time_min (N,), pct (N,)) measured release.
    meshes : per geometry, its envelope (SA/V from the mesh unless `sa_v_per_mm` is given,
        e.g. from `prepare_geometry(..., toolpath=...)` for porous prints).
    source : recorded in the parameters; lag_min : lag to store with them.
    """
    if len(profiles) != len(meshes):
        raise ReleaseModelError(f"{len(profiles)} profiles but {len(meshes)} meshes")
    sav = list(sa_v_per_mm) if sa_v_per_mm is not None else [mesh_sa_v(m) for m in meshes]
    mdts = [profile_mdt(t, p) - lag_min for t, p in profiles]
    intercept, slope = fit_sav_mdt(sav, mdts)
    return ReleaseParameters(model=ReleaseModelKind.SAV_MDT, mdt_sav_intercept_min=intercept,
                             mdt_sav_slope_min_mm=slope, lag_min=lag_min, source=source)
