"""Exports of one job result: G-code plates, STL, 3MF and the compounding worksheet PDF.

Qt-free; every file is written by the core's writers (atomically), from the result as
computed — nothing is recomputed for export.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

from dosecraft.batch.rows import result_row
from dosecraft.gcode.job import plate_paths, save_plates
from dosecraft.io.atomic import check_output_file
from dosecraft.io.meshes import export_3mf, export_stl
from dosecraft.pipeline import JobResult
from dosecraft.reports.batchinfo import LOT_PATTERN, BatchInfo, FormulationLot
from dosecraft.reports.worksheet import write_worksheet

__all__ = ["ExportError", "batch_info", "export_gcode", "export_mesh", "export_worksheet",
           "plate_paths", "worksheet_row"]


class ExportError(ValueError):
    """The result has nothing to export of the asked kind (e.g. a failed job)."""


def _output_file(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    """`path` checked as the core checks every output (a file dialog can return a folder
    or any name typed), its problem as an `ExportError`."""
    try:
        return check_output_file(path, suffixes)
    except (OSError, ValueError) as exc:
        raise ExportError(str(exc)) from None


def export_gcode(result: JobResult, path: str | os.PathLike,
                 records: Path | None = None, operator: str = "") -> list[Path]:
    """Write every plate's G-code; returns the files written (one per plate).

    With `records`, the files are also recorded as a batch of one (`batch.single`) by
    `operator`; when the records refuse, no file is left.
    """
    if not result.ok or not result.plates:
        raise ExportError("there is no verified G-code to export: compute the prescription "
                          "and make sure the dose check passed")
    if records is None:
        return save_plates(result.plates, path)
    from dosecraft.batch.single import save_and_record
    from dosecraft.errors import RecordsError

    try:
        files, _ = save_and_record(result, path, records, operator, "dosecraft app")
    except RecordsError as exc:
        raise ExportError(f"records: {exc}; no G-code written") from exc
    return files


def export_mesh(result: JobResult, path: str | os.PathLike) -> Path:
    """Write the tablet solid as STL or 3MF, by the file's suffix."""
    if result.mesh is None:
        raise ExportError("there is no tablet solid to export: compute the prescription")
    out = _output_file(path, (".stl", ".3mf"))
    if out.suffix.lower() == ".stl":
        return export_stl(result.mesh, out)
    if out.suffix.lower() == ".3mf":
        return export_3mf(result.mesh, out)
    suffix = out.suffix.lower()
    raise ExportError(f"unknown mesh type '{suffix}'; use .stl or .3mf")


def worksheet_row(result: JobResult) -> dict[str, Any]:
    """The batch.json row of one result, with what the worksheet prints beyond it."""
    row = result_row(1, result)
    # result_row does not carry these yet, but the worksheet prints them (see the report).
    row["patient_ref"] = result.prescription.patient_ref
    if result.plates:
        shas = [p.program.sha256 for p in result.plates]
        row["gcode_sha256"] = shas[0]
        row["gcode_files"] = [{"path": p.name, "sha256": s, "tablets": list(plate.program.objects)}
                              for p, s, plate in zip(plate_paths(f"{result.rx_id}.gcode",
                                                                 len(shas)),
                                                     shas, result.plates, strict=True)]
    return row


def batch_info(result: JobResult, operator: str, lot: str = "",
               expiry: dt.date | None = None, source_file: str = "",
               date: dt.date | None = None) -> BatchInfo:
    """The worksheet's batch facts for a single prescription (the rx_id is the batch ID).

    Without a lot the worksheet prints its "record the lot" warning, as it should.
    """
    rx = result.prescription
    formulations: tuple[FormulationLot, ...] = ()
    if lot:
        if expiry is None:  # never invent one: the sheet would call the lot in date
            raise ExportError(f"lot '{lot}' needs its expiry date (from the lot's label)")
        if expiry < (date or dt.date.today()):  # as a batch refuses it
            raise ExportError(f"lot '{lot}' expired on {expiry.isoformat()}; refusing a "
                              "worksheet that releases tablets made from an expired lot")
        if not re.fullmatch(LOT_PATTERN, lot):
            raise ExportError(f"lot '{lot}': use 1–24 letters, digits and - _ . / as on the "
                              "label, starting with a letter or digit")
        name = result.formulation.name if result.formulation is not None else ""
        formulations = (FormulationLot(formulation_id=rx.formulation, name=name, lot=lot,
                                       expiry=expiry),)
    return BatchInfo(batch_id=rx.rx_id, date=date or dt.date.today(), operator=operator,
                     source_file=source_file, formulations=formulations,
                     printers=(rx.printer,))


def export_worksheet(result: JobResult, path: str | os.PathLike, info: BatchInfo) -> Path:
    """Write the compounding worksheet PDF of one prescription."""
    return write_worksheet(_output_file(path, (".pdf",)), info, [worksheet_row(result)])
