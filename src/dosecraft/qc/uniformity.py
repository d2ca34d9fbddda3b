"""Uniformity of dosage units: USP <905> acceptance value, Ph. Eur. 2.9.6, mass accuracy.

Contents are in % of label claim unless a function says otherwise. The pharmacopoeial
constants stay next to the rules that use them, with their source, so that a reviewer can
check them against the text in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from numpy.typing import ArrayLike

from dosecraft.qc.errors import QCError

# USP <905> Uniformity of Dosage Units, "Calculation of Acceptance Value" (Table 2).
USP_L1 = 15.0
USP_L2 = 25.0
USP_M_LOW = 98.5
USP_M_HIGH = 101.5
USP_K: dict[int, float] = {10: 2.4, 30: 2.0}
USP_STAGE: dict[int, int] = {10: 1, 30: 2}

# Ph. Eur. 2.9.6 Uniformity of content of single-dose preparations, test A (tablets).
PH_EUR_INNER = (0.85, 1.15)
PH_EUR_OUTER = (0.75, 1.25)
PH_EUR_STAGE: dict[int, int] = {10: 1, 30: 2}


def _as_1d(values: ArrayLike, name: str, *, positive: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise QCError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "positive" if positive else "non-negative"
        raise QCError(f"{name}[{i}] = {arr[i]!r} is not a finite {need} number")
    return arr


def _round_half_up(x: float, places: int = 1) -> float:
    # USP General Notices 7.20: round to the limit's decimals, halves upward (not banker's),
    # and compare the rounded figure with the limit.
    q = Decimal(1).scaleb(-places)
    return float(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class AVResult:
    """Outcome of a USP <905> acceptance-value evaluation.

    Attributes
    ----------
    n : number of units. mean_pct, sd_pct : X̄ and s (n − 1 denominator), % label claim.
    k : acceptability constant. m_pct : reference value M.
    av : acceptance value, unrounded; av_reported : rounded to 0.1, compared with L1.
    stage : 1 (10 units), 2 (30 units) or None (another n with an explicit k).
    passed : whether the units meet the criteria of that stage.
    reasons : human-readable findings (why it passed or failed).
    outside_l2 : 0-based indices of units outside (1 ± L2/100)·M (checked at stage 2).
    next_step : what the pharmacopoeia asks next, or None.
    """

    n: int
    mean_pct: float
    sd_pct: float
    k: float
    m_pct: float
    av: float
    av_reported: float
    stage: int | None
    passed: bool
    reasons: tuple[str, ...]
    outside_l2: tuple[int, ...] = ()
    next_step: str | None = None
    l1: float = USP_L1
    l2: float = USP_L2


def reference_value(mean_pct: float, target_pct: float = 100.0) -> float:
    """USP <905> reference value M for a mean content X̄ and target content T (both % LC)."""
    high = USP_M_HIGH if target_pct <= USP_M_HIGH else target_pct
    return float(min(max(mean_pct, USP_M_LOW), high))


def acceptance_value(values_pct: ArrayLike, k: float | None = None, *,
                     target_pct: float = 100.0) -> AVResult:
    """Evaluate USP <905> content uniformity from individual contents.

    Parameters
    ----------
    values_pct : (n,) individual contents in % of label claim; n = 10 (stage 1) or 30
        (stage 2: the 10 units of stage 1 plus 20 more).
    k : acceptability constant; default 2.4 for n = 10 and 2.0 for n = 30. Another n needs
        an explicit k and gives an indicative result (`stage` None).
    target_pct : T, the target content at manufacture (100 % unless justified otherwise).

    Returns
    -------
    AVResult
        AV = |M − X̄| + k·s; pass at AV ≤ L1 (15.0), and at stage 2 no unit outside
        (1 ± 0.25)·M.
    """
    x = _as_1d(values_pct, "values_pct")
    n = x.size
    if n < 2:
        raise QCError("values_pct needs at least 2 units to estimate a standard deviation")
    if k is None:
        if n not in USP_K:
            raise QCError(f"USP <905> defines k for n = 10 (stage 1) or n = 30 (stage 2); "
                          f"got n = {n}: test 10 or 30 units, or pass k explicitly")
        k = USP_K[n]
    stage = USP_STAGE.get(n)
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    m = reference_value(mean, target_pct)
    av = abs(m - mean) + k * sd
    av_rep = _round_half_up(av, 1)
    av_ok = av_rep <= USP_L1
    reasons = [f"AV {av_rep:.1f} {'≤' if av_ok else '>'} L1 {USP_L1:.1f} "
               f"(X̄ {mean:.2f} %, s {sd:.2f} %, M {m:.1f} %, k {k:g}, n {n})"]
    outside: tuple[int, ...] = ()
    next_step = None
    if stage == 2:
        lo, hi = (1 - USP_L2 / 100) * m, (1 + USP_L2 / 100) * m
        outside = tuple(int(i) for i in np.flatnonzero((x < lo) | (x > hi)))
        if outside:
            units = ", ".join(f"#{i + 1} = {x[i]:.1f} %" for i in outside)
            reasons.append(f"{len(outside)} unit(s) outside {lo:.1f}–{hi:.1f} % "
                           f"((1 ± {USP_L2 / 100:g})·M): {units}")
        passed = av_ok and not outside
    else:
        passed = av_ok
        if stage == 1 and not av_ok:
            next_step = "test 20 more units and evaluate all 30 (stage 2)"
        if stage is None:
            reasons.append(f"n = {n} is not a USP <905> sample size: result is indicative only")
    return AVResult(n=n, mean_pct=mean, sd_pct=sd, k=float(k), m_pct=m, av=float(av),
                    av_reported=av_rep, stage=stage, passed=bool(passed),
                    reasons=tuple(reasons), outside_l2=outside, next_step=next_step)


def contents_from_weights(weights_mg: ArrayLike, assay_pct: float | None = None, *,
                          target_mass_mg: float | ArrayLike | None = None) -> np.ndarray:
    """Estimate each unit's content (% label claim) from its weight.

    Parameters
    ----------
    weights_mg : (n,) individual tablet weights.
    assay_pct : A, the batch assay in % of label claim. When given, USP <905> weight
        variation applies: content_i = w_i × A / W̄.
    target_mass_mg : scalar or (n,) designed tablet mass. Used only when no assay is given:
        content_i = 100 × w_i / target_i, which assumes the drug loading is as labelled
        (true for a homogeneous printed filament or paste) and, unlike the USP formula,
        keeps a systematic over- or under-mass visible in X̄.

    Returns
    -------
    (n,) float64 estimated contents, % of label claim. With neither `assay_pct` nor
    `target_mass_mg`, A = 100 % (so X̄ is 100 % by construction and AV measures spread only).
    """
    w = _as_1d(weights_mg, "weights_mg", positive=True)
    if assay_pct is None and target_mass_mg is not None:
        target = np.broadcast_to(np.asarray(target_mass_mg, dtype=np.float64), w.shape)
        if not np.all(np.isfinite(target) & (target > 0)):
            raise QCError(f"target_mass_mg must be finite and positive, got {target_mass_mg!r}")
        return 100.0 * w / target
    a = 100.0 if assay_pct is None else float(assay_pct)
    if not np.isfinite(a) or a <= 0:
        raise QCError(f"assay_pct = {assay_pct!r} is not a finite positive percentage")
    return w * a / w.mean()


def acceptance_value_from_weights(weights_mg: ArrayLike, assay_pct: float | None = None,
                                  k: float | None = None, *,
                                  target_mass_mg: float | ArrayLike | None = None) -> AVResult:
    """USP <905> by weight variation: contents from weights (see `contents_from_weights`),
    then `acceptance_value`. `weights_mg` is (n,), n = 10 or 30 unless `k` is given."""
    return acceptance_value(contents_from_weights(weights_mg, assay_pct,
                                                  target_mass_mg=target_mass_mg), k)


@dataclass(frozen=True)
class PhEurResult:
    """Outcome of Ph. Eur. 2.9.6 test A (content uniformity of tablets).

    Attributes
    ----------
    n : units tested. mean : average content (unit of the input). stage : 1 or 2.
    passed : complies. needs_more_units : stage 1 found exactly one unit outside 85–115 %
        (inside 75–125 %): test 20 more and evaluate all 30.
    outside_inner, outside_outer : 0-based indices of units outside 85–115 % / 75–125 %
        of the mean. reasons : findings.
    """

    n: int
    mean: float
    stage: int
    passed: bool
    needs_more_units: bool
    outside_inner: tuple[int, ...]
    outside_outer: tuple[int, ...]
    reasons: tuple[str, ...]


def ph_eur_content_uniformity(contents: ArrayLike) -> PhEurResult:
    """Ph. Eur. 2.9.6 test A on individual contents (any unit: the limits are relative).

    Parameters
    ----------
    contents : (n,) individual contents, n = 10 (stage 1) or 30 (stage 2).

    Returns
    -------
    PhEurResult
        Stage 1 complies when every unit lies within 85–115 % of the mean; it fails when
        more than one does not, or any lies outside 75–125 %; exactly one outside 85–115 %
        asks for 20 more units. Stage 2 complies when at most one of the 30 lies outside
        85–115 % and none outside 75–125 %.
    """
    x = _as_1d(contents, "contents")
    n = x.size
    if n not in PH_EUR_STAGE:
        raise QCError(f"Ph. Eur. 2.9.6 tests 10 units (stage 1) or 30 (stage 2); got n = {n}")
    stage = PH_EUR_STAGE[n]
    mean = float(x.mean())
    if mean <= 0:
        raise QCError("contents average to zero: no uniformity can be judged")
    rel = x / mean
    inner = tuple(int(i) for i in np.flatnonzero((rel < PH_EUR_INNER[0]) | (rel > PH_EUR_INNER[1])))
    outer = tuple(int(i) for i in np.flatnonzero((rel < PH_EUR_OUTER[0]) | (rel > PH_EUR_OUTER[1])))

    def listing(idx: tuple[int, ...]) -> str:
        return ", ".join(f"#{i + 1} = {100 * rel[i]:.1f} %" for i in idx)

    reasons: list[str] = []
    if outer:
        reasons.append(f"{len(outer)} unit(s) outside 75–125 % of the mean: {listing(outer)}")
    if len(inner) > 1:
        reasons.append(f"{len(inner)} units outside 85–115 % of the mean (at most "
                       f"{0 if stage == 1 else 1} allowed): {listing(inner)}")
    needs_more = stage == 1 and len(inner) == 1 and not outer
    if needs_more:
        reasons.append(f"one unit outside 85–115 % of the mean ({listing(inner)}): "
                       "test 20 more units and evaluate all 30 (stage 2)")
    passed = not outer and (len(inner) == 0 if stage == 1 else len(inner) <= 1)
    if passed:
        reasons.append(f"complies: {len(inner)} of {n} units outside 85–115 % and none "
                       f"outside 75–125 % of the mean ({mean:.4g})")
    return PhEurResult(n=n, mean=mean, stage=stage, passed=passed, needs_more_units=needs_more,
                       outside_inner=inner, outside_outer=outer, reasons=tuple(reasons))


def mass_accuracy(measured_mg: ArrayLike, target_mg: float | ArrayLike) -> np.ndarray:
    """Relative mass error per tablet: measured / target − 1.

    Parameters
    ----------
    measured_mg : (n,) tablet weights. target_mg : scalar or (n,) designed masses.

    Returns
    -------
    (n,) float64, e.g. 0.012 for a tablet 1.2 % heavier than designed.
    """
    m = _as_1d(measured_mg, "measured_mg", positive=True)
    t = np.asarray(target_mg, dtype=np.float64)
    try:
        t = np.broadcast_to(t, m.shape)
    except ValueError:
        raise QCError(f"target_mg has shape {t.shape}, which does not match measured_mg "
                      f"shape {m.shape}") from None
    if not np.all(np.isfinite(t) & (t > 0)):
        raise QCError("target_mg must be finite and positive")
    return m / t - 1.0
