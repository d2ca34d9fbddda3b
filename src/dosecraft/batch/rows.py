"""One batch.json row per prescription, from a job result or a reading error."""

from typing import Any

from dosecraft.io.prescriptions import RowResult
from dosecraft.pipeline import JobResult


def error_row(row: RowResult) -> dict[str, Any]:
    """Row for a prescription that could not even be read."""
    return {"row": row.row, "rx_id": row.rx_id, "status": "error",
            "error": str(row.error), "target_dose_mg": None, "design": None}


def result_row(row_number: int, result: JobResult) -> dict[str, Any]:
    """Row for a prescription that went through the pipeline (successfully or not)."""
    rx = result.prescription
    out: dict[str, Any] = {
        "row": row_number,
        "rx_id": rx.rx_id,
        "patient_ref": rx.patient_ref,
        "status": "ok" if result.ok else "error",
        "error": None if result.ok else str(result.error),
        "drug": rx.drug,
        "formulation": rx.formulation,
        "printer": rx.printer,
        "quantity": rx.quantity,
        "target_dose_mg": round(rx.unit_dose_mg, 6),
        # the calibrated factor the G-code was written with (QC and calibration need it)
        "mass_factor": result.formulation.mass_factor if result.formulation else None,
        "design": result.design.to_dict() if result.design else None,
        "dose_check": result.dose_check.to_dict() if result.dose_check else None,
        "warnings": list(result.warnings),
        "gcode": None,
        "dose_mg_gcode": None,
        "release": result.release.to_dict() if result.release else None,
    }
    if result.plates:
        doses = result.gcode_dose_by_tablet_mg
        out["dose_mg_gcode"] = round(result.dose_check.gcode_mg, 6) if result.dose_check \
            and result.dose_check.gcode_mg is not None else None
        out["dose_mg_gcode_by_tablet"] = {k: round(v, 6) for k, v in doses.items()}
        out["print_time_min"] = round(sum(p.readout.print_time_s for p in result.plates) / 60,
                                      2)
    return out
