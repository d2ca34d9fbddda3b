"""Design for a release target: among tablets that all hold the exact dose, choose the shape
and infill whose predicted release best meets the prescription's `target_t80_min`.

The dose solver makes every candidate hold the dose; the release package predicts each one
from its real toolpath (coarse voxels for the search, fine for the best few) and ranks them.
"""

from dataclasses import dataclass, replace

import trimesh

from dosecraft.constants import TARGET_TOLERANCE
from dosecraft.dose.geometry import mesh_for_design
from dosecraft.dose.limits import band_for_age
from dosecraft.dose.solver import candidate_shapes, design_tablet
from dosecraft.errors import InfeasibleDose
from dosecraft.model.design import InfillStrategy, TabletDesign
from dosecraft.model.enums import InfillPattern, ShapeKind
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import Toolpath

#: Infill densities searched when the prescription leaves infill to the engine.
SEARCH_INFILLS: tuple[float, ...] = (0.25, 0.4, 0.6, 0.8, 1.0)
#: Shapes searched (best first by the age band's preference); more adds little but time.
MAX_SHAPES = 3
#: Voxel size of the search: the same as the final estimate, so rankings carry over.
SEARCH_RESOLUTION_MM = 0.1
#: Bisection steps on infill between the two searched densities that bracket the target.
REFINE_STEPS = 4


@dataclass(frozen=True, eq=False)
class TargetedDesign:
    """The chosen design, its predicted t80, and how the search went."""

    design: TabletDesign
    predicted_t80_min: float | None
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def design_for_target(rx: Prescription, formulation: Formulation,
                      profile: PrinterProfile) -> TargetedDesign:
    """Search shapes × infills for the best match to `rx.target_t80_min`.

    Raises
    ------
    InfeasibleDose
        When no candidate holds the dose (the first candidate's reason is given).
    """
    from dosecraft.release import ReleaseTarget, choose_design
    from dosecraft.slicer import slice_tablet

    assert rx.target_t80_min is not None
    shapes = candidate_shapes(rx, formulation, band_for_age(rx.age_years))[:MAX_SHAPES]
    infills = (rx.infill,) if rx.infill is not None else SEARCH_INFILLS
    if any(s == ShapeKind.MINITABLET for s in shapes):
        infills = tuple(sorted(set(infills) | {1.0}))
    pattern = InfillPattern(profile.infill_pattern)
    designs: dict[tuple[ShapeKind, float], TabletDesign] = {}

    def design_for(shape: ShapeKind, infill: float) -> tuple[trimesh.Trimesh, Toolpath]:
        reason = ("prescribed infill" if rx.infill is not None
                  else f"chosen for a target t80 of {rx.target_t80_min:g} min")
        strategy = InfillStrategy(infill, pattern, profile.infill_angle_deg, reason)
        design = design_tablet(rx.model_copy(update={"shape": shape}), formulation, profile,
                               infill=strategy)
        designs[(shape, infill)] = design
        mesh = mesh_for_design(design)
        return mesh, slice_tablet(mesh, profile, strategy)

    candidates = [(s, f) for s in shapes for f in infills]
    # Coarse voxels (0.2 mm) do not resolve 0.45 mm beads and their gaps, and shifted t80
    # by up to 40 % on porous tablets, so the whole search runs at the fine resolution.
    result = choose_design(design_for, candidates, formulation.release,
                           ReleaseTarget(t80_min=rx.target_t80_min),
                           coarse_resolution_mm=SEARCH_RESOLUTION_MM,
                           fine_resolution_mm=SEARCH_RESOLUTION_MM)
    if not result.ranked:
        reason = result.failed[0][2] if result.failed else "no candidate shapes"
        raise InfeasibleDose(f"no tablet holds the dose for a target t80: {reason}")
    best = result.best
    if rx.infill is None:
        best = _refine_infill(result.ranked, best, rx.target_t80_min, design_for,
                              formulation, choose_design, ReleaseTarget)
    chosen = designs[(best.shape, best.infill)]
    t80 = best.t80_min
    summary = ", ".join(
        f"{c.shape.value} {c.infill:.0%} → {c.t80_min:.0f} min" if c.t80_min else
        f"{c.shape.value} {c.infill:.0%} → not reached" for c in result.ranked[:4])
    notes = (f"target t80 {rx.target_t80_min:g} min; searched {len(candidates)} designs; "
             f"best: {summary}",)
    warnings: tuple[str, ...] = ()
    if t80 is None or abs(t80 / rx.target_t80_min - 1) > TARGET_TOLERANCE:
        got = "never reaches 80 %" if t80 is None else f"reaches 80 % at {t80:.0f} min"
        warnings = (f"target t80 {rx.target_t80_min:g} min is not met within "
                    f"{TARGET_TOLERANCE:.0%}: the closest design {got}; consider another "
                    "formulation",)
    return TargetedDesign(replace(chosen, notes=chosen.notes + notes), t80, notes, warnings)


def _refine_infill(ranked, best, target_t80: float, design_for, formulation: Formulation,
                   choose_design, release_target):  # noqa: ANN001 - release types, lazily imported
    """Bisect the infill of the best shape between the two densities bracketing the target.

    Release time grows with infill for a given shape, so once two searched densities
    bracket the target t80 a few bisection steps close in on it; if none bracket it, the
    searched best stands.
    """
    same = sorted((c for c in ranked if c.shape == best.shape and c.t80_min is not None),
                  key=lambda c: c.infill)
    lo = hi = None
    for a, b in zip(same, same[1:], strict=False):
        if (a.t80_min - target_t80) * (b.t80_min - target_t80) <= 0:
            lo, hi = a, b
            break
    if lo is None or hi is None:
        return best
    chosen = best
    for _ in range(REFINE_STEPS):
        mid_infill = round((lo.infill + hi.infill) / 2, 4)
        trial = choose_design(design_for, [(best.shape, mid_infill)], formulation.release,
                              release_target(t80_min=target_t80),
                              coarse_resolution_mm=SEARCH_RESOLUTION_MM,
                              fine_resolution_mm=SEARCH_RESOLUTION_MM)
        if not trial.ranked or trial.best.t80_min is None:
            break
        mid = trial.best
        if abs(mid.t80_min / target_t80 - 1) < abs(chosen.t80_min / target_t80 - 1):
            chosen = mid
        if (lo.t80_min - target_t80) * (mid.t80_min - target_t80) <= 0:
            hi = mid
        else:
            lo = mid
    return chosen
