"""The one orchestrator: prescription → design → toolpath → G-code → dose check → release.

The CLI, the batch runner and the GUI all call `run_job`. Each stage returns a new frozen
object; a changed setting re-runs only the stages from `SETTING_STAGE[setting]` on.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum

import trimesh
from pydantic import BaseModel, ConfigDict

from dosecraft import constants as C
from dosecraft.dose.closure import close_dose
from dosecraft.dose.release_design import design_for_target
from dosecraft.dose.solver import default_predictor, design_tablet
from dosecraft.errors import DoseCheckFailed, DosecraftError
from dosecraft.formulary import get_formulation, with_mass_factor
from dosecraft.gcode.job import WrittenPlate, write_prescription_gcode
from dosecraft.model.design import TabletDesign
from dosecraft.model.enums import ReleaseKind
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.results import DoseCheck, ReleaseEstimate
from dosecraft.model.toolpath import Toolpath
from dosecraft.profiles import load_profile


class Stage(IntEnum):
    """Pipeline stages in order; a job runs up to and including `Job.until`."""

    DESIGN = 1
    TOOLPATH = 2
    GCODE = 3
    RELEASE = 4


#: Which stage a changed setting invalidates (the GUI re-runs from there).
SETTING_STAGE: dict[str, Stage] = {
    "dose_mg": Stage.DESIGN, "dose_mg_per_kg": Stage.DESIGN, "weight_kg": Stage.DESIGN,
    "age_years": Stage.DESIGN, "formulation": Stage.DESIGN, "printer": Stage.DESIGN,
    "shape": Stage.DESIGN, "infill": Stage.DESIGN, "release": Stage.DESIGN,
    "target_t80_min": Stage.DESIGN, "drug": Stage.DESIGN,
    "quantity": Stage.GCODE, "rx_id": Stage.GCODE, "patient_ref": Stage.GCODE,
}

ProgressCallback = Callable[[Stage, str], None]
CancelCheck = Callable[[], bool]


class JobCancelled(DosecraftError):
    """The caller asked the job to stop."""


class Job(BaseModel):
    """What to compute for one prescription."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    prescription: Prescription
    until: Stage = Stage.RELEASE
    formulary_dirs: tuple[str, ...] = ()
    profile_dirs: tuple[str, ...] = ()
    #: Calibrated mass factor for this printer × formulation (from the records); when
    #: None the formulation's own `mass_factor` applies.
    mass_factor: float | None = None


@dataclass(frozen=True, eq=False)
class JobResult:
    """Everything computed for one prescription, or the error that stopped it."""

    prescription: Prescription
    formulation: Formulation | None = None
    profile: PrinterProfile | None = None
    design: TabletDesign | None = None
    mesh: trimesh.Trimesh | None = None
    toolpath: Toolpath | None = None
    plates: tuple[WrittenPlate, ...] = ()
    dose_check: DoseCheck | None = None
    release: ReleaseEstimate | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    error: DosecraftError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rx_id(self) -> str:
        return self.prescription.rx_id

    @property
    def gcode_dose_by_tablet_mg(self) -> dict[str, float]:
        """Re-read dose of every tablet on every plate, by label."""
        doses: dict[str, float] = {}
        for plate in self.plates:
            doses.update(plate.readout.dose_by_object_mg)
        return doses


def resume_stage(previous: JobResult | None, rx: Prescription) -> Stage:
    """The first stage that must run for `rx` when `previous` is the last result.

    Only a successful previous result that got through the toolpath can be reused, and
    only for fields that invalidate no earlier stage than `Stage.GCODE` (quantity, rx_id,
    patient_ref). A field missing from `SETTING_STAGE` re-runs everything.
    """
    if previous is None or not previous.ok or previous.toolpath is None:
        return Stage.DESIGN
    changed = {name for name in type(rx).model_fields
               if getattr(previous.prescription, name) != getattr(rx, name)}
    if not changed:
        return Stage.GCODE
    return min(SETTING_STAGE.get(name, Stage.DESIGN) for name in changed)


def run_job(job: Job, on_progress: ProgressCallback | None = None,
            cancel: CancelCheck | None = None,
            previous: JobResult | None = None) -> JobResult:
    """Run one prescription through the stages up to `job.until`.

    With `previous` (the last result of this prescription before some fields changed),
    the stages those fields don't invalidate are reused: a changed quantity or rx_id only
    rewrites the G-code (see `SETTING_STAGE`). Errors that dosecraft raises on purpose (bad
    prescription, infeasible dose, ...) are returned in `JobResult.error`, never raised, so
    a batch keeps going.
    """
    rx = job.prescription
    if (previous is not None and job.until >= Stage.GCODE
            and resume_stage(previous, rx) >= Stage.GCODE):
        return _resume_gcode(previous, rx, on_progress, cancel)
    result = JobResult(prescription=rx)

    def step(stage: Stage, message: str) -> None:
        if cancel is not None and cancel():
            raise JobCancelled(f"{rx.rx_id}: cancelled before {stage.name.lower()}")
        if on_progress is not None:
            on_progress(stage, message)

    try:
        formulation = get_formulation(rx.formulation, extra_dirs=job.formulary_dirs)
        if job.mass_factor is not None:
            formulation = with_mass_factor(formulation, job.mass_factor)
        profile = load_profile(rx.printer, extra_dirs=job.profile_dirs)
        result = replace(result, formulation=formulation, profile=profile)
        step(Stage.DESIGN, "sizing the tablet for the dose")
        if rx.target_t80_min is not None:
            targeted = design_for_target(rx, formulation, profile)
            design = targeted.design
            result = replace(result, warnings=result.warnings + targeted.warnings)
        else:
            design = design_tablet(rx, formulation, profile)
        result = replace(result, design=design,
                         dose_check=DoseCheck(design.target_dose_mg, design.predicted_dose_mg))
        if job.until >= Stage.TOOLPATH:
            step(Stage.TOOLPATH, "slicing and closing the dose on the toolpath")
            result = _toolpath_stage(result, formulation, profile)
        if job.until >= Stage.GCODE:
            step(Stage.GCODE, "writing and re-reading the G-code")
            result = _gcode_stage(result, formulation, profile)
        if job.until >= Stage.RELEASE:
            step(Stage.RELEASE, "estimating the release curve")
            result = _release_stage(result, formulation)
    except DosecraftError as exc:
        return replace(result, error=exc)
    return result


def _resume_gcode(previous: JobResult, rx: Prescription,
                  on_progress: ProgressCallback | None,
                  cancel: CancelCheck | None) -> JobResult:
    """Rewrite only the G-code of `previous` for `rx` (same tablet, new labels or count)."""
    assert previous.design is not None and previous.dose_check is not None
    assert previous.formulation is not None and previous.profile is not None
    design = replace(previous.design, rx_id=rx.rx_id)  # the rx_id labels the G-code
    base = replace(previous, prescription=rx, design=design, plates=(), error=None,
                   dose_check=replace(previous.dose_check, gcode_mg=None))
    try:
        if cancel is not None and cancel():
            raise JobCancelled(f"{rx.rx_id}: cancelled before gcode")
        if on_progress is not None:
            on_progress(Stage.GCODE, "writing and re-reading the G-code")
        return _gcode_stage(base, previous.formulation, previous.profile)
    except DosecraftError as exc:
        return replace(base, error=exc)


def _toolpath_stage(result: JobResult, formulation: Formulation,
                    profile: PrinterProfile) -> JobResult:
    assert result.design is not None
    closed = close_dose(result.design, formulation, profile)
    design = closed.design
    # the design figure is the layer model's prediction for the final dimensions
    model_mm3 = default_predictor(closed.mesh, profile, design.infill.density)
    check = DoseCheck(design.target_dose_mg, model_mm3 * formulation.drug_mg_per_mm3,
                      toolpath_mg=design.predicted_dose_mg)
    return replace(result, design=design, mesh=closed.mesh, toolpath=closed.toolpath,
                   dose_check=check)


def _gcode_stage(result: JobResult, formulation: Formulation,
                 profile: PrinterProfile) -> JobResult:
    assert result.design is not None and result.toolpath is not None
    assert result.dose_check is not None
    plates = write_prescription_gcode(result.design, result.toolpath,
                                      result.prescription.quantity, formulation, profile)
    doses = [d for p in plates for d in p.readout.dose_by_object_mg.values()]
    target = result.design.target_dose_mg
    worst = max(doses, key=lambda d: abs(d / target - 1))
    check = replace(result.dose_check, gcode_mg=worst)
    result = replace(result, plates=tuple(plates), dose_check=check)
    if not check.passed:
        raise DoseCheckFailed(
            f"{result.rx_id}: for a {target:.4g} mg prescription (tolerance "
            f"±{check.tolerance:.0%}) " + "; ".join(check.failures()) + " is outside; the "
            f"re-read G-code holds {worst:.4g} mg")
    return result


def _release_stage(result: JobResult, formulation: Formulation) -> JobResult:
    from dosecraft.release import estimate_release

    assert result.mesh is not None
    estimate = estimate_release(result.mesh, formulation.release, toolpath=result.toolpath)
    warnings = list(estimate.warnings)
    t80 = estimate.t80_min
    if (result.prescription.release == ReleaseKind.IMMEDIATE
            and (t80 is None or t80 > C.IMMEDIATE_RELEASE_T80_MIN)):
        when = f"{t80:.0f} min" if t80 is not None else "beyond the simulated time"
        warnings.append(
            f"immediate release was asked for, but the predicted t80 is {when} (immediate-"
            f"release tablets typically reach 80 % within {C.IMMEDIATE_RELEASE_T80_MIN:g} "
            f"min): formulation '{formulation.id}' releases slowly; check the release wish "
            "or choose a faster-releasing formulation")
    if (result.prescription.release == ReleaseKind.SUSTAINED and t80 is not None
            and t80 < C.SUSTAINED_RELEASE_T80_MIN):
        warnings.append(
            f"sustained release was asked for, but the predicted t80 is {t80:.0f} min "
            f"(below {C.SUSTAINED_RELEASE_T80_MIN:g} min, which is immediate-like): give a "
            "target t80 (target_t80_min) so the tablet is designed for it, raise the "
            "infill towards 1, or choose a slower-releasing formulation")
    return replace(result, release=estimate, warnings=result.warnings + tuple(warnings))
