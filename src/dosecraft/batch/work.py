"""The prescription stage, as it runs in a worker (a pool process, a Dask worker, or inline).

A worker writes its own outputs, in this order, each atomically: the prescription's G-code
files, its toolpath for the plate stage, and last its row file ``rows/<rx_id>.json``. The
row file is the completion marker: if the process dies anywhere before it, the next run
finds no marker and does the prescription again (writing the same bytes); if the marker
exists, the G-code it names is complete. Workers therefore need the output folder on a
file system they share with the client (always true for local workers; for a remote Dask
cluster, a shared mount).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosecraft.batch.layout import dumps, gcode_names, row_file, toolpath_file
from dosecraft.batch.rows import result_row
from dosecraft.batch.toolpath_cache import save_toolpath
from dosecraft.gcode.job import design_sha256
from dosecraft.gcode.plate import toolpath_footprint
from dosecraft.io.atomic import write_atomic
from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import Job, JobResult, Stage, run_job


@dataclass(frozen=True)
class RowTask:
    """One prescription to run.

    Attributes
    ----------
    row : 1-based input row. prescription : the validated prescription.
    mass_factor : calibrated mass factor from the records (None: the formulation's own).
    fingerprint : digest of everything that determines the outputs (see `planning`).
    """

    row: int
    prescription: Prescription
    mass_factor: float | None
    fingerprint: str


@dataclass(frozen=True)
class WorkSettings:
    """What every task of a batch shares (picklable: it travels to the workers)."""

    out_dir: str
    until: Stage = Stage.RELEASE
    formulary_dirs: tuple[str, ...] = ()
    profile_dirs: tuple[str, ...] = ()
    #: Keep each toolpath for the plate stage (off when plates are not written).
    cache_toolpaths: bool = True

    def job(self, rx: Prescription, mass_factor: float | None,
            until: Stage | None = None) -> Job:
        return Job(prescription=rx, until=until or self.until, mass_factor=mass_factor,
                   formulary_dirs=self.formulary_dirs, profile_dirs=self.profile_dirs)


def _write_gcode(result: JobResult, out_dir: Path, row: dict[str, Any]) -> None:
    names = gcode_names(result.rx_id, len(result.plates))
    files = []
    for name, plate in zip(names, result.plates, strict=True):
        write_atomic(out_dir / "gcode" / name, plate.program.text)
        files.append({"path": f"gcode/{name}", "sha256": plate.program.sha256,
                      "bytes": len(plate.program.text.encode("utf-8")),
                      "tablets": list(plate.program.objects)})
    row["gcode"] = files[0]["path"]
    row["gcode_sha256"] = files[0]["sha256"]
    row["gcode_files"] = files


def run_row(task: RowTask, settings: WorkSettings) -> dict[str, Any]:
    """Run one prescription, write its outputs and its row file; return the row.

    Never raises. A pipeline error (bad dose, infeasible design…) is a row with status
    "error" and a row file, since running it again would give the same error. An
    unexpected exception is a row with ``"internal": True`` and *no* row file, so that
    the next run tries again (it may have been a full disk or a killed worker).
    """
    out = Path(settings.out_dir)
    rx = task.prescription
    try:
        result = run_job(settings.job(rx, task.mass_factor))
        row = result_row(task.row, result)
        row["fingerprint"] = task.fingerprint
        if result.ok and result.plates:
            assert result.design and result.formulation and result.profile and result.toolpath
            _write_gcode(result, out, row)
            row["design_sha256"] = design_sha256(result.design, result.formulation,
                                                 result.profile)
            row["footprint_mm"] = list(toolpath_footprint(result.toolpath))
            if settings.cache_toolpaths:
                save_toolpath(toolpath_file(out, rx.rx_id), result.toolpath)
        text = dumps(row)
        write_atomic(row_file(out, rx.rx_id), text)
        return row
    except Exception as exc:  # a bug or a full disk must not stop the other rows
        return {"row": task.row, "rx_id": rx.rx_id, "patient_ref": rx.patient_ref,
                "status": "error", "internal": True,
                "error": f"internal error ({type(exc).__name__}): {exc}",
                "drug": rx.drug, "formulation": rx.formulation, "printer": rx.printer,
                "quantity": rx.quantity, "target_dose_mg": round(rx.unit_dose_mg, 6),
                "design": None, "fingerprint": task.fingerprint}


def run_rows(tasks: list[RowTask], settings: WorkSettings) -> list[dict[str, Any]]:
    """Run a chunk of prescriptions one after the other (one scheduler task per chunk)."""
    rows = [run_row(t, settings) for t in tasks]
    release_memory()
    return rows


def release_memory() -> None:
    """Give freed heap back to the operating system after a chunk of work.

    Re-reading a plate of a hundred tablets builds a million small Python objects; once
    freed, glibc keeps those pages in the process, so each long-lived pool worker would
    stay at its largest plate's size (Dask's nanny trims its workers the same way). No
    ``gc.collect()``: on a worker's heap it costs 50 ms, and the big objects are freed by
    reference counting anyway.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


def die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (pool initializer).

    Without it, a worker of a batch killed with SIGKILL would finish its current
    prescription unobserved, and could race the re-run that the pharmacist starts next.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not glibc/musl: the worker just is not tied
        pass
