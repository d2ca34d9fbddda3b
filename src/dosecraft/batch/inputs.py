"""A batch's input: the prescriptions file read row by row, plus the checks only a batch needs.

`read_prescriptions` validates each row on its own. A batch also writes one file per
prescription, so two more rules apply here:

- rx_ids that differ only in letter case are refused: on a case-insensitive file system
  (macOS, Windows) their G-code files would overwrite each other, and Klipper matches
  object names case-insensitively, so their tablets would share a label on a plate.
- rx_ids ending in ``.plate<N>`` are refused: that suffix names a prescription's extra
  plates (``<rx_id>.plate2.gcode``), so such an rx_id could overwrite another's file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from dosecraft.constants import RX_ID_PATTERN
from dosecraft.errors import InvalidPrescription
from dosecraft.io.prescriptions import MAX_FILE_BYTES, RowResult, read_prescriptions

_RESERVED_SUFFIX = re.compile(r"\.plate\d+$", re.IGNORECASE)
_RX_ID = re.compile(RX_ID_PATTERN)


@dataclass(frozen=True)
class BatchInput:
    """Rows of a prescriptions file and the file's identity.

    Attributes
    ----------
    path : the file. sha256 : SHA-256 of its bytes. rows : one `RowResult` per input row
    (FHIR: per ``MedicationRequest`` entry), in file order. fhir : the file is a FHIR Bundle.
    """

    path: Path
    sha256: str
    rows: tuple[RowResult, ...]
    fhir: bool = False

    @property
    def valid(self) -> list[RowResult]:
        """Rows that hold a prescription, in file order."""
        return [r for r in self.rows if r.ok and r.prescription is not None]


def _identity(path: Path) -> tuple[str, bool]:
    """SHA-256 of the file and whether it is a FHIR Bundle (read once, size-capped)."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    fhir = False
    if b'"Bundle"' in data:
        from dosecraft.io.fhir import is_fhir_bundle

        fhir = is_fhir_bundle(data.decode("utf-8-sig", errors="replace"))
    return hashlib.sha256(data).hexdigest(), fhir


def batch_row_checks(rows: list[RowResult]) -> list[RowResult]:
    """Apply the batch-only rules (see the module docstring) to already-read rows."""
    seen: dict[str, RowResult] = {}
    out: list[RowResult] = []
    for r in rows:
        if not r.ok or r.prescription is None:
            out.append(r)
            continue
        rx_id = r.prescription.rx_id
        message = None
        if _RESERVED_SUFFIX.search(rx_id):
            message = (f"rx_id = {rx_id!r}: the suffix '.plate<N>' is reserved for a "
                       "prescription's extra G-code plates; rename the prescription")
        elif (first := seen.get(rx_id.casefold())) is not None:
            message = (f"rx_id = {rx_id!r} differs from row {first.row}'s "
                       f"{first.rx_id!r} only in letter case; output files and printer "
                       "object names would collide — give each prescription its own ID")
        if message is not None:
            out.append(replace(r, prescription=None, error=InvalidPrescription(
                message, row=r.row, field="rx_id", value=rx_id)))
            continue
        seen[rx_id.casefold()] = r
        out.append(r)
    return out


def read_batch_input(path: str | os.PathLike[str], *,
                     default_printer: str | None = None) -> BatchInput:
    """Read a CSV, JSON or FHIR R4 Bundle file for a batch.

    Parameters
    ----------
    path : the prescriptions file.
    default_printer : printer profile for FHIR requests that do not name one.

    Raises
    ------
    PrescriptionFileError
        When the file as a whole cannot be read (see `read_prescriptions`).
    """
    p = Path(path)
    rows = read_prescriptions(p, default_printer=default_printer)
    sha, fhir = _identity(p)
    return BatchInput(p, sha, tuple(batch_row_checks(list(rows))), fhir)


def record_keys(rows: list[RowResult] | tuple[RowResult, ...]) -> dict[int, str]:
    """Row number → the key the row is recorded under in the records.

    A prescription is recorded under its rx_id. A row that could not be read is recorded
    under its rx_id only when that is a valid ID no other row uses, else under
    ``row-<N>``: a duplicate or path-like ID must never overwrite another row's record.
    Valid rows are served first so that they always keep their own ID.
    """
    keys: dict[int, str] = {}
    taken: set[str] = set()
    for r in rows:
        if r.ok and r.prescription is not None:
            keys[r.row] = r.prescription.rx_id
            taken.add(r.prescription.rx_id)
    for r in rows:
        if r.row in keys:
            continue
        rx = r.rx_id
        key = rx if rx and _RX_ID.match(rx) and rx not in taken else f"row-{r.row}"
        while key in taken:  # an rx_id may itself look like 'row-7'
            key += "~"
        keys[r.row] = key
        taken.add(key)
    return keys
