"""Continuous release curves: the common interface of the geometry-aware estimators.

Each estimator returns a `ReleaseCurve` that can be evaluated at any time, so t50/t80 come
from root finding on the model (not from a grid) and the MDT from the model's own integral.
`to_estimate` samples a curve onto the time grid of a `ReleaseEstimate`.
"""

from collections.abc import Mapping
from typing import Protocol

import numpy as np
from scipy.optimize import brentq

from dosecraft.errors import ReleaseModelError
from dosecraft.model.results import ReleaseEstimate

#: Points on the time grid of a ReleaseEstimate (uniform, so plots and f2 can use it).
GRID_POINTS = 241
#: Default end of the grid: the time at which this fraction of the releasable drug is out.
DEFAULT_END_FRACTION = 0.99
#: Root-finding tolerance on times (min).
_T_TOL = 1e-6


class ReleaseCurve(Protocol):
    """A cumulative release curve F(t), 0 ≤ F ≤ plateau ≤ 1, non-decreasing."""

    model: str

    def fraction(self, t_min: np.ndarray) -> np.ndarray:
        """(T,) fraction released at (T,) times in minutes."""
        ...

    @property
    def mdt_min(self) -> float:
        """Mean dissolution time of the released drug, ∫ t dF / plateau (lag included)."""
        ...

    @property
    def plateau(self) -> float:
        """Fraction released as t → ∞ (< 1 when some drug can never reach the medium)."""
        ...


def time_to_fraction(curve: ReleaseCurve, level: float,
                     t_max_min: float | None = None) -> float | None:
    """Earliest time at which `curve` reaches `level` (0–1), or None if it never does
    (or not before `t_max_min`)."""
    if level > curve.plateau:
        return None
    hi = max(curve.mdt_min, 1e-6)
    while float(curve.fraction(np.array([hi]))[0]) < level:
        hi *= 2.0
        if hi > 1e9 or (t_max_min is not None and hi > 2 * t_max_min):
            break
    if t_max_min is not None:
        hi = min(hi, t_max_min)
    f_hi = float(curve.fraction(np.array([hi]))[0])
    if f_hi < level:
        return None

    def gap(t: float) -> float:
        return float(curve.fraction(np.array([t]))[0]) - level

    # The curve is flat at 0 during a lag; brentq still finds the first crossing because
    # the function is monotone.
    return float(brentq(gap, 0.0, hi, xtol=_T_TOL, rtol=1e-10))


def default_t_max(curve: ReleaseCurve) -> float:
    """A grid end that shows the whole curve: 99 % of the plateau, rounded up."""
    t = time_to_fraction(curve, DEFAULT_END_FRACTION * curve.plateau)
    if t is None or t <= 0:
        raise ReleaseModelError(f"the {curve.model} curve does not rise; cannot choose a grid")
    step = 10.0 ** np.floor(np.log10(t))  # round up to 1–2 significant figures
    return float(np.ceil(t / step * 2) * step / 2)


def to_estimate(curve: ReleaseCurve, *, t_max_min: float | None = None,
                parameters: Mapping[str, float] | None = None,
                warnings: tuple[str, ...] = (), points: int = GRID_POINTS) -> ReleaseEstimate:
    """Sample a curve on a uniform grid 0 … t_max and summarise it.

    Parameters
    ----------
    curve : the model curve.
    t_max_min : grid end; default `default_t_max(curve)`.
    parameters, warnings : copied into the estimate.
    points : grid size T.

    Returns
    -------
    ReleaseEstimate
        (T,) time and fraction; t50/t80 None when not reached by t_max.
    """
    t_end = default_t_max(curve) if t_max_min is None else float(t_max_min)
    if not t_end > 0:
        raise ReleaseModelError(f"t_max_min must be positive, got {t_max_min}")
    time = np.linspace(0.0, t_end, points)
    fraction = np.maximum.accumulate(np.clip(curve.fraction(time), 0.0, 1.0))
    extra = []
    t80 = time_to_fraction(curve, 0.8, t_end)
    if t80 is None and t_max_min is not None and time_to_fraction(curve, 0.8) is not None:
        extra.append(f"the grid ends at {t_end:g} min, before 80 % is released")
    if curve.plateau < 0.999:
        extra.append(f"only {100 * curve.plateau:.1f} % of the drug can reach the medium; "
                     "the rest is enclosed in matrix with no wetted surface")
    return ReleaseEstimate(
        time_min=time, fraction=fraction,
        t50_min=time_to_fraction(curve, 0.5, t_end), t80_min=t80, mdt_min=curve.mdt_min,
        model=curve.model, parameters=dict(parameters or {}),
        warnings=tuple(warnings) + tuple(extra),
    )
