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
        "status": "ok" if result.ok else "error",
        "error": None if result.ok else str(result.error),
        "drug": rx.drug,
        "formulation": rx.formulation,
        "printer": rx.printer,
        "quantity": rx.quantity,
        "target_dose_mg": round(rx.unit_dose_mg, 6),
        "design": result.design.to_dict() if result.design else None,
        "dose_check": result.dose_check.to_dict() if result.dose_check else None,
        "warnings": list(result.warnings),
    }
    return out
