"""Read prescriptions from CSV and JSON, one result per row, never stopping at a bad row."""

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dosecraft.errors import InvalidPrescription
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS, Prescription

#: Optional columns beyond the standard set.
OPTIONAL_COLUMNS: tuple[str, ...] = ("mesh_path",)
REQUIRED_COLUMNS: tuple[str, ...] = ("rx_id", "drug", "formulation", "printer")
#: A compounding run is at most thousands of rows; refuse files far beyond that.
MAX_FILE_BYTES = 20 * 1024 * 1024


class PrescriptionFileError(InvalidPrescription):
    """The file as a whole can't be read (not text, no header, unknown columns...)."""


@dataclass(frozen=True)
class RowResult:
    """One input row: its 1-based data row number, its rx_id if readable, and either the
    validated prescription or the error that names the field and value."""

    row: int
    rx_id: str | None
    prescription: Prescription | None
    error: InvalidPrescription | None

    @property
    def ok(self) -> bool:
        return self.prescription is not None


#: Plain-language rules for fields checked by a pattern (pydantic would show the regex).
PATTERN_HINTS: dict[str, str] = {
    "rx_id": "use 1–64 letters, digits, '-', '_' and '.', not starting with '.' (no spaces "
             "or slashes)",
    "patient_ref": "use letters, digits and - _ . : # (no spaces, up to 64 characters)",
    "formulation": "use a formulation ID such as paracetamol_pva_fdm (see dosecraft "
                   "formulary list)",
    "printer": "use a printer profile ID such as generic_fdm_175 (see dosecraft profiles "
               "list)",
}


#: Unit, and what the lower and the upper limit mean, for the numeric fields' range errors
#: (pydantic would say only "Input should be less than or equal to 5000").
RANGE_HINTS: dict[str, tuple[str, str, str]] = {
    "dose_mg": ("mg", "a dose per tablet", "per tablet; more is likely a unit slip (g, µg?) "
                                           "or belongs on several tablets"),
    "dose_mg_per_kg": ("mg/kg", "a dose per kg", "per tablet; more is likely a unit slip"),
    "weight_kg": ("kg", "a premature neonate", "a bariatric adult"),
    "age_years": ("years", "", ""),
    "target_t80_min": ("min", "time to 80 % released", "24 h"),
    "infill": ("", "10 % infill; below it a tablet does not hold together",
               "solid; infill is a fraction: 0.3 = 30 %"),
    "quantity": ("tablets", "", "one run of a prescription"),
}
_RANGE_WORDS = {"greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
                "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}


def _range_message(field: str, err: Mapping[str, Any]) -> str | None:
    """'must be at most 5000 mg (per tablet; …)' for a numeric range error, else None."""
    words = _RANGE_WORDS.get(str(err.get("type")))
    if words is None or field not in RANGE_HINTS:
        return None
    limit = (err.get("ctx") or {}).get(words[1])
    if limit is None:
        return None
    unit, low, high = RANGE_HINTS[field]
    note = low if words[1] in ("gt", "ge") else high
    return (f"must be {words[0]} {limit:g}{' ' + unit if unit else ''}"
            + (f" ({note})" if note else ""))


def format_validation_error(exc: ValidationError, row: int | None,
                            raw: Mapping[str, Any]) -> InvalidPrescription:
    """Turn pydantic's errors into one message naming each field and its value."""
    parts = []
    errors: list[tuple[str, object, str]] = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        field = str(loc[0]) if loc else ""
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "string_pattern_mismatch" and field in PATTERN_HINTS:
            msg = PATTERN_HINTS[field]
        msg = _range_message(field, err) or msg
        if err.get("type") == "missing":  # pydantic's input is then the whole row
            msg = "not given; " + PATTERN_HINTS.get(field, "it is required")
            errors.append((field, None, msg))
            parts.append(f"{field}: {msg}")
            continue
        value = raw.get(field, err.get("input")) if field else None
        errors.append((field, value, msg))
        parts.append(f"{field} = {value!r}: {msg}" if field else msg)
    first_field, first_value, _ = errors[0] if errors else ("", None, "")
    return InvalidPrescription("; ".join(parts), row=row, field=first_field or None,
                               value=first_value, errors=tuple(errors))


def parse_row(raw: Mapping[str, Any], row: int | None = None,
              base_dir: Path | None = None) -> Prescription:
    """Validate one row (a mapping of column → cell); empty cells mean 'not given'."""
    cleaned = {k: (None if isinstance(v, str) and v.strip() == "" else v)
               for k, v in raw.items()}
    cleaned = {k: v for k, v in cleaned.items() if v is not None}
    if base_dir is not None and cleaned.get("mesh_path"):
        mesh = Path(str(cleaned["mesh_path"]))
        cleaned["mesh_path"] = str(mesh if mesh.is_absolute() else base_dir / mesh)
    try:
        return Prescription(**cleaned)
    except ValidationError as exc:
        raise format_validation_error(exc, row, raw) from None


def _check_columns(columns: Iterable[str]) -> None:
    cols = [c.strip() for c in columns]
    known = set(PRESCRIPTION_COLUMNS) | set(OPTIONAL_COLUMNS)
    unknown = [c for c in cols if c not in known]
    if unknown:
        hints = []
        for c in unknown:
            close = get_close_matches(c, sorted(known), n=1)
            hints.append(f"'{c}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise PrescriptionFileError(
            f"unknown column(s) {', '.join(hints)}; the columns are: "
            f"{', '.join(PRESCRIPTION_COLUMNS + OPTIONAL_COLUMNS)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise PrescriptionFileError(
            f"missing column(s) {', '.join(missing)}; the columns are: "
            f"{', '.join(PRESCRIPTION_COLUMNS + OPTIONAL_COLUMNS)}")
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise PrescriptionFileError(f"column(s) {', '.join(dupes)} appear more than once")


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PrescriptionFileError(f"cannot read '{path}': {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise PrescriptionFileError(
            f"'{path.name}' is {size} bytes; the limit is {MAX_FILE_BYTES} bytes")
    data = path.read_bytes()
    if b"\x00" in data:
        raise PrescriptionFileError(f"'{path.name}' is a binary file, not CSV or JSON text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PrescriptionFileError(
            f"'{path.name}' is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _rows_with_ids(records: list[tuple[int, Mapping[str, Any]]],
                   base_dir: Path | None) -> list[RowResult]:
    results: list[RowResult] = []
    seen: dict[str, int] = {}
    for row, raw in records:
        rx_id = raw.get("rx_id")
        rx_id = str(rx_id).strip() if rx_id not in (None, "") else None
        try:
            # An ID is taken by its first row even when that row is invalid: otherwise a
            # later row with the same ID would be made, and every message and label keyed
            # by the ID would mix the two prescriptions.
            if rx_id is not None and rx_id in seen:
                raise InvalidPrescription(
                    f"rx_id = {rx_id!r}: duplicate of row {seen[rx_id]}; every rx_id "
                    "must be unique in a file", row=row, field="rx_id", value=rx_id)
            if rx_id is not None:
                seen[rx_id] = row
            rx = parse_row(raw, row, base_dir)
            results.append(RowResult(row, rx.rx_id, rx, None))
        except InvalidPrescription as exc:
            results.append(RowResult(row, rx_id, None, exc))
    return results


def read_csv_text(text: str, base_dir: Path | None = None) -> list[RowResult]:
    """Parse CSV text (header row with the standard column names)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise PrescriptionFileError("the file is empty: it needs a header row with the "
                                    f"columns {', '.join(PRESCRIPTION_COLUMNS)}") from None
    except csv.Error as exc:
        raise PrescriptionFileError(f"not a readable CSV file: {exc}") from None
    header = [h.strip() for h in header]
    _check_columns(header)
    records: list[tuple[int, Mapping[str, Any]]] = []
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(c.strip() for c in cells):
                continue  # blank line
            if len(cells) != len(header):
                records.append((number, {"__cells__": len(cells)}))
                continue
            records.append((number, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise PrescriptionFileError(f"not a readable CSV file: {exc}") from None
    results = []
    for row_result in _rows_with_ids(
            [(n, r) for n, r in records if "__cells__" not in r], base_dir):
        results.append(row_result)
    for n, r in records:
        if "__cells__" in r:
            results.append(RowResult(n, None, None, InvalidPrescription(
                f"has {r['__cells__']} cells but the header has {len(header)} columns",
                row=n)))
    return sorted(results, key=lambda r: r.row)


def read_json_text(text: str, base_dir: Path | None = None) -> list[RowResult]:
    """Parse JSON: a list of prescription objects, or {"prescriptions": [...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PrescriptionFileError(f"not valid JSON: {exc}") from None
    if isinstance(data, dict) and "prescriptions" in data:
        data = data["prescriptions"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise PrescriptionFileError("JSON must be a list of prescriptions or "
                                    "{\"prescriptions\": [...]}")
    records: list[tuple[int, Mapping[str, Any]]] = []
    bad: list[RowResult] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            bad.append(RowResult(number, None, None, InvalidPrescription(
                f"is {type(item).__name__}, not a prescription object", row=number)))
        else:
            records.append((number, item))
    return sorted(_rows_with_ids(records, base_dir) + bad, key=lambda r: r.row)


def read_prescriptions(path: str | os.PathLike, *,
                       default_printer: str | None = None) -> list[RowResult]:
    """Read a CSV, JSON or FHIR R4 Bundle prescriptions file; a row that fails carries its
    error. A JSON file with ``"resourceType": "Bundle"`` goes to `dosecraft.io.fhir`, whose
    requests print on `default_printer` unless they name a printer.

    Raises
    ------
    PrescriptionFileError
        When the file as a whole is unreadable (missing, binary, not UTF-8, no header,
        unknown or missing columns, invalid JSON).
    """
    p = Path(path)
    text = _read_text(p)
    suffix = p.suffix.lower()
    if suffix == ".json" or (suffix not in (".csv", ".tsv", ".txt")
                             and text.lstrip().startswith(("[", "{"))):
        from dosecraft.io.fhir import is_fhir_bundle, read_fhir_text

        if is_fhir_bundle(text):
            return read_fhir_text(text, default_printer=default_printer, base_dir=p.parent)
        return read_json_text(text, p.parent)
    return read_csv_text(text, p.parent)
