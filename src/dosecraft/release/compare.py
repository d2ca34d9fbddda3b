"""Dissolution-profile comparison: f1, f2 with the regulatory conditions, MDT, t50/t80/t90.

The similarity rules follow the EMA bioequivalence guideline (CPMP/EWP/QWP/1401/98 Rev. 1,
Appendix I) and FDA's 1997 dissolution guidance: at least 3 time points (zero excluded),
at most one mean above 85 % in either profile (so points are used up to and including the
first one above 85 %), and profiles that both reach 85 % within 15 min are similar without
f2. With unit-level data the coefficient of variation must stay within 20 % at the early
points (≤ 15 min) and 10 % after, or f2 is not a valid statistic.
"""

from dataclasses import dataclass

import numpy as np

from dosecraft.constants import (
    CV_EARLY_MAX,
    CV_LATE_MAX,
    F1_SIMILAR,
    F2_SIMILAR,
    MIN_POINTS,
    PLATEAU_PCT,
    RAPID_TIME_MIN,
)
from dosecraft.errors import ReleaseModelError


@dataclass(frozen=True)
class Similarity:
    """Outcome of an f1/f2 comparison.

    Attributes
    ----------
    f1, f2 : difference and similarity factors over the points used (None if no point).
    applicable : whether f2 is a valid decision statistic for these profiles.
    similar : the decision (True/False), or None when it cannot be made.
    reason : why, in one sentence a reviewer can read.
    time_min : (P,) the time points used.
    """

    f1: float | None
    f2: float | None
    applicable: bool
    similar: bool | None
    reason: str
    time_min: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.time_min.size)


def f1_factor(reference_pct: np.ndarray, test_pct: np.ndarray) -> float:
    """Difference factor f1 = 100·Σ|R − T| / ΣR over matching (P,) mean profiles."""
    r, t = _pair(reference_pct, test_pct)
    return float(100.0 * np.abs(r - t).sum() / r.sum())


def f2_factor(reference_pct: np.ndarray, test_pct: np.ndarray) -> float:
    """Similarity factor f2 = 50·log10(100 / √(1 + Σ(R − T)²/n)) over (P,) mean profiles."""
    r, t = _pair(reference_pct, test_pct)
    msd = np.mean((r - t) ** 2)
    return float(50.0 * np.log10(100.0 / np.sqrt(1.0 + msd)))


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(reference, dtype=float).reshape(-1)
    t = np.asarray(test, dtype=float).reshape(-1)
    if r.shape != t.shape or r.size == 0:
        raise ReleaseModelError(
            f"profiles must have the same non-zero number of points, got {r.size} and {t.size}"
        )
    return r, t


def _means(time: np.ndarray, profile: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(P,) means and (P,) CV % (NaN when only one unit) from (P,) or (units, P) data."""
    data = np.asarray(profile, dtype=float)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.shape[1] != time.size:
        raise ReleaseModelError(
            f"{name} profile must have shape ({time.size},) or (units, {time.size}), "
            f"got {np.shape(profile)}"
        )
    mean = data.mean(axis=0)
    if data.shape[0] < 2:
        return mean, np.full(time.size, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = 100.0 * data.std(axis=0, ddof=1) / mean
    return mean, cv


def similarity(time_min: np.ndarray, reference_pct: np.ndarray, test_pct: np.ndarray) -> Similarity:
    """Compare two dissolution profiles by f1 and f2 under the regulatory conditions.

    Parameters
    ----------
    time_min : (P,) sampling times shared by both profiles, increasing.
    reference_pct, test_pct : (P,) mean % released, or (units, P) individual units (then
        the means are compared and the CV conditions checked).

    Returns
    -------
    Similarity
        f1/f2 over the points used, whether f2 applies, the decision and the reason.
    """
    time = np.asarray(time_min, dtype=float).reshape(-1)
    if time.size == 0 or np.any(np.diff(time) <= 0):
        raise ReleaseModelError("time points must be non-empty and strictly increasing")
    ref, cv_ref = _means(time, reference_pct, "reference")
    test, cv_test = _means(time, test_pct, "test")

    keep = time > 0  # both profiles are 0 at t = 0; counting it would inflate f2
    time, ref, test, cv_ref, cv_test = (a[keep] for a in (time, ref, test, cv_ref, cv_test))
    above = np.flatnonzero((ref > PLATEAU_PCT) | (test > PLATEAU_PCT))
    end = above[0] + 1 if above.size else time.size
    used = slice(0, end)
    t_used, r_used, x_used = time[used], ref[used], test[used]
    f1 = f1_factor(r_used, x_used) if t_used.size else None
    f2 = f2_factor(r_used, x_used) if t_used.size else None

    rapid = (time <= RAPID_TIME_MIN) & (ref >= PLATEAU_PCT) & (test >= PLATEAU_PCT)
    if rapid.any():
        return Similarity(f1, f2, False, True,
                          f"both profiles release ≥ {PLATEAU_PCT:g} % by {time[rapid][0]:g} min "
                          f"(≤ {RAPID_TIME_MIN:g} min): similar without f2", t_used)
    if t_used.size < MIN_POINTS:
        return Similarity(f1, f2, False, None,
                          f"only {t_used.size} time point(s) up to the first above "
                          f"{PLATEAU_PCT:g} %; f2 needs at least {MIN_POINTS}", t_used)
    early = t_used <= RAPID_TIME_MIN
    early[0] = True  # the first point is always an "early" point
    limit = np.where(early, CV_EARLY_MAX, CV_LATE_MAX)
    cv = np.fmax(cv_ref[used], cv_test[used])  # fmax ignores NaN (single-unit data)
    bad = np.flatnonzero(cv > limit)
    if bad.size:
        i = bad[0]
        return Similarity(f1, f2, False, None,
                          f"CV {cv[i]:.1f} % at {t_used[i]:g} min exceeds {limit[i]:g} %; "
                          "f2 is not valid (use a bootstrap or model-dependent comparison)",
                          t_used)
    # similar needs both: f2 ≥ 50 and f1 ≤ 15 (FDA 1997); f2 alone can pass a profile
    # whose points all sit 10 points apart early on
    f2_ok, f1_ok = bool(f2 >= F2_SIMILAR), bool(f1 <= F1_SIMILAR)
    similar = f2_ok and f1_ok
    verdict = "similar" if similar else "not similar"
    return Similarity(f1, f2, True, similar,
                      f"f2 = {f2:.2f} over {t_used.size} points "
                      f"({'≥' if f2_ok else '<'} {F2_SIMILAR:g}), f1 = {f1:.2f} "
                      f"({'≤' if f1_ok else '>'} {F1_SIMILAR:g}): {verdict}", t_used)


def _with_origin(time_min: np.ndarray, pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time_min, dtype=float).reshape(-1)
    p = np.asarray(pct, dtype=float).reshape(-1)
    if t.shape != p.shape or t.size == 0:
        raise ReleaseModelError(f"time and % released must match, got {t.size} and {p.size}")
    if np.any(np.diff(t) <= 0):
        raise ReleaseModelError("time points must be strictly increasing (average replicates "
                                "first, e.g. with fitting.mean_profile)")
    if t[0] > 0:  # every profile starts from nothing released
        t, p = np.concatenate([[0.0], t]), np.concatenate([[0.0], p])
    return t, p


def mdt_profile(time_min: np.ndarray, pct: np.ndarray) -> float:
    """Mean dissolution time of a sampled profile, Σ ΔM·t_mid / Σ ΔM.

    Parameters
    ----------
    time_min, pct : (P,) mean profile; (0, 0) is prepended when the first time is > 0.
    """
    t, p = _with_origin(time_min, pct)
    dm = np.diff(p)
    if dm.sum() <= 0:
        raise ReleaseModelError("the profile releases nothing; its MDT is undefined")
    t_mid = 0.5 * (t[1:] + t[:-1])
    return float((dm * t_mid).sum() / dm.sum())


def time_to_percent(time_min: np.ndarray, pct: np.ndarray, level: float) -> float | None:
    """Time at which a (P,) profile first reaches `level` % by linear interpolation.

    None when the profile never reaches it.
    """
    t, p = _with_origin(time_min, pct)
    hit = np.flatnonzero(p >= level)
    if hit.size == 0:
        return None
    i = hit[0]
    if i == 0:
        return float(t[0])
    t0, t1, p0, p1 = t[i - 1], t[i], p[i - 1], p[i]
    return float(t0 + (level - p0) * (t1 - t0) / (p1 - p0))


def release_times(time_min: np.ndarray, pct: np.ndarray,
                  levels: tuple[float, ...] = (50.0, 80.0, 90.0)) -> dict[str, float | None]:
    """{'t50': …, 't80': …, 't90': …} from a (P,) mean profile (None where not reached)."""
    return {f"t{level:g}": time_to_percent(time_min, pct, level) for level in levels}
