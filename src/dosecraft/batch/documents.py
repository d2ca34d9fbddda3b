"""The batch's documents, assembled from the row and plate files at the end of every run:
``batch.json``, the compounding worksheet and the patient labels.

None of them holds a wall-clock time: the date printed is the batch's compounding date
(when it was first started), so a re-run that changes nothing rewrites nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosecraft import __version__
from dosecraft.batch.layout import BATCH_JSON, LABELS_PDF, WORKSHEET_PDF, dumps
from dosecraft.formulary import get_formulation
from dosecraft.io.atomic import write_if_changed
from dosecraft.reports import (
    BatchInfo,
    FormulationLot,
    LabelError,
    StorageCondition,
    build_labels,
    build_worksheet,
    labels_from_rows,
)


@dataclass(frozen=True)
class Document:
    """A document written (or found unchanged) by this run."""

    kind: str
    path: str
    sha256: str
    bytes: int
    written: bool


def _document(out_dir: Path, name: str, kind: str, data: bytes) -> Document:
    written = write_if_changed(out_dir / name, data)
    return Document(kind, name, hashlib.sha256(data).hexdigest(), len(data), written)


def write_batch_json(out_dir: Path, header: Mapping[str, Any],
                     rows: Sequence[Mapping[str, Any]],
                     plates: Sequence[Mapping[str, Any]]) -> Document:
    """``batch.json``: the batch facts, one row per input row, one entry per plate."""
    ok = sum(1 for r in rows if r.get("status") == "ok")
    summary = {"prescriptions": len(rows), "ok": ok, "failed": len(rows) - ok,
               "tablets": sum(int(r.get("quantity") or 0) for r in rows
                              if r.get("status") == "ok"),
               "plates": sum(1 for p in plates if p.get("status") == "ok"),
               "plates_failed": sum(1 for p in plates if p.get("status") != "ok")}
    internal = ("fingerprint", "footprint_mm", "internal")
    doc = {"dosecraft_version": __version__, **header, "summary": summary,
           "rows": [{k: v for k, v in r.items() if k not in internal} for r in rows],
           "plates": [{k: v for k, v in p.items() if k not in ("fingerprint", "internal")}
                      for p in plates]}
    return _document(out_dir, BATCH_JSON, "batch_json", dumps(doc).encode("utf-8"))


def formulation_lots(lots: Mapping[str, tuple[str, dt.date]],
                     formulary_dirs: Sequence[str] = ()) -> tuple[FormulationLot, ...]:
    """The worksheet's formulation table, sorted by formulation ID."""
    out = []
    for fid, (lot, expiry) in sorted(lots.items()):
        try:
            name = get_formulation(fid, formulary_dirs).name
        except Exception:  # the worksheet must print even if the formulary changed since
            name = ""
        out.append(FormulationLot(formulation_id=fid, name=name[:120], lot=lot, expiry=expiry))
    return tuple(out)


def anchor_text(anchor: tuple[int, str] | None) -> str:
    """How the audit anchor is printed: ``audit seq 42 <sha256>``."""
    return f"audit seq {anchor[0]} {anchor[1]}" if anchor else "no records"


def batch_info(*, batch_id: str, date: dt.date, operator: str, source: Path,
               source_sha256: str, lots: tuple[FormulationLot, ...], printers: Sequence[str],
               anchor: tuple[int, str] | None) -> BatchInfo:
    """Batch facts for the worksheet, with the audit anchor.

    `BatchInfo` has no field for the anchor yet, so it rides on the version line, which
    the worksheet prints in its facts table and in every page footer; when `BatchInfo`
    gains an ``audit_anchor`` field the anchor goes there instead.
    """
    fields: dict[str, Any] = dict(
        batch_id=batch_id, date=date, operator=operator[:120] or "unknown",
        source_file=source.name[:255], source_sha256=source_sha256, formulations=lots,
        printers=tuple(sorted(set(printers))))
    if "audit_anchor" in BatchInfo.model_fields:
        fields["audit_anchor"] = anchor_text(anchor)
    else:
        fields["dosecraft_version"] = f"{__version__} · {anchor_text(anchor)}"
    return BatchInfo(**fields)


def write_worksheet_pdf(out_dir: Path, info: BatchInfo,
                        rows: Sequence[Mapping[str, Any]]) -> Document:
    """``worksheet.pdf`` (deterministic: reportlab invariant mode)."""
    return _document(out_dir, WORKSHEET_PDF, "worksheet", build_worksheet(info, rows))


def write_labels_pdf(out_dir: Path, rows: Sequence[Mapping[str, Any]],
                     lots: Mapping[str, tuple[str, dt.date]], *, use_by: dt.date,
                     storage: StorageCondition,
                     today: dt.date) -> tuple[Document | None, list[str]]:
    """``labels.pdf`` for the released prescriptions, and why any row got no label.

    Without lots there are no labels (see `dosecraft.batch.lots`); a stale file from an
    earlier run with lots is then removed, since it would show a lot this batch does not
    record.
    """
    target = out_dir / LABELS_PDF
    if not lots:
        target.unlink(missing_ok=True)
        return None, ["no labels printed: no formulation lot given (--lot, --lot-expiry)"]
    labels, skipped = labels_from_rows(rows, lots, use_by=use_by, storage=storage,
                                       today=today)
    if not labels:
        target.unlink(missing_ok=True)
        return None, skipped or ["no labels printed: no prescription was released"]
    try:
        data = build_labels(labels, today=today)
    except LabelError as exc:
        target.unlink(missing_ok=True)
        return None, [*skipped, str(exc)]
    return _document(out_dir, LABELS_PDF, "labels", data), skipped


def write_release_plots(out_dir: Path,
                        rows: list[dict[str, Any]]) -> list[tuple[str, Document]]:
    """One PNG of the predicted release curve per designed prescription,
    ``release/<rx_id>.png``; each row gets its path under ``release_plot``."""
    from dosecraft.reports.plots import release_plot_png

    written: list[tuple[str, Document]] = []
    for row in rows:
        release = row.get("release")
        if row.get("status") != "ok" or not release:
            continue
        name = f"release/{row['rx_id']}.png"
        png = release_plot_png([release], title=f"Predicted release — {row['rx_id']}")
        written.append((str(row["rx_id"]), _document(out_dir, name, "release_plot", png)))
        row["release_plot"] = name
    return written
