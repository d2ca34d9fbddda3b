"""Prescription form ↔ core: raw form values, validation through `parse_row`, JSON files.

Qt-free so it is tested without widgets. Validation is the core's (`parse_row` and the
pydantic model); this module only spreads its messages over the form's fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dosecraft.errors import InvalidPrescription
from dosecraft.io.prescriptions import OPTIONAL_COLUMNS, parse_row
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS, Prescription

#: Every key the form edits: the CSV columns, then the optional ones.
FORM_FIELDS: tuple[str, ...] = PRESCRIPTION_COLUMNS + OPTIONAL_COLUMNS
#: Where an error that names no field (a whole-prescription rule) is shown.
GENERAL = ""


class PrescriptionErrors(Exception):
    """A form that does not validate: messages by field (`GENERAL` for the whole form)."""

    def __init__(self, errors: Mapping[str, str], summary: str) -> None:
        super().__init__(summary)
        self.errors = dict(errors)


def field_errors(exc: InvalidPrescription) -> dict[str, str]:
    """Messages by field name from the error `parse_row` raised (its `errors` list)."""
    out: dict[str, str] = {}
    for name, _value, msg in exc.errors:
        name = name or GENERAL
        if name == GENERAL and "mesh_path" in msg:
            name = "mesh_path"
        out[name] = f"{out[name]}; {msg}" if name in out else msg
    return out


def validate(raw: Mapping[str, Any]) -> Prescription:
    """The prescription the form holds.

    Raises
    ------
    PrescriptionErrors
        With a message per field; nothing is computed for an invalid form.
    """
    try:
        return parse_row(raw)
    except InvalidPrescription as exc:
        raise PrescriptionErrors(field_errors(exc), str(exc)) from exc


def to_raw(rx: Prescription | Mapping[str, Any]) -> dict[str, str]:
    """Form values (text per field, '' when not given) from a prescription or a mapping."""
    data = rx.model_dump(mode="json") if isinstance(rx, Prescription) else dict(rx)
    out: dict[str, str] = {}
    for name in FORM_FIELDS:
        value = data.get(name)
        if value is None:
            out[name] = ""
        elif isinstance(value, float) and value.is_integer() and name != "infill":
            out[name] = str(int(value))
        else:
            out[name] = str(value)
    return out


def to_json_dict(rx: Prescription) -> dict[str, Any]:
    """The prescription as a JSON object with the CSV column keys (null = not given)."""
    data = rx.model_dump(mode="json")
    out = {name: data.get(name) for name in PRESCRIPTION_COLUMNS}
    if rx.mesh_path:
        out["mesh_path"] = rx.mesh_path
    return out


def save_json(path: str | os.PathLike, rx: Prescription) -> Path:
    """Write one prescription as JSON (same keys as the CSV columns)."""
    from dosecraft.io.atomic import write_atomic

    text = json.dumps(to_json_dict(rx), indent=2, ensure_ascii=False) + "\n"
    return write_atomic(path, text)


def load_json(path: str | os.PathLike) -> dict[str, str]:
    """Form values from a prescription JSON file (the first one of a list).

    The values are not validated here, so an invalid file still fills the form and its
    errors show next to the fields.

    Raises
    ------
    ValueError
        The file is not JSON or holds no prescription object.
    """
    name = Path(path).name
    batch_hint = (f"'{name}' is a prescriptions file for a batch: open it with File › Open "
                  "batch file (the Batch tab), where any row opens in the designer")
    if Path(path).suffix.lower() in (".csv", ".tsv", ".txt"):
        raise ValueError(batch_hint)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read '{name}' as a prescription JSON file: {exc}") from None
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        raise ValueError(batch_hint.replace("prescriptions file", "FHIR bundle"))
    if isinstance(data, dict) and "prescriptions" in data:
        data = data["prescriptions"]
    if isinstance(data, list) and len(data) > 1:
        raise ValueError(batch_hint)
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, dict):
        raise ValueError(f"'{Path(path).name}' holds no prescription object")
    unknown = sorted(set(data) - set(FORM_FIELDS))
    if unknown:
        raise ValueError(f"'{Path(path).name}' has unknown key(s) {', '.join(unknown)}; "
                         f"the keys are: {', '.join(FORM_FIELDS)}")
    return to_raw(data)
