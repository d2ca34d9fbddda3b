"""Inverse design: pick the shape and infill whose predicted release best matches a target.

Generic over candidates: the caller supplies `design_for(shape, infill) -> (mesh, toolpath)`
(the dose solver already makes each candidate hold the exact dose) and a list of
(shape, infill) pairs. Every candidate is predicted at a coarse resolution, ranked, and the
best few are re-predicted at the fine resolution and re-ranked, so the search costs about
(coarse/fine)³ of a full-resolution sweep.
"""

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import trimesh

from dosecraft.errors import DosecraftError, ReleaseModelError
from dosecraft.model.formulation import ReleaseParameters
from dosecraft.model.results import ReleaseEstimate
from dosecraft.model.toolpath import Toolpath
from dosecraft.release.compare import PLATEAU_PCT, f2_factor
from dosecraft.release.curves import default_t_max, to_estimate
from dosecraft.release.estimate import prepare_geometry

DesignFactory = Callable[[Hashable, float], tuple[trimesh.Trimesh, Toolpath | None]]

#: Score of a candidate that never reaches the target level (worse than any finite score).
_UNREACHED = 1e6


@dataclass(frozen=True)
class ReleaseTarget:
    """What the release should look like: a t80, a whole profile, or both.

    Attributes
    ----------
    t80_min : target time to 80 % released.
    time_min, pct : (P,) target profile (% released); when given, candidates are ranked by
        f2 against it, and t80 only breaks ties.
    """

    t80_min: float | None = None
    time_min: tuple[float, ...] | None = None
    pct: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.t80_min is None and self.time_min is None:
            raise ReleaseModelError("a release target needs t80_min or a profile (time, pct)")
        if (self.time_min is None) != (self.pct is None) or (
                self.time_min is not None and len(self.time_min) != len(self.pct or ())):
            raise ReleaseModelError("a target profile needs matching time_min and pct")


@dataclass(frozen=True, eq=False)
class CandidateResult:
    """One candidate's predicted release against the target.

    Attributes
    ----------
    shape, infill : the candidate as given.
    t50_min, t80_min, mdt_min : predicted figures (None if not reached).
    f2 : similarity to the target profile (None without one).
    score : ranking key, lower is better (−f2 for a profile, |ln(t80/target)| otherwise).
    resolution_mm : voxel size of this prediction; estimate : the full prediction.
    """

    shape: Hashable
    infill: float
    t50_min: float | None
    t80_min: float | None
    mdt_min: float | None
    f2: float | None
    score: float
    resolution_mm: float
    estimate: ReleaseEstimate


@dataclass(frozen=True, eq=False)
class InverseResult:
    """Ranked candidates (refined ones first) and the ones that could not be designed."""

    ranked: tuple[CandidateResult, ...]
    failed: tuple[tuple[Hashable, float, str], ...] = ()

    @property
    def best(self) -> CandidateResult:
        if not self.ranked:
            raise ReleaseModelError(f"no candidate could be evaluated: {self.failed}")
        return self.ranked[0]


def _profile_f2(target: ReleaseTarget, predicted_pct: np.ndarray) -> float:
    """f2 over the target's points up to and including the first above 85 % (either curve),
    zero time excluded, as the regulatory comparison would use them."""
    t = np.asarray(target.time_min, dtype=float)
    ref = np.asarray(target.pct, dtype=float)
    keep = t > 0
    ref, test = ref[keep], predicted_pct[keep]
    above = np.flatnonzero((ref > PLATEAU_PCT) | (test > PLATEAU_PCT))
    end = above[0] + 1 if above.size else ref.size
    return f2_factor(ref[:end], test[:end])


def _evaluate(design_for: DesignFactory, shape: Hashable, infill: float,
              params: ReleaseParameters, target: ReleaseTarget,
              resolution_mm: float) -> CandidateResult:
    mesh, toolpath = design_for(shape, infill)
    geometry = prepare_geometry(mesh, params.model, toolpath=toolpath,
                                resolution_mm=resolution_mm)
    curve = geometry.curve(params)
    t_end = default_t_max(curve)
    if target.time_min is not None:  # the grid must cover the target profile
        t_end = max(t_end, float(max(target.time_min)))
    estimate = to_estimate(curve, t_max_min=t_end, parameters=geometry.parameters(params),
                           warnings=geometry.warnings)
    f2 = None
    if target.time_min is not None:
        f2 = _profile_f2(target, 100.0 * curve.fraction(np.asarray(target.time_min)))
    t80 = estimate.t80_min
    t80_gap = 0.0
    if target.t80_min is not None:
        t80_gap = abs(np.log(t80 / target.t80_min)) if t80 is not None else _UNREACHED
    # A profile target ranks by f2; t80 only separates candidates with equal f2.
    score = -f2 + 1e-6 * t80_gap if f2 is not None else t80_gap
    return CandidateResult(shape, float(infill), estimate.t50_min, t80, estimate.mdt_min, f2,
                           float(score), resolution_mm, estimate)


def choose_design(design_for: DesignFactory, candidates: Iterable[tuple[Hashable, float]],
                  params: ReleaseParameters, target: ReleaseTarget, *,
                  coarse_resolution_mm: float = 0.2, fine_resolution_mm: float = 0.1,
                  refine_top: int = 2) -> InverseResult:
    """Rank (shape, infill) candidates by how well their predicted release meets a target.

    Parameters
    ----------
    design_for : (shape, infill) → (mesh, toolpath or None), holding the exact dose.
    candidates : (shape, infill) pairs to try.
    params : the formulation's release parameters (its `model` picks the estimator).
    target : a t80 and/or a profile.
    coarse_resolution_mm : voxel size of the search (must still resolve the bead gaps when
        toolpaths are given: ≥ 2 voxels per bead width).
    fine_resolution_mm : voxel size for the re-ranked best candidates.
    refine_top : how many of the best coarse candidates are refined.

    Returns
    -------
    InverseResult
        Candidates best first; those `design_for` rejected (e.g. an infeasible dose) are
        listed in `failed` with the reason.
    """
    coarse, failed = [], []
    for shape, infill in candidates:
        try:
            coarse.append(_evaluate(design_for, shape, infill, params, target,
                                    coarse_resolution_mm))
        except DosecraftError as exc:  # one impossible candidate must not stop the search
            failed.append((shape, float(infill), str(exc)))
    coarse.sort(key=lambda c: c.score)
    refined = []
    for cand in coarse[:max(refine_top, 0)]:
        if fine_resolution_mm >= coarse_resolution_mm:
            refined.append(cand)
            continue
        refined.append(_evaluate(design_for, cand.shape, cand.infill, params, target,
                                 fine_resolution_mm))
    refined.sort(key=lambda c: c.score)
    return InverseResult(tuple(refined) + tuple(coarse[len(refined):]), tuple(failed))
