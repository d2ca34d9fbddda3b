"""``dosecraft records list|show`` and ``dosecraft audit verify``: read the compounding records."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dosecraft.cli.output import console, err_console
from dosecraft.cli.output import fail as _fail

records_app = typer.Typer(help="The compounding records (batches, rows, outputs, QC).",
                          no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of the records.", no_args_is_help=True)

RecordsOption = Annotated[Path | None, typer.Option(
    "--records", help="Records database (default: records.sqlite in the user data folder).")]


def _path(records: Path | None) -> Path:
    from dosecraft.records import default_records_path

    path = records or default_records_path()
    if not path.is_file():
        _fail(f"no records database at {path}; run a batch first or pass --records")
    return path


def _json(data: Any) -> None:
    # print_json would re-wrap long lines; scripts want plain, valid JSON
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@records_app.command("list")
def records_list(records: RecordsOption = None,
                 as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """List the batches, newest first."""
    from dosecraft.errors import DosecraftError
    from dosecraft.records import RecordStore

    try:
        with RecordStore(_path(records)) as store:
            batches = store.list_batches()
    except DosecraftError as exc:
        _fail(str(exc))
    if as_json:
        _json(batches)
        return
    table = Table(title=f"Batches in {_path(records)}")
    for col in ("batch", "created", "operator", "source", "lot", "status", "rx", "ok",
                "failed", "outputs"):
        table.add_column(col, no_wrap=col in ("batch", "created"))
    for b in batches:
        c = b["counts"]
        table.add_row(b["id"], b["created_at"][:19].replace("T", " "), b["operator"],
                      b["source_name"], b.get("formulation_lot") or "—", b["status"],
                      str(c["prescriptions"]), str(c["ok"]), str(c["failed"]),
                      str(c["outputs"]))
    console.print(table)


def _show_tables(report: dict[str, Any]) -> None:
    b = report["batch"]
    facts = Table(title=f"Batch {b['id']}", show_header=False)
    for key in ("status", "created_at", "finished_at", "operator", "source_name",
                "source_sha256", "formulation_lot", "formulation_expiry", "printer"):
        facts.add_row(key, str(b.get(key) or "—"))
    facts.add_row("options", json.dumps(b.get("options"), sort_keys=True))
    head = report.get("audit_head")
    facts.add_row("audit head", f"seq {head[0]} {head[1]}" if head else "—")
    console.print(facts)
    rows = Table(title="Prescriptions")
    for col in ("row", "rx_id", "status", "drug", "dose mg", "qty", "patient", "outputs",
                "QC", "error"):
        rows.add_column(col, overflow="fold", no_wrap=col == "rx_id")
    for p in report["prescriptions"]:
        qc = p.get("qc") or []
        verdict = "—" if not qc else ("[green]pass[/]" if all(q["passed"] for q in qc)
                                      else "[red]fail[/]")
        rows.add_row(str(p.get("row_number") or ""), p["rx_id"],
                     "[green]ok[/]" if p["status"] == "ok" else f"[red]{p['status']}[/]",
                     p.get("drug") or "", f"{p['dose_mg']:.4g}" if p.get("dose_mg") else "",
                     str(p.get("quantity") or ""), p.get("patient_pseudonym") or "",
                     str(len(p.get("outputs") or [])), verdict, (p.get("error") or "")[:200])
    console.print(rows)
    outputs = [o for p in report["prescriptions"] for o in p.get("outputs") or []]
    outputs += report.get("outputs") or []
    table = Table(title=f"Outputs ({len(outputs)})")
    for col in ("rx_id", "kind", "path", "sha256", "bytes"):
        table.add_column(col, overflow="fold")
    for o in outputs:
        table.add_row(o.get("rx_id") or "—", o["kind"], o["path"], o["sha256"][:16],
                      str(o["bytes"]))
    console.print(table)
    qc = [q for p in report["prescriptions"] for q in p.get("qc") or []] + report["qc"]
    if qc:
        table = Table(title=f"QC results ({len(qc)})")
        for col in ("rx_id", "method", "tablet", "mass mg", "content %", "AV", "result"):
            table.add_column(col)
        for q in qc:
            table.add_row(q.get("rx_id") or "—", q["method"],
                          "—" if q["tablet_index"] is None else str(q["tablet_index"] + 1),
                          "" if q["mass_mg"] is None else f"{q['mass_mg']:.2f}",
                          "" if q["content_pct"] is None else f"{q['content_pct']:.1f}",
                          "" if q["acceptance_value"] is None else f"{q['acceptance_value']:.1f}",
                          "[green]pass[/]" if q["passed"] else "[red]fail[/]")
        console.print(table)
    for job in report.get("print_jobs") or []:
        console.print(f"print job {job['job_id']} on {job['printer']}: {job['state']}",
                      highlight=False)


@records_app.command("show")
def records_show(batch: Annotated[str, typer.Argument(help="Batch ID (or a unique prefix).")],
                 records: RecordsOption = None,
                 as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """Show a batch: its facts, prescriptions, outputs, QC results and print jobs."""
    from dosecraft.errors import DosecraftError
    from dosecraft.records import RecordStore

    try:
        with RecordStore(_path(records)) as store:
            report = store.batch_report(store.resolve_batch_id(batch))
    except DosecraftError as exc:
        _fail(str(exc))
    if as_json:
        _json(report)
    else:
        _show_tables(report)


def _anchor(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, _, digest = text.replace(":", " ").partition(" ")
    if not seq.isdigit() or len(digest.strip()) != 64:
        _fail(f"--anchor {text!r}: give SEQ:HASH as printed on the worksheet "
              "('audit seq 41 7e56…' → 41:7e56…)")
    return int(seq), digest.strip()


@audit_app.command("verify")
def audit_verify(
    records: RecordsOption = None,
    anchor: Annotated[str | None, typer.Option(
        help="SEQ:HASH printed on a worksheet: also proves the log was not rebuilt.")] = None,
) -> None:
    """Check the audit log for edited, deleted or reordered entries (exit 1 if any)."""
    from dosecraft.errors import DosecraftError
    from dosecraft.records import verify_audit

    try:
        report = verify_audit(_path(records), anchor=_anchor(anchor))
    except DosecraftError as exc:
        _fail(str(exc))
    if report.ok:
        console.print(f"[green]ok:[/] {report}", highlight=False)
        return
    err_console.print(f"[bold red]audit log damaged:[/] {report}", highlight=False)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``records`` and ``audit`` to the main app."""
    app.add_typer(records_app, name="records")
    app.add_typer(audit_app, name="audit")
