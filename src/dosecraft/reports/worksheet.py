"""The compounding worksheet (PDF): batch facts, per-tablet dose table, failures, release
plot and signatures.

Built with reportlab platypus on landscape A4 (thirteen columns do not fit a portrait
page legibly). The PDF is built in memory and written atomically, and reportlab's
`invariant` mode plus a metadata-free PNG make equal inputs give byte-identical PDFs, so
the worksheet's hash can go into the audit log and a re-run can tell it is unchanged.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Image,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dosecraft.constants import DOSE_TOLERANCE
from dosecraft.io.atomic import write_atomic
from dosecraft.reports.batchinfo import BatchInfo
from dosecraft.reports.fonts import FontSet, fonts, printable
from dosecraft.reports.plots import ReleaseCurve, release_plot_png
from dosecraft.reports.worksheet_rows import DASH, FailedLine, TabletLine, fmt_mg, split_rows

PAGE = landscape(A4)
MARGIN = 12 * mm
#: Per-tablet table column widths (sum 268 mm of the 273 mm frame).
TABLET_COLS_MM = (8, 26, 22, 36, 10, 17, 17, 15, 14, 43, 22, 14, 24)
TABLET_HEADER = ("#", "Rx ID", "Patient", "Drug", "Qty", "Target\nmg", "G-code\nmg",
                 "Error\n%", "Dose\ncheck", "Shape & size", "Infill", "t80\nmin",
                 "G-code SHA-256")
#: Longest error text printed; beyond it a row could outgrow a page (reportlab LayoutError).
MAX_ERROR_CHARS = 600
PASS_GREEN = colors.HexColor("#1b7f3b")
FAIL_RED = colors.HexColor("#b3261e")
FAIL_BG = colors.HexColor("#fbe3e1")
HEAD_BG = colors.HexColor("#e6e9ee")


def _styles(f: FontSet) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=f.regular, fontSize=8.5, leading=10.5)
    return {
        "title": ParagraphStyle("title", base, fontName=f.bold, fontSize=16, leading=20),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=10, leading=13,
                                   textColor=colors.HexColor("#444444")),
        "h2": ParagraphStyle("h2", base, fontName=f.bold, fontSize=11, leading=14,
                             spaceBefore=8, spaceAfter=4, keepWithNext=1),
        "body": base,
        "cell": ParagraphStyle("cell", base, fontSize=7.5, leading=9),
        # CJK wrapping breaks anywhere, so a 64-character ID cannot overflow its column.
        "cell_id": ParagraphStyle("cell_id", base, fontSize=7.5, leading=9, wordWrap="CJK"),
        "mono": ParagraphStyle("mono", base, fontName=f.mono, fontSize=7.5, leading=9,
                               wordWrap="CJK"),
        "head": ParagraphStyle("head", base, fontName=f.bold, fontSize=7.5, leading=9),
        "warn": ParagraphStyle("warn", base, textColor=FAIL_RED, fontName=f.bold),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    # Every user-supplied string is escaped: '<' or '&' in a drug name or an error message
    # would otherwise be parsed as markup and break the build.
    safe = printable(str(text), style.fontName)
    return Paragraph(escape(safe).replace("\n", "<br/>"), style)


def _canvas_class(header: str, footer: str, f: FontSet) -> type[Canvas]:
    """A canvas that defers pages so each can say 'page X of Y'."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab API)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                w, h = self._pagesize
                self.setFont(f.regular, 7)
                self.setFillColor(colors.HexColor("#555555"))
                self.drawString(MARGIN, h - MARGIN / 2 - 2, header)
                self.drawString(MARGIN, MARGIN / 2, footer)
                self.drawRightString(w - MARGIN, MARGIN / 2,
                                     f"page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def _facts(batch: BatchInfo, lines: list[TabletLine], failed: list[FailedLine],
           st: dict[str, ParagraphStyle]) -> Table:
    tablets = sum(line.quantity or 0 for line in lines)
    rx_failed = {(x.row, x.rx_id) for x in failed}
    passed = sum(1 for line in lines if (line.row, line.rx_id) not in rx_failed)
    summary = (f"{passed} prescription(s) ready for release, {len(failed)} failed or "
               f"unverified; {tablets} tablet(s) in the G-code")
    facts = [
        ("Batch ID", _p(batch.batch_id, st["cell_id"])),
        ("Compounding date", _p(batch.date.isoformat(), st["cell"])),
        ("Operator", _p(batch.operator, st["cell"])),
        ("Source file", _p(batch.source_file or DASH, st["cell_id"])),
        ("Source SHA-256", _p(batch.source_sha256 or DASH, st["mono"])),
        ("Printer(s)", _p(", ".join(batch.printers) or DASH, st["cell"])),
        ("dosecraft version", _p(batch.dosecraft_version, st["cell"])),
        ("Summary", _p(summary, st["cell"])),
    ]
    data = [[_p(k, st["head"]), v] for k, v in facts]
    t = Table(data, colWidths=[38 * mm, 150 * mm], hAlign="LEFT")
    t.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    return t


def _formulations(batch: BatchInfo, st: dict[str, ParagraphStyle]) -> list[Any]:
    if not batch.formulations:
        return [_p("No formulation lot recorded: record the lot and expiry of every "
                   "formulation before release.", st["warn"])]
    data = [[_p(h, st["head"]) for h in ("Formulation", "Name", "Lot", "Expiry", "Status")]]
    expired_rows = []
    for i, fl in enumerate(batch.formulations, start=1):
        expired = fl.expiry < batch.date
        if expired:
            expired_rows.append(i)
        data.append([_p(fl.formulation_id, st["cell_id"]), _p(fl.name or DASH, st["cell"]),
                     _p(fl.lot, st["cell_id"]), _p(fl.expiry.isoformat(), st["cell"]),
                     _p("EXPIRED on the compounding date" if expired else "in date",
                        st["warn"] if expired else st["cell"])])
    t = Table(data, colWidths=[45 * mm, 80 * mm, 35 * mm, 25 * mm, 55 * mm], hAlign="LEFT",
              repeatRows=1)
    style = [("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
             ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
             ("VALIGN", (0, 0), (-1, -1), "TOP")]
    style += [("BACKGROUND", (0, r), (-1, r), FAIL_BG) for r in expired_rows]
    t.setStyle(TableStyle(style))
    return [t]


def _check_cell(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "NONE"}[passed]


def _tablet_table(lines: list[TabletLine], st: dict[str, ParagraphStyle]) -> LongTable:
    data: list[list[Any]] = [[_p(h, st["head"]) for h in TABLET_HEADER]]
    style: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 1), (-1, -1), st["cell"].fontName, 7.5),
        ("ALIGN", (4, 1), (7, -1), "RIGHT"), ("ALIGN", (11, 1), (11, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]
    for i, ln in enumerate(lines, start=1):
        data.append([
            str(i), _p(ln.rx_id, st["cell_id"]), _p(ln.patient_ref, st["cell_id"]),
            _p(ln.drug, st["cell"]), DASH if ln.quantity is None else str(ln.quantity),
            fmt_mg(ln.target_mg), fmt_mg(ln.gcode_mg),
            DASH if ln.error_pct is None else f"{ln.error_pct:+.2f}",
            _check_cell(ln.passed), _p(ln.shape, st["cell"]), _p(ln.infill, st["cell"]),
            DASH if ln.t80_min is None else f"{ln.t80_min:.0f}",
            _p(ln.gcode_sha, st["mono"]),
        ])
        if ln.passed is True:
            style.append(("TEXTCOLOR", (8, i), (8, i), PASS_GREEN))
        else:
            style += [("BACKGROUND", (0, i), (-1, i), FAIL_BG),
                      ("TEXTCOLOR", (8, i), (8, i), FAIL_RED)]
        style.append(("FONT", (8, i), (8, i), st["head"].fontName, 7.5))
    t = LongTable(data, colWidths=[w * mm for w in TABLET_COLS_MM], repeatRows=1,
                  hAlign="LEFT")
    t.setStyle(TableStyle(style))
    return t


def _failed_table(failed: list[FailedLine], st: dict[str, ParagraphStyle]) -> LongTable:
    data: list[list[Any]] = [[_p(h, st["head"]) for h in
                              ("Row", "Rx ID", "Drug", "Target mg", "Reason")]]
    for x in failed:
        err = x.error if len(x.error) <= MAX_ERROR_CHARS else x.error[:MAX_ERROR_CHARS] + "…"
        data.append([DASH if x.row is None else str(x.row), _p(x.rx_id, st["cell_id"]),
                     _p(x.drug, st["cell"]), fmt_mg(x.target_mg), _p(err, st["cell"])])
    t = LongTable(data, colWidths=[12 * mm, 32 * mm, 35 * mm, 18 * mm, 171 * mm],
                  repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG), ("BACKGROUND", (0, 1), (-1, -1), FAIL_BG),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 1), (-1, -1), st["cell"].fontName, 7.5),
    ]))
    return t


def _release_plot(lines: list[TabletLine], st: dict[str, ParagraphStyle]) -> list[Any]:
    curves = [ReleaseCurve.from_dict(ln.release, ln.rx_id) for ln in lines
              if ln.release and ln.release.get("curve")]
    if not curves:
        return [_p("No release predictions recorded for this batch.", st["body"])]
    png = release_plot_png(curves, width_in=9.0, height_in=3.6, dpi=150)
    width = 230 * mm
    return [Image(io.BytesIO(png), width=width, height=width * 3.6 / 9.0)]


def _signatures(batch: BatchInfo, st: dict[str, ParagraphStyle]) -> KeepTogether:
    head = [_p(h, st["head"]) for h in ("Role", "Name", "Signature", "Date")]
    rows = [head] + [[_p(role, st["body"]), _p(name, st["body"]), "", ""]
                     for role, name in (("Prepared by", batch.operator), ("Checked by", ""),
                                        ("Released by", ""))]
    t = Table(rows, colWidths=[35 * mm, 70 * mm, 90 * mm, 40 * mm],
              rowHeights=[None, 13 * mm, 13 * mm, 13 * mm], hAlign="LEFT")
    t.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
        ("VALIGN", (0, 1), (-1, -1), "BOTTOM"),
    ]))
    statement = (f"By signing, the releasing pharmacist confirms that every released tablet "
                 f"passed its dose check (G-code dose within ±{100 * DOSE_TOLERANCE:g} % of "
                 f"the prescribed dose), that the formulation lots above were used and in date, "
                 f"and that the failed rows listed above were not released.")
    return KeepTogether([_p("Signatures", st["h2"]), _p(statement, st["body"]),
                         Spacer(1, 3 * mm), t])


def build_worksheet(batch: BatchInfo, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Render the compounding worksheet to PDF bytes (see `write_worksheet`)."""
    f = fonts()
    st = _styles(f)
    lines, failed = split_rows(rows)
    story: list[Any] = [
        _p("Compounding worksheet — 3D-printed tablets", st["title"]),
        _p(f"Batch {batch.batch_id} · {batch.date.isoformat()}", st["subtitle"]),
        Spacer(1, 4 * mm),
        _facts(batch, lines, failed, st),
        _p("Formulations", st["h2"]), *_formulations(batch, st),
        _p(f"Tablets ({len(lines)})", st["h2"]),
        _tablet_table(lines, st) if lines else _p("No tablets were printed in this batch.",
                                                  st["body"]),
        _p(f"Failed or unverified — do not release ({len(failed)})", st["h2"]),
        _failed_table(failed, st) if failed else _p("None.", st["body"]),
        _p("Predicted release", st["h2"]), *_release_plot(lines, st),
        _signatures(batch, st),
    ]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN, title=f"Compounding worksheet {batch.batch_id}",
        author=batch.operator, subject="dosecraft compounding worksheet",
        creator=f"dosecraft {batch.dosecraft_version}", invariant=True,
    )
    header = f"Compounding worksheet · batch {batch.batch_id} · {batch.date.isoformat()}"
    sha = f" · source SHA-256 {batch.source_sha256[:12]}" if batch.source_sha256 else ""
    footer = f"dosecraft {batch.dosecraft_version}{sha}"
    doc.build(story, canvasmaker=_canvas_class(header, footer, f))
    return buf.getvalue()


def write_worksheet(path: str | os.PathLike, batch: BatchInfo,
                    rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write the compounding worksheet PDF atomically.

    Parameters
    ----------
    path : output file (its folder is created).
    batch : batch-level facts (ID, date, operator, source and its hash, lots, printers).
    rows : batch.json rows, one per prescription (ok or failed; missing keys print "—").

    Returns
    -------
    Path
        `path`; a reader sees either the previous file or the complete new one.
    """
    return write_atomic(path, build_worksheet(batch, rows))
