"""``dosecraft batch``: a prescriptions file to G-code, plates, records, worksheet and labels."""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from dosecraft.cli.output import console, err_console
from dosecraft.cli.output import fail as _fail
from dosecraft.number_text import signed_percent

#: Above this many rows the table shows only the failed ones.
FULL_TABLE_ROWS = 60
DEFAULT_FHIR_PRINTER = "generic_fdm_175"


class Storage(StrEnum):
    """`dosecraft.reports.StorageCondition`'s values, repeated here so that ``--help``
    does not import the PDF and plotting stack (a test keeps the two equal)."""

    BELOW_25C_DRY = "below_25c_dry"
    BELOW_30C_DRY = "below_30c_dry"
    REFRIGERATED = "refrigerated"


class _RateColumn(ProgressColumn):
    """Items per second over the run so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("–/s" if not speed else f"{speed:.2f}/s", style="progress.data.speed")


class _Bar:
    """The rich progress bar, one line per phase; silent with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.progress = None if quiet else Progress(
            TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
            _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=err_console)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        if phase not in self.tasks:
            # resumed work starts at its done count; the rate counts only this run's work
            self.tasks[phase] = self.progress.add_task(phase, total=total, completed=done)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def _rows_table(rows: list[dict[str, Any]], title: str, quiet: bool) -> Table | None:
    shown = [r for r in rows if not quiet and len(rows) <= FULL_TABLE_ROWS
             or r.get("status") != "ok"]
    if not shown:
        return None
    table = Table(title=title)
    for col in ("row", "rx_id", "status", "target mg", "shape", "size mm", "infill",
                "G-code mg", "error %", "t80 min", "plates", "error"):
        table.add_column(col, overflow="fold", no_wrap=col in ("rx_id", "size mm"))
    for r in shown[:FULL_TABLE_ROWS]:
        d = r.get("design") or {}
        check = r.get("dose_check") or {}
        release = r.get("release") or {}
        dims = "×".join(f"{v:.1f}" for k, v in (d.get("dimensions_mm") or {}).items()
                        if k in ("diameter", "length", "width", "outer_diameter", "height"))
        table.add_row(
            str(r.get("row", "")), str(r.get("rx_id")),
            "[green]ok[/]" if r.get("status") == "ok" else "[red]error[/]",
            f"{r['target_dose_mg']:.4g}" if r.get("target_dose_mg") else "",
            d.get("shape", ""), dims, f"{d['infill']['density']:.0%}" if d else "",
            f"{r['dose_mg_gcode']:.4f}" if r.get("dose_mg_gcode") is not None else "",
            signed_percent(check["relative_error"], 3) if check.get("gcode_mg") is not None
            else "",
            f"{release['t80_min']:.0f}" if release.get("t80_min") else "",
            ", ".join(p.rsplit("-", 1)[-1] for p in r.get("plates") or []),
            r.get("error") or "")
    if len(shown) > FULL_TABLE_ROWS:
        table.caption = f"… and {len(shown) - FULL_TABLE_ROWS} more (see batch.json)"
    return table


def _report(summary: Any, source: Path, quiet: bool) -> None:
    table = _rows_table(summary.rows, f"Batch {summary.batch_id} — {source.name}", quiet)
    if table is not None:
        console.print(table)
    plates = summary.plates
    tablets = sum(int(p.get("tablets") or 0) for p in plates if p.get("status") == "ok")
    for p in plates:
        if p.get("status") != "ok":
            err_console.print(f"[red]plate {p['plate_id']} failed:[/] {p.get('error')}",
                              highlight=False)
    for a in summary.unassigned:
        err_console.print(f"[yellow]plate {a.plate.gcode_path.name} not sent:[/] {a.error}",
                          highlight=False)
    for a in summary.assignments:
        if a.printer is not None and not quiet:
            state = a.status.state.value if a.status else "sent"
            console.print(f"plate {a.plate.gcode_path.name} → {a.printer} ({state})"
                          + (f": {a.error}" if a.error else ""), highlight=False)
    for note in summary.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    if not quiet:
        docs = ", ".join(d.path for d in summary.documents)
        console.print(f"output: {summary.out_dir} ({docs}; gcode/, plates/)", highlight=False)
        where = summary.records_path or "not recorded"
        console.print(f"records: {where} (batch {summary.batch_id}, {summary.status})",
                      highlight=False)
        work = (f"{summary.redone} prescription(s) run ({summary.executor})" if summary.redone
                else "every prescription was already done; nothing re-run")
        console.print(f"work: {work}", highlight=False)
    console.print(f"{summary.ok} ok, {summary.failed} failed; "
                  f"{len(plates) - summary.plates_failed} plate(s) with {tablets} tablets"
                  + (f", {summary.plates_failed} plate(s) failed" if summary.plates_failed
                     else ""), highlight=False)


def batch(
    prescriptions: Annotated[Path, typer.Argument(
        help="CSV, JSON or FHIR R4 Bundle (JSON) prescriptions file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out/batch"),
    workers: Annotated[int, typer.Option(
        min=1, help="Parallel workers (1 runs in this process).")] = min(2, os.cpu_count() or 1),
    dask: Annotated[str | None, typer.Option(
        "--dask", help="Run on Dask: 'local' (a LocalCluster of --workers processes) or "
        "a scheduler address tcp://HOST:PORT.")] = None,
    printer: Annotated[str, typer.Option(
        help="Printer profile for FHIR requests that name none.")] = DEFAULT_FHIR_PRINTER,
    records: Annotated[Path | None, typer.Option(
        help="Records database (default: records.sqlite in the user data folder).")] = None,
    operator: Annotated[str | None, typer.Option(
        help="Responsible operator (default: $USER).")] = None,
    lot: Annotated[list[str] | None, typer.Option(
        "--lot", help="Formulation lot: LOT for all, or FORMULATION=LOT (repeatable).")] = None,
    lot_expiry: Annotated[list[str] | None, typer.Option(
        "--lot-expiry", help="Lot expiry YYYY-MM-DD, or FORMULATION=YYYY-MM-DD.")] = None,
    use_by: Annotated[str | None, typer.Option(
        help="Label use-by date YYYY-MM-DD (default: compounding date + 30 days, not past "
        "the lot expiry).")] = None,
    storage: Annotated[Storage, typer.Option(
        help="Label storage condition.")] = Storage.BELOW_25C_DRY,
    release: Annotated[bool, typer.Option(
        "--release/--no-release", help="Estimate release curves (slowest stage).")] = True,
    plates: Annotated[bool, typer.Option(
        "--plates/--no-plates", help="Write multi-prescription plates to OUT/plates.")] = True,
    plate_max: Annotated[int | None, typer.Option(
        "--plate-max", min=1, help="At most N tablets per plate (default: what fits the bed)."
    )] = None,
    send: Annotated[bool, typer.Option(
        "--send", help="Send the plates to free printers whose profile matches.")] = False,
    printers_file: Annotated[Path | None, typer.Option(
        help="Printer registry for --send (default: the user's printers.toml).")] = None,
    start: Annotated[bool, typer.Option("--start", help="With --send: start the jobs.")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="With --send --start: follow the jobs to their end.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress bar; print only failures and the summary.")] = False,
) -> None:
    """Run every prescription of a file: G-code per prescription and per plate, records,
    worksheet and labels. Re-running the same command after a crash finishes the rest.

    Exit status: 0 all done, 1 some prescription or plate failed (or, with --send, a
    plate found no printer), 2 the run could not start (unreadable file, expired lot…).
    """
    from dosecraft.batch.lots import Lots
    from dosecraft.batch.runner import BatchConfig, run_batch
    from dosecraft.batch.send import SendOptions
    from dosecraft.errors import DosecraftError
    from dosecraft.records import default_records_path
    from dosecraft.records.db import default_actor
    from dosecraft.reports import StorageCondition

    if wait and not start:
        _fail("--wait follows started jobs: add --start")
    if (start or printers_file) and not send:
        _fail("--start, --wait and --printers-file need --send")
    try:
        use_by_date = dt.date.fromisoformat(use_by) if use_by else None
    except ValueError:
        _fail(f"--use-by {use_by!r}: give the date as YYYY-MM-DD")
    try:
        config = BatchConfig(
            source=prescriptions, out_dir=out, workers=max(1, workers), dask=dask,
            release=release, plates=plates, plate_max=plate_max,
            records=records or default_records_path(),
            operator=operator or os.environ.get("USER") or default_actor(),
            lots=Lots.parse(lot or [], lot_expiry or []), use_by=use_by_date,
            storage=StorageCondition(storage.value), default_printer=printer,
            send=SendOptions(printers_file, start, wait) if send else None)
        with _Bar(quiet) as bar:
            summary = run_batch(config, on_progress=bar.update)
    except DosecraftError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted; the finished prescriptions are kept — run the same command "
              "again to complete the batch", code=130)
    _report(summary, prescriptions, quiet)
    if summary.failed or summary.plates_failed or summary.unassigned:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``batch`` to the main app."""
    app.command("batch")(batch)
