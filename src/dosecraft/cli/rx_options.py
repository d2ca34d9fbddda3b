"""Prescription flags shared by `dosecraft design` and `dosecraft release predict`, and
building one prescription from them or from a row of a file.

The flags are typer ``Annotated`` aliases so both commands show the same help text; values
stay strings until `parse_row`, which names a bad value with its unit and what would work.
"""

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from dosecraft.cli.output import fail
from dosecraft.errors import (
    DosecraftError,
    FormularyError,
    InvalidPrescription,
    ProfileError,
    ShapeError,
    UnknownFormulation,
)
from dosecraft.io.prescriptions import parse_row, read_prescriptions
from dosecraft.model.enums import ReleaseKind, ShapeKind
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS, Prescription

#: Errors that mean "the input is wrong" (exit 2) rather than "this tablet cannot be made".
INPUT_ERRORS = (InvalidPrescription, UnknownFormulation, FormularyError, ProfileError,
                ShapeError)

DrugOpt = Annotated[str | None, typer.Option(help="Drug name, e.g. paracetamol.")]
FormulationOpt = Annotated[str | None, typer.Option(help="Formulation ID.")]
PrinterOpt = Annotated[str | None, typer.Option(help="Printer profile ID.")]
DoseOpt = Annotated[str | None, typer.Option(help="Dose per tablet, mg.")]
DosePerKgOpt = Annotated[str | None, typer.Option(help="Dose per kg, mg/kg.")]
WeightOpt = Annotated[str | None, typer.Option(help="Patient weight, kg.")]
AgeOpt = Annotated[str | None, typer.Option(help="Patient age, years.")]
ShapeOpt = Annotated[ShapeKind | None, typer.Option(help="Tablet shape.")]
MeshOpt = Annotated[Path | None, typer.Option(help="STL/3MF for shape 'mesh'.")]
ReleaseOpt = Annotated[ReleaseKind, typer.Option(help="Release wish.")]
TargetT80Opt = Annotated[str | None, typer.Option(help="Target t80, minutes.")]
InfillOpt = Annotated[str | None, typer.Option(help="Infill 0.1–1.0.")]
QuantityOpt = Annotated[str, typer.Option(help="Number of tablets.")]
RxIdOpt = Annotated[str, typer.Option(help="Prescription ID.")]
FromOpt = Annotated[Path | None, typer.Option("--from", help="Prescriptions file.")]
RowOpt = Annotated[str | None, typer.Option(help="rx_id of the row in --from.")]
RecordsOpt = Annotated[Path | None, typer.Option(
    "--records", help="Records database whose latest printer × formulation calibration "
    "(mass factor) sizes the tablet, as in a batch (default: records.sqlite in the user "
    "data folder).")]


def raw_prescription(**flags: Any) -> dict[str, Any]:
    """The prescription flags as a raw row for `parse_row` (enums and paths as text).

    Parameters
    ----------
    **flags : the values of the options above, by prescription column name
        (``shape``, ``mesh_path``, ``release`` may be enum/Path objects or None).
    """
    raw = dict(flags)
    for key in ("shape", "release"):
        if raw.get(key) is not None:
            raw[key] = raw[key].value
    if raw.get("mesh_path") is not None:
        raw["mesh_path"] = str(raw["mesh_path"])
    return raw


def _with_flag_names(exc: InvalidPrescription) -> InvalidPrescription:
    """The same error with fields named as their flags (``dose_mg`` → ``--dose-mg``).

    Names with an underscore are replaced wherever they stand; one-word names (``drug``,
    ``shape``, ...) only where they head a problem (``drug = …``, ``printer: …``), so the
    prose around them is left alone.
    """
    message = str(exc)
    for field in sorted((*PRESCRIPTION_COLUMNS, "mesh_path"), key=len, reverse=True):
        flag = "--" + field.replace("_", "-")
        tail = r"\b" if "_" in field else r"(?= = |: )"
        message = re.sub(rf"(?<![\w-]){field}{tail}", flag, message)
    return InvalidPrescription(message, row=exc.row, field=exc.field, value=exc.value,
                               errors=exc.errors)


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
        try:
            return parse_row({k: v for k, v in raw.items() if v is not None})
        except InvalidPrescription as exc:
            raise _with_flag_names(exc) from None
    rows = read_prescriptions(from_file)
    if row is None and len(rows) > 1:
        raise InvalidPrescription(f"{from_file} has {len(rows)} prescriptions; choose one with "
                                  f"--row (rx_ids: {', '.join(str(r.rx_id) for r in rows)})")
    picked = [r for r in rows if row is None or r.rx_id == row]
    if not picked:
        raise InvalidPrescription(f"no row with rx_id {row!r} in {from_file}; rx_ids: "
                                  f"{', '.join(str(r.rx_id) for r in rows)}")
    if picked[0].error is not None:
        raise picked[0].error
    assert picked[0].prescription is not None
    return picked[0].prescription


def calibrated_factor(rx: Prescription, records: Path | None) -> float | None:
    """The recorded mass factor for the prescription's printer × formulation (None when
    never calibrated); exits 1 naming the file when the records cannot be read."""
    from dosecraft.records.calibrated import recorded_mass_factor

    try:
        return recorded_mass_factor(rx.printer, rx.formulation, records)
    except DosecraftError as exc:
        fail(f"records: {exc}", code=1)
