"""Mass-factor calibration: weigh printed calibration tablets, correct the formulation's
`mass_factor` so that printed mass matches predicted mass.

Printed parts come out heavier or lighter than designed (over-extrusion, die swell, filament
diameter), so each printer × formulation pair carries a measured factor (DOMAIN.md). The
new factor multiplies the current one by the mean measured/predicted ratio; it is refused
when there are too few tablets, when they scatter too much to trust the mean, or when the
correction is so large that something other than calibration is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from dosecraft.qc.errors import CalibrationRefused, QCError

#: Fewest calibration tablets whose mean ratio we trust.
CALIBRATION_MIN_N = 5
#: Largest coefficient of variation of the ratios: beyond it the printer is not stable
#: enough for a single factor to describe it.
CALIBRATION_MAX_CV = 0.05
#: Allowed mass factors, exclusive bounds, as in `Formulation.mass_factor`.
FACTOR_MIN = 0.5
FACTOR_MAX = 1.5


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """A computed mass-factor calibration and whether it may be stored.

    Attributes
    ----------
    n : number of tablets. ratios : (n,) measured / predicted mass per tablet.
    mean_ratio, sd_ratio : mean and sample SD (n − 1) of the ratios; NaN SD when n < 2.
    cv : sd_ratio / mean_ratio.
    current_factor : the factor the predicted masses were computed with.
    proposed_factor : current_factor × mean_ratio.
    ci_low, ci_high : two-sided `confidence` interval of the proposed factor (t distribution,
        n − 1 degrees of freedom); NaN when n < 2.
    accepted : True when no refusal reason applies; reasons : every refusal reason.
    """

    n: int
    ratios: np.ndarray
    mean_ratio: float
    sd_ratio: float
    cv: float
    current_factor: float
    proposed_factor: float
    ci_low: float
    ci_high: float
    confidence: float
    accepted: bool
    reasons: tuple[str, ...]

    @property
    def new_factor(self) -> float:
        """The factor to store; raises `CalibrationRefused` (with the reasons) if refused."""
        if not self.accepted:
            raise CalibrationRefused(self.reasons)
        return self.proposed_factor

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (for the QC tables of the records store)."""

        def f(x: float) -> float | None:
            return None if math.isnan(x) else round(float(x), 6)

        return {
            "n": self.n, "ratios": [round(float(r), 6) for r in self.ratios],
            "mean_ratio": f(self.mean_ratio), "sd_ratio": f(self.sd_ratio), "cv": f(self.cv),
            "current_factor": self.current_factor, "proposed_factor": f(self.proposed_factor),
            "ci_low": f(self.ci_low), "ci_high": f(self.ci_high),
            "confidence": self.confidence, "accepted": self.accepted,
            "reasons": list(self.reasons),
        }


def mass_factor_from_weights(measured_mg: ArrayLike, predicted_mg: float | ArrayLike,
                             current_factor: float, *,
                             confidence: float = 0.95) -> CalibrationResult:
    """Propose a new mass factor from weighed calibration tablets.

    Parameters
    ----------
    measured_mg : (n,) weights of the printed tablets.
    predicted_mg : scalar or (n,) masses predicted for them *with* `current_factor` applied
        (the design's `mass_mg`), one value when all tablets share a design.
    current_factor : the formulation's mass factor used for the prediction.
    confidence : level of the confidence interval, in (0, 1).

    Returns
    -------
    CalibrationResult
        `proposed_factor` = current × mean(measured / predicted). Refused (`accepted` False,
        every cause in `reasons`) when n < 5, when the ratios' CV exceeds 5 %, or when the
        proposed factor leaves (0.5, 1.5).

    Raises
    ------
    QCError
        When the inputs are unusable (empty, non-finite, non-positive, mismatched shapes).
    """
    m = np.asarray(measured_mg, dtype=np.float64)
    if m.ndim != 1 or m.size == 0:
        raise QCError(f"measured_mg must be a non-empty 1-D array, got shape {m.shape}")
    p = np.asarray(predicted_mg, dtype=np.float64)
    try:
        p = np.broadcast_to(p, m.shape)
    except ValueError:
        raise QCError(f"predicted_mg has shape {p.shape}; give one value or one per tablet "
                      f"({m.size})") from None
    for name, arr in (("measured_mg", m), ("predicted_mg", p)):
        bad = ~np.isfinite(arr) | (arr <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise QCError(f"{name}[{i}] = {arr[i]!r} is not a finite positive mass")
    if not (math.isfinite(current_factor) and FACTOR_MIN < current_factor < FACTOR_MAX):
        raise QCError(f"current_factor = {current_factor!r} is outside "
                      f"({FACTOR_MIN}, {FACTOR_MAX})")
    if not 0 < confidence < 1:
        raise QCError(f"confidence = {confidence!r} must lie strictly between 0 and 1")

    ratios = m / p
    n = int(ratios.size)
    mean = float(ratios.mean())
    proposed = current_factor * mean
    if n >= 2:
        sd = float(ratios.std(ddof=1))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
        ci = (current_factor * (mean - half), current_factor * (mean + half))
    else:
        sd, ci = math.nan, (math.nan, math.nan)
    cv = sd / mean

    reasons: list[str] = []
    if n < CALIBRATION_MIN_N:
        reasons.append(f"only {n} tablet(s) weighed; at least {CALIBRATION_MIN_N} are needed")
    if not math.isnan(cv) and cv > CALIBRATION_MAX_CV:
        reasons.append(f"tablet-to-tablet CV {100 * cv:.1f} % exceeds "
                       f"{100 * CALIBRATION_MAX_CV:.0f} %: the printer is not stable enough "
                       "to calibrate; check feed, nozzle and bed before weighing again")
    if not FACTOR_MIN < proposed < FACTOR_MAX:
        reasons.append(f"proposed factor {proposed:.4f} is outside ({FACTOR_MIN}, {FACTOR_MAX}): "
                       "check the formulation's density and loading, the feed diameter and "
                       "the balance instead of calibrating")
    return CalibrationResult(n=n, ratios=ratios, mean_ratio=mean, sd_ratio=sd, cv=cv,
                             current_factor=float(current_factor), proposed_factor=proposed,
                             ci_low=ci[0], ci_high=ci[1], confidence=confidence,
                             accepted=not reasons, reasons=tuple(reasons))
