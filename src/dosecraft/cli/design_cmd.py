"""`dosecraft design`: one tablet from flags or from a row of a prescriptions file."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dosecraft.cli.output import console, err_console, fail
from dosecraft.cli.rx_options import (
    INPUT_ERRORS,
    AgeOpt,
    DoseOpt,
    DosePerKgOpt,
    DrugOpt,
    FormulationOpt,
    FromOpt,
    InfillOpt,
    MeshOpt,
    PrinterOpt,
    QuantityOpt,
    RecordsOpt,
    ReleaseOpt,
    RowOpt,
    RxIdOpt,
    ShapeOpt,
    TargetT80Opt,
    WeightOpt,
    calibrated_factor,
    prescription_from_options,
    raw_prescription,
)
from dosecraft.errors import DosecraftError
from dosecraft.model.enums import ReleaseKind
from dosecraft.number_text import signed_percent
from dosecraft.pipeline import Job, run_job


def design_table(row: dict[str, Any]) -> Table:
    """Rich table of one design row (as in batch.json)."""
    table = Table(title=f"Tablet design — {row['rx_id']}", show_header=False)
    design = row["design"]
    table.add_row("target dose", f"{row['target_dose_mg']:.4f} mg")
    table.add_row("shape", design["shape"])
    dims = ", ".join(f"{k} {v:.2f}" for k, v in design["dimensions_mm"].items())
    table.add_row("dimensions (mm)", dims)
    table.add_row("infill", f"{design['infill']['density']:.0%} {design['infill']['pattern']}"
                  f" ({design['infill']['reason']})")
    table.add_row("envelope volume", f"{design['volume_mm3']:.1f} mm³")
    table.add_row("deposited volume", f"{design['deposited_volume_mm3']:.1f} mm³")
    table.add_row("tablet mass", f"{design['mass_mg']:.1f} mg")
    if row.get("mass_factor") is not None:
        table.add_row("mass factor", f"{row['mass_factor']:.4g} ("
                      + ("printer × formulation calibration" if row.get("mass_factor_source")
                         == "records" else "formulation default; not calibrated") + ")")
    table.add_row("SA/V", f"{design['sa_v_per_mm']:.3f} mm⁻¹")
    check = row.get("dose_check") or {}
    for key, label in (("design_mg", "design dose"), ("toolpath_mg", "toolpath dose"),
                       ("gcode_mg", "G-code dose (re-read)")):
        if check.get(key) is not None:
            table.add_row(label, f"{check[key]:.4f} mg")
    if check:
        verdict = "[green]PASS[/]" if check["passed"] else "[red]FAIL[/]"
        table.add_row("dose check", f"{verdict} ({signed_percent(check['relative_error'], 3)})")
    release = row.get("release")
    if release:
        table.add_row("release", f"{release['model']}: t50 {release['t50_min'] or '—'} min, "
                      f"t80 {release['t80_min'] or '—'} min")
    if row.get("print_time_min") is not None:
        table.add_row("print time", f"{row['print_time_min']:.1f} min")
    for warning in row.get("warnings") or []:
        table.add_row("[yellow]warning[/]", warning)
    return table


def design(
    drug: DrugOpt = None,
    formulation: FormulationOpt = None,
    printer: PrinterOpt = None,
    dose_mg: DoseOpt = None,
    dose_mg_per_kg: DosePerKgOpt = None,
    weight_kg: WeightOpt = None,
    age_years: AgeOpt = None,
    shape: ShapeOpt = None,
    mesh_path: MeshOpt = None,
    release: ReleaseOpt = ReleaseKind.IMMEDIATE,
    target_t80_min: TargetT80Opt = None,
    infill: InfillOpt = None,
    quantity: QuantityOpt = "1",
    rx_id: RxIdOpt = "design",
    from_file: FromOpt = None,
    row: RowOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    gcode_out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="Write the verified G-code here (NAME.gcode, then "
        "NAME.plate2.gcode … when the tablets need several plates).")] = None,
    records: RecordsOpt = None,
    operator: Annotated[str | None, typer.Option(
        help="Who writes the G-code, for the records (default: the login name).")] = None,
) -> None:
    """Design one tablet, from flags or from a row of a prescriptions file; with -o, write
    its verified G-code (only when every tablet's re-read dose passed the check)."""
    if gcode_out is not None and not gcode_out.expanduser().parent.is_dir():
        fail(f"output folder '{gcode_out.expanduser().parent}' does not exist; create it "
             "first")
    raw = raw_prescription(
        rx_id=rx_id, drug=drug, formulation=formulation, printer=printer, dose_mg=dose_mg,
        dose_mg_per_kg=dose_mg_per_kg, weight_kg=weight_kg, age_years=age_years, shape=shape,
        mesh_path=mesh_path, release=release, target_t80_min=target_t80_min, infill=infill,
        quantity=quantity)
    rx = None
    try:
        rx = prescription_from_options(raw, from_file, row)
    except DosecraftError as exc:
        fail(str(exc))
    assert rx is not None
    from dosecraft.batch.rows import result_row

    factor = calibrated_factor(rx, records)
    result = run_job(Job(prescription=rx, mass_factor=factor))
    out = result_row(1, result)
    out["mass_factor_source"] = "records" if factor is not None else "formulation"
    if as_json:
        console.print_json(json.dumps(out))
    elif result.ok:
        console.print(design_table(out))
    if not result.ok:
        fail(str(result.error), code=2 if isinstance(result.error, INPUT_ERRORS) else 1)
    if gcode_out is not None:
        from dosecraft.batch.single import save_and_record
        from dosecraft.records import default_records_path
        from dosecraft.records.db import default_actor

        if result.dose_check is None or not result.dose_check.passed:
            fail("the dose check did not pass; no G-code written", code=1)
        where = records or default_records_path()
        try:
            files, batch_id = save_and_record(result, gcode_out.expanduser(), where,
                                              operator or default_actor(), "dosecraft design")
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            fail(f"cannot write '{gcode_out}': {reason}")
        except DosecraftError as exc:  # the records refused: no file is left behind
            fail(f"records: {exc}; no G-code written", code=1)
        out = err_console if as_json else console
        for file in files:
            out.print(f"G-code: {file}", highlight=False)
        out.print(f"records: {where} (batch {batch_id})", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``dosecraft design`` to the application."""
    app.command("design")(design)
