"""Running one prescription from the app, as the batch runner would run it."""

from __future__ import annotations

from dosecraft.errors import DosecraftError
from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import CancelCheck, Job, JobResult, ProgressCallback, run_job
from dosecraft.records.calibrated import recorded_mass_factor


def run_prescription(rx: Prescription, progress: ProgressCallback | None = None,
                     cancel: CancelCheck | None = None) -> JobResult:
    """`run_job` with the printer × formulation mass factor recorded by `dosecraft
    calibrate` (the user's records file), so the app's G-code holds the same dose as a
    batch's. Records that cannot be read are the result's error, not a crash."""
    try:
        factor = recorded_mass_factor(rx.printer, rx.formulation)
    except DosecraftError as exc:
        return JobResult(prescription=rx, error=exc)
    return run_job(Job(prescription=rx, mass_factor=factor), progress, cancel)


def calibration_changed(previous: JobResult, rx: Prescription) -> bool:
    """True when `previous` was sized with another mass factor than the one now recorded
    for `rx`'s printer × formulation (a calibration made since, or records that cannot
    be read): its tablet is then not the one a batch would make today."""
    if previous.formulation is None:
        return True
    try:
        factor = recorded_mass_factor(rx.printer, rx.formulation)
        if factor is None:
            from dosecraft.formulary import get_formulation

            factor = get_formulation(rx.formulation).mass_factor
    except DosecraftError:
        return True
    return factor != previous.formulation.mass_factor
