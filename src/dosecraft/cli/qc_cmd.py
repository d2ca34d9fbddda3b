"""``dosecraft qc`` (weighed tablets of a batch → mass accuracy and USP <905>) and
``dosecraft calibrate`` (weighed calibration tablets → a new mass factor)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dosecraft.cli.output import console, err_console
from dosecraft.cli.output import fail as _fail

if TYPE_CHECKING:
    from dosecraft.qc import WeightsFile
    from dosecraft.records import RecordStore


RecordsOption = Annotated[Path | None, typer.Option(
    "--records", help="Records database (default: records.sqlite in the user data folder).")]
OperatorOption = Annotated[str | None, typer.Option(
    help="Who weighed (default: $USER).")]


def _store(records: Path | None, operator: str | None, *,
           must_exist: bool = True) -> RecordStore:
    from dosecraft.records import RecordStore, default_records_path
    from dosecraft.records.db import default_actor

    path = records or default_records_path()
    if must_exist and not path.is_file():
        _fail(f"no records database at {path}; pass --records")
    return RecordStore(path, actor=operator or os.environ.get("USER") or default_actor())


def _weights(path: Path) -> WeightsFile:
    from dosecraft.qc import read_weights_csv

    if not path.is_file():
        _fail(f"no weights file at {path}")
    return read_weights_csv(path)


def qc(
    batch: Annotated[str, typer.Argument(help="Batch ID (or a unique prefix).")],
    weights: Annotated[Path, typer.Option(
        "--weights", help="CSV: tablet_id,rx_id,mass_mg[,content_pct].")],
    assay_pct: Annotated[float | None, typer.Option(
        help="Batch assay, % of label claim (USP <905> weight variation).")] = None,
    mass_tol_pct: Annotated[float | None, typer.Option(
        help="Allowed mass deviation, % (default: Ph. Eur. 2.9.5 by tablet mass).")] = None,
    records: RecordsOption = None,
    operator: OperatorOption = None,
) -> None:
    """Check weighed tablets of a batch; record and print the results (exit 1 on a fail)."""
    from dosecraft.batch.calibration import file_digest
    from dosecraft.batch.qc_run import evaluate_qc, record_results
    from dosecraft.errors import DosecraftError

    try:
        data = _weights(weights)
        with _store(records, operator) as store:
            bid = store.resolve_batch_id(batch)
            results, problems = evaluate_qc(
                store.batch_report(bid), data, assay_pct=assay_pct,
                mass_tol=None if mass_tol_pct is None else mass_tol_pct / 100)
            source = {"weights_file": weights.name, "weights_sha256": file_digest(weights),
                      "assay_pct": assay_pct}
            written = record_results(store, bid, results, source=source)
    except DosecraftError as exc:
        _fail(str(exc))
    table = Table(title=f"QC of batch {bid} — {weights.name}")
    for col in ("rx_id", "n", "mean mass mg", "mass error %", "mass", "AV", "basis",
                "USP <905>", "Ph. Eur. 2.9.6"):
        table.add_column(col)
    for r in results:
        errs = [100 * t.relative_error for t in r.tablets]
        bad = sum(not t.passed for t in r.tablets)
        av = r.av
        table.add_row(
            r.rx_id, str(len(r.tablets)),
            f"{sum(t.mass_mg for t in r.tablets) / len(r.tablets):.2f}",
            f"{min(errs):+.1f} … {max(errs):+.1f}",
            "[green]pass[/]" if not bad else f"[red]{bad} outside ±"
            f"{100 * r.tablets[0].tolerance:g} %[/]",
            "—" if av is None else f"{av.av_reported:.1f}", r.av_source or "—",
            "not evaluated" if av is None else (
                f"[green]pass[/] (stage {av.stage})" if av.passed
                else f"[red]FAIL[/] (stage {av.stage})"),
            "—" if r.ph_eur is None else ("[green]pass[/]" if r.ph_eur.passed
                                          else "[red]FAIL[/]"))
    console.print(table)
    for r in results:
        for line in ([*r.av.reasons, r.av.next_step] if r.av else []) + r.notes:
            if line:
                console.print(f"{r.rx_id}: {line}", highlight=False)
    for p in problems:
        err_console.print(f"[yellow]weights:[/] {p}", highlight=False)
    total = sum(len(r.tablets) + (r.av is not None) + (r.ph_eur is not None) for r in results)
    # one current result per tablet and method; earlier values stay in the audit log
    console.print(f"{total} result(s): {written} new or changed recorded, {total - written} "
                  f"already recorded unchanged, in {store.path}", highlight=False)
    if problems or not all(r.passed for r in results) or not results:
        raise typer.Exit(1)


def calibrate(
    printer: Annotated[str, typer.Argument(help="Printer profile ID.")],
    formulation: Annotated[str, typer.Argument(help="Formulation ID.")],
    weights: Annotated[Path | None, typer.Option(
        "--weights", help="CSV of the weighed tablets: tablet_id,rx_id,mass_mg.")] = None,
    batch: Annotated[str | None, typer.Option(
        help="Take predicted masses from this batch (with --rx).")] = None,
    rx: Annotated[str | None, typer.Option("--rx", help="rx_id of the weighed tablets.")] = None,
    make_gcode: Annotated[Path | None, typer.Option(
        "--make-gcode", help="Write N solid 10×4 mm reference cylinders to this file.")] = None,
    count: Annotated[int, typer.Option(help="Tablets on the reference plate.")] = 10,
    records: RecordsOption = None,
    operator: OperatorOption = None,
) -> None:
    """Derive and record a printer × formulation mass factor from weighed tablets; batches
    use the newest one from then on. Start with --make-gcode, print, weigh, then --weights."""
    from dosecraft.batch.calibration import (
        CAL_RX,
        file_digest,
        make_calibration_plate,
        predicted_masses,
        record_calibration_plate,
    )
    from dosecraft.errors import DosecraftError
    from dosecraft.io.atomic import write_atomic
    from dosecraft.profiles import load_profile
    from dosecraft.qc import mass_factor_from_weights
    from dosecraft.records.calibrated import SETTINGS_KEY
    from dosecraft.slicer.flow import deposition_settings

    if (make_gcode is None) == (weights is None):
        _fail("give either --make-gcode OUT.gcode (write reference tablets) or --weights "
              "FILE.csv (record a calibration from their weights)")
    try:
        with _store(records, operator, must_exist=make_gcode is None) as store:
            if make_gcode is not None:
                current = store.latest_mass_factor(printer, formulation)
                plate = make_calibration_plate(printer, formulation, count, current)
                write_atomic(make_gcode, plate.text)
                bid = record_calibration_plate(store, plate, make_gcode, store.actor)
                console.print(
                    f"wrote {count} reference tablets to {make_gcode} (mass factor "
                    f"{plate.mass_factor:g}, predicted {plate.mean_mass_mg:.2f} mg each; "
                    f"batch {bid}). Print, weigh each into a CSV with columns "
                    f"tablet_id,rx_id,mass_mg (tablet_id {CAL_RX}_1…, rx_id {CAL_RX}), then "
                    f"run: dosecraft calibrate {printer} {formulation} --weights FILE.csv",
                    highlight=False)
                return
            assert weights is not None
            data = _weights(weights)
            if data.errors:
                for e in data.errors:
                    err_console.print(f"[red]weights:[/] {e}", highlight=False)
                _fail("fix the weights file: a calibration uses every weighed tablet", 1)
            pred = predicted_masses(store, printer, formulation, batch, rx)
            rows = [r for r in data.rows if r.rx_id == pred.rx_id]
            if not rows:
                found = ", ".join(sorted({r.rx_id for r in data.rows})) or "none"
                _fail(f"{weights.name} has no tablets of {pred.rx_id} (rx_ids in it: {found})")
            result = mass_factor_from_weights([r.mass_mg for r in rows],
                                              [pred.for_tablet(r.tablet_id) for r in rows],
                                              pred.current_factor)
            table = Table(title=f"Calibration {printer} × {formulation}", show_header=False)
            table.add_row("tablets", f"{result.n} of {pred.rx_id} (batch {pred.batch_id})")
            table.add_row("measured / predicted", f"{result.mean_ratio:.4f} (CV "
                          f"{100 * result.cv:.2f} %)")
            table.add_row("mass factor", f"{result.current_factor:g} → "
                          f"{result.proposed_factor:.4f} (95 % CI {result.ci_low:.4f}–"
                          f"{result.ci_high:.4f})")
            console.print(table)
            if not result.accepted:
                _fail("calibration refused: " + "; ".join(result.reasons), 1)
            cal_id = store.record_calibration(
                printer, formulation, new_mass_factor=result.new_factor, n_tablets=result.n,
                data_sha256=file_digest(weights), old_mass_factor=pred.current_factor,
                details={**result.to_dict(), "batch_id": pred.batch_id, "rx_id": pred.rx_id,
                         "weights_file": weights.name,
                         # valid only for these settings (see records.calibrated)
                         SETTINGS_KEY: deposition_settings(load_profile(printer))})
    except DosecraftError as exc:
        _fail(str(exc))
    console.print(f"recorded calibration {cal_id}: batches on {printer} with {formulation} "
                  f"now use mass factor {result.new_factor:.4f}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``qc`` and ``calibrate`` to the main app."""
    app.command("qc")(qc)
    app.command("calibrate")(calibrate)
