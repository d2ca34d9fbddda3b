"""The one orchestrator: prescription → design → toolpath → G-code → dose check → release.

The CLI, the batch runner and the GUI all call `run_job`. Each stage returns a new frozen
object; a changed setting re-runs only the stages from `SETTING_STAGE[setting]` on.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum

from pydantic import BaseModel, ConfigDict

from dosecraft.dose.solver import design_tablet
from dosecraft.errors import DosecraftError
from dosecraft.formulary import get_formulation
from dosecraft.model.design import TabletDesign
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.results import DoseCheck
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


@dataclass(frozen=True, eq=False)
class JobResult:
    """Everything computed for one prescription, or the error that stopped it."""

    prescription: Prescription
    formulation: Formulation | None = None
    profile: PrinterProfile | None = None
    design: TabletDesign | None = None
    dose_check: DoseCheck | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    error: DosecraftError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rx_id(self) -> str:
        return self.prescription.rx_id


def run_job(job: Job, on_progress: ProgressCallback | None = None,
            cancel: CancelCheck | None = None) -> JobResult:
    """Run one prescription through the stages up to `job.until`.

    Errors that dosecraft raises on purpose (bad prescription, infeasible dose, ...) are
    returned in `JobResult.error`, never raised, so a batch keeps going.
    """
    rx = job.prescription
    result = JobResult(prescription=rx)

    def step(stage: Stage, message: str) -> None:
        if cancel is not None and cancel():
            raise JobCancelled(f"{rx.rx_id}: cancelled before {stage.name.lower()}")
        if on_progress is not None:
            on_progress(stage, message)

    try:
        formulation = get_formulation(rx.formulation, extra_dirs=job.formulary_dirs)
        profile = load_profile(rx.printer, extra_dirs=job.profile_dirs)
        result = replace(result, formulation=formulation, profile=profile)
        step(Stage.DESIGN, "sizing the tablet for the dose")
        design = design_tablet(rx, formulation, profile)
        result = replace(result, design=design,
                         dose_check=DoseCheck(design.target_dose_mg, design.predicted_dose_mg))
    except DosecraftError as exc:
        return replace(result, error=exc)
    return result
