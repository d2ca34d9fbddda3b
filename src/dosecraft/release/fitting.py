"""Fit empirical release models to measured dissolution data and rank them by AIC.

Replicates are fitted point by point (every vessel counts as an observation, so the
residual variance includes between-vessel scatter) and the mean curve is reported beside
the fits. Statistics follow DDSolver: R², adjusted R², AIC; the AIC used here is
n·ln(SSR/n) + 2p, which ranks models exactly as DDSolver's n·ln(SSR) + 2p does on the same
points. A model fitted on a window (Korsmeyer–Peppas on ≤ 60 %) has fewer points, so its AIC
is not comparable with whole-profile fits: such fits are ranked after the comparable ones.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from dosecraft.errors import ReleaseModelError
from dosecraft.release.models import MODELS, KineticModel, get_model

#: Starting points tried per fit: the data-driven guess scaled by these factors.
_START_SCALES = (1.0, 0.3, 3.0)


@dataclass(frozen=True, eq=False)
class MeanProfile:
    """Replicates averaged per time point.

    Attributes
    ----------
    time_min : (P,) unique sampling times, increasing.
    mean_pct, sd_pct : (P,) mean and sample SD of % released (SD NaN with one replicate).
    n : (P,) replicates per time point.
    """

    time_min: np.ndarray
    mean_pct: np.ndarray
    sd_pct: np.ndarray
    n: np.ndarray


def _validate(time_min: np.ndarray, pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time_min, dtype=float).reshape(-1)
    f = np.asarray(pct, dtype=float).reshape(-1)
    if t.shape != f.shape:
        raise ReleaseModelError(f"time and % released differ in length: {t.size} vs {f.size}")
    if t.size == 0 or not (np.all(np.isfinite(t)) and np.all(np.isfinite(f))):
        raise ReleaseModelError("dissolution data must be non-empty and finite")
    if np.any(t < 0):
        raise ReleaseModelError(f"times must be ≥ 0 min, got {t.min():g}")
    return t, f


def mean_profile(time_min: np.ndarray, pct: np.ndarray) -> MeanProfile:
    """Average (N,) replicate observations per time point into a `MeanProfile`."""
    t, f = _validate(time_min, pct)
    times, inverse, counts = np.unique(t, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=f)
    mean = sums / counts
    sq = np.bincount(inverse, weights=(f - mean[inverse]) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(counts > 1, np.sqrt(sq / (counts - 1)), np.nan)
    return MeanProfile(times, mean, sd, counts)


@dataclass(frozen=True, eq=False)
class FitResult:
    """One model fitted to dissolution data.

    Attributes
    ----------
    model : the fitted `KineticModel`.
    params, stderr : estimate and standard error per parameter name.
    ci95 : (low, high) 95 % confidence interval per parameter (t distribution, n − p dof).
    r2, r2_adj, aic, ssr, rmse : goodness of fit on the points used.
    n_points : observations used; comparable : whether they are all the data's points.
    warnings : e.g. a parameter at its bound (its interval is then unreliable).
    """

    model: KineticModel
    params: dict[str, float]
    stderr: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    r2: float
    r2_adj: float
    aic: float
    ssr: float
    rmse: float
    n_points: int
    comparable: bool
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.model.name

    def predict(self, time_min: np.ndarray) -> np.ndarray:
        """(T,) % released predicted at (T,) times."""
        return self.model(time_min, *self.params.values())

    def to_dict(self) -> dict:
        return {
            "model": self.name, "equation": self.model.equation,
            "params": {k: round(v, 6) for k, v in self.params.items()},
            "ci95": {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in self.ci95.items()},
            "r2": round(self.r2, 6), "r2_adj": round(self.r2_adj, 6),
            "aic": round(self.aic, 4), "n_points": self.n_points,
            "comparable": self.comparable, "warnings": list(self.warnings),
        }


def fit_model(time_min: np.ndarray, pct: np.ndarray, model: str | KineticModel) -> FitResult:
    """Least-squares fit of one model.

    Parameters
    ----------
    time_min, pct : (N,) observations; repeated times are replicates.
    model : registry name (see `models.MODELS`) or a `KineticModel`.

    Returns
    -------
    FitResult
        Estimates with standard errors from the Jacobian covariance s²·(JᵀJ)⁻¹.
    """
    spec = get_model(model)
    t_all, f_all = _validate(time_min, pct)
    t, f = t_all, f_all
    if spec.fit_max_pct is not None:
        # Window on the mean curve, so a time point is kept or dropped for all replicates.
        prof = mean_profile(t_all, f_all)
        keep_times = prof.time_min[prof.mean_pct <= spec.fit_max_pct]
        mask = np.isin(t_all, keep_times)
        t, f = t_all[mask], f_all[mask]
    n, p = t.size, spec.n_params
    if n <= p:
        window = f" with mean ≤ {spec.fit_max_pct:g} %" if spec.fit_max_pct else ""
        raise ReleaseModelError(
            f"model '{spec.name}' has {p} parameters but only {n} points{window}; "
            f"it needs at least {p + 1}"
        )
    lower, upper = np.array(spec.lower), np.array(spec.upper)
    best: optimize.OptimizeResult | None = None
    base = np.asarray(spec.guess(t, f), dtype=float)
    last_error: Exception | None = None
    for scale in _START_SCALES:
        x0 = np.clip(base * scale, lower, upper)
        try:
            res = optimize.least_squares(lambda x: spec(t, *x) - f, x0, bounds=(lower, upper),
                                         jac="3-point", x_scale="jac", method="trf")
        except ValueError as exc:  # non-finite residuals at the start point
            last_error = exc
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None:
        raise ReleaseModelError(f"model '{spec.name}' could not be fitted: {last_error}")
    return _statistics(spec, best, t, f, comparable=n == t_all.size)


def _statistics(spec: KineticModel, res: optimize.OptimizeResult, t: np.ndarray,
                f: np.ndarray, *, comparable: bool) -> FitResult:
    n, p = t.size, spec.n_params
    ssr = float(np.sum(res.fun**2))
    sst = float(np.sum((f - f.mean()) ** 2))
    r2 = 1.0 - ssr / sst if sst > 0 else float("nan")
    dof = n - p
    r2_adj = 1.0 - (1.0 - r2) * (n - 1) / dof
    aic = n * np.log(max(ssr, 1e-300) / n) + 2 * p
    s2 = ssr / dof
    cov = s2 * np.linalg.pinv(res.jac.T @ res.jac)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    q = stats.t.ppf(0.975, dof)
    names = spec.param_names
    warnings = []
    at_bound = res.active_mask != 0
    for name in np.asarray(names)[at_bound]:
        warnings.append(f"{name} is at its bound; its confidence interval is not reliable")
    if not res.success:
        warnings.append(f"optimiser did not converge: {res.message}")
    return FitResult(
        model=spec,
        params={k: float(v) for k, v in zip(names, res.x, strict=True)},
        stderr={k: float(v) for k, v in zip(names, se, strict=True)},
        ci95={k: (float(v - q * s), float(v + q * s))
              for k, v, s in zip(names, res.x, se, strict=True)},
        r2=float(r2), r2_adj=float(r2_adj), aic=float(aic), ssr=ssr,
        rmse=float(np.sqrt(ssr / n)), n_points=n, comparable=comparable,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True, eq=False)
class FitReport:
    """All requested models fitted to one data set, best first.

    Attributes
    ----------
    profile : the mean curve of the data.
    results : fits ranked by (not comparable, AIC): whole-profile fits first.
    failed : model name → why it could not be fitted.
    """

    profile: MeanProfile
    results: tuple[FitResult, ...]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def best(self) -> FitResult:
        if not self.results:
            raise ReleaseModelError(f"no model could be fitted: {self.failed}")
        return self.results[0]

    def __getitem__(self, name: str) -> FitResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def delta_aic(self) -> dict[str, float]:
        """AIC minus the best comparable AIC, per comparable model (0 for the best)."""
        comparable = [r for r in self.results if r.comparable]
        if not comparable:
            return {}
        lowest = min(r.aic for r in comparable)
        return {r.name: r.aic - lowest for r in comparable}


def fit_models(time_min: np.ndarray, pct: np.ndarray,
               models: Iterable[str | KineticModel] | None = None) -> FitReport:
    """Fit several models (default: all in `MODELS`) and rank them by AIC.

    Parameters
    ----------
    time_min, pct : (N,) observations; repeated times are replicates.
    models : names or specs to fit.
    """
    t, f = _validate(time_min, pct)
    results, failed = [], {}
    for model in (MODELS.values() if models is None else models):
        spec = get_model(model)
        try:
            results.append(fit_model(t, f, spec))
        except ReleaseModelError as exc:
            failed[spec.name] = str(exc)
    results.sort(key=lambda r: (not r.comparable, r.aic))
    return FitReport(mean_profile(t, f), tuple(results), failed)
