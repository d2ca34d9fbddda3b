"""Build one prescription from command-line flags or from a row of a file."""

from pathlib import Path
from typing import Any

from dosecraft.errors import InvalidPrescription
from dosecraft.io.prescriptions import parse_row, read_prescriptions
from dosecraft.model.prescription import Prescription


def prescription_from_options(raw: dict[str, Any], from_file: Path | None,
                              row: str | None) -> Prescription:
    """The prescription that `dosecraft design` and `dosecraft release predict` build from
    their flags, or from the row `row` of a prescriptions file.

    Raises
    ------
    InvalidPrescription
        A flag or the chosen row is invalid, or ``row`` is not in the file.
    """
    if from_file is None:
        return parse_row({k: v for k, v in raw.items() if v is not None})
    rows = read_prescriptions(from_file)
    picked = [r for r in rows if row is None or r.rx_id == row]
    if not picked:
        raise InvalidPrescription(f"no row with rx_id {row!r} in {from_file}; rx_ids: "
                                  f"{', '.join(str(r.rx_id) for r in rows)}")
    if picked[0].error is not None:
        raise picked[0].error
    assert picked[0].prescription is not None
    return picked[0].prescription
