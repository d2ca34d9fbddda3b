"""The locked label template: geometry, fonts and text lines, all defined in code.

There is no template file a user could edit into wrong content (a compounding-software
recall came from exactly that, DOMAIN.md). Every line comes from one validated field, and
a line is shrunk within fixed bounds to fit its box or refused by validation, never
truncated or allowed to overflow at print time.

Sheet geometry matches the common 3 × 8 A4 label sheet of 63.5 × 33.9 mm labels
(L7159-type): 24 labels per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from dosecraft.reports.fonts import fonts

if TYPE_CHECKING:
    from dosecraft.reports.labels import LabelData

SHEET = A4
LABEL_W = 63.5 * mm
LABEL_H = 33.9 * mm
COLS = 3
ROWS = 8
COL_GAP = 2.5 * mm
ROW_GAP = 0.0
MARGIN_LEFT = (SHEET[0] - COLS * LABEL_W - (COLS - 1) * COL_GAP) / 2
MARGIN_TOP = (SHEET[1] - ROWS * LABEL_H - (ROWS - 1) * ROW_GAP) / 2
PER_PAGE = COLS * ROWS
#: Inner padding: keeps print inside the die-cut even with ~1 mm feed misregistration.
PAD = 2.5 * mm
#: QR side including its 4-module quiet zone. The longest payload (64-char rx_id, 24-char
#: lot) needs version 6 at level M: 41 + 8 modules, so modules stay ≥ 0.36 mm, well above
#: what handheld pharmacy scanners resolve.
QR_SIZE = 18.0 * mm
QR_GAP = 1.0 * mm
#: Width of the text block beside the QR code, and of the full-width lines below it.
TEXT_W = LABEL_W - 2 * PAD - QR_SIZE - QR_GAP
FULL_W = LABEL_W - 2 * PAD
#: Error-correction level M survives ~15 % damage (a scuffed label) at a modest size cost.
QR_LEVEL = "M"
CHILDREN_WARNING = "Keep out of the sight and reach of children."
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class TextLine:
    """One templated line: the field it shows, its text, font, size bounds and box width."""

    field: str
    text: str
    bold: bool
    max_pt: float
    min_pt: float
    width: float

    @property
    def font(self) -> str:
        f = fonts()
        return f.bold if self.bold else f.regular

    def size(self) -> float | None:
        """Largest font size within [min_pt, max_pt] at which the text fits, or None."""
        w = stringWidth(self.text, self.font, self.max_pt)
        if w <= self.width:
            return self.max_pt
        size = self.max_pt * self.width / w  # width scales linearly with size
        return size if size >= self.min_pt else None


def qr_payload(rx_id: str, lot: str) -> str:
    """What the QR code encodes. ';' and '=' cannot occur in either ID, so it parses back."""
    return f"RX={rx_id};LOT={lot}"


def date_text(d: object) -> str:
    """'01 Mar 2026': the month in letters cannot be misread as day/month or month/day."""
    return f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}"  # type: ignore[attr-defined]


def top_lines(label: LabelData) -> list[TextLine]:
    """Lines beside the QR code, top to bottom."""
    return [
        TextLine("drug", label.drug, True, 10.0, 6.5, TEXT_W),
        TextLine("strength_value", f"{label.strength} tablets · Qty {label.quantity}", True,
                 9.5, 7.0, TEXT_W),
        TextLine("patient_ref", f"Patient: {label.patient_ref}", False, 7.5, 5.5, TEXT_W),
        TextLine("rx_id", f"Rx: {label.rx_id}", False, 7.5, 5.5, TEXT_W),
        TextLine("lot", f"Lot: {label.lot}", False, 7.5, 5.5, TEXT_W),
        TextLine("use_by", f"Use by: {date_text(label.use_by)}", True, 8.0, 6.0, TEXT_W),
    ]


def bottom_lines(label: LabelData) -> list[TextLine]:
    """Full-width lines under the QR code: storage text and the children warning."""
    return [
        TextLine("storage", label.storage_text, False, 6.5, 5.0, FULL_W),
        TextLine("storage", CHILDREN_WARNING, True, 6.5, 5.0, FULL_W),
    ]


def label_origin(index: int) -> tuple[float, float]:
    """Bottom-left corner (pt) of the `index`-th label on its page (row-major from top-left)."""
    slot = index % PER_PAGE
    row, col = divmod(slot, COLS)
    x = MARGIN_LEFT + col * (LABEL_W + COL_GAP)
    y = SHEET[1] - MARGIN_TOP - (row + 1) * LABEL_H - row * ROW_GAP
    return x, y


def _draw_qr(c: Canvas, payload: str, x: float, y: float) -> None:
    widget = QrCodeWidget(payload, barLevel=QR_LEVEL, barWidth=QR_SIZE, barHeight=QR_SIZE)
    d = Drawing(QR_SIZE, QR_SIZE)
    d.add(widget)
    renderPDF.draw(d, c, x, y)


def draw_label(c: Canvas, label: LabelData, x: float, y: float, *,
               outline: bool = False) -> None:
    """Draw one validated label with its bottom-left corner at (x, y) in points."""
    if outline:
        c.setStrokeColor(colors.HexColor("#bbbbbb"))
        c.setLineWidth(0.3)
        c.roundRect(x, y, LABEL_W, LABEL_H, 2 * mm, stroke=1, fill=0)
    c.setFillColor(colors.black)
    top = y + LABEL_H - PAD
    _draw_qr(c, qr_payload(label.rx_id, label.lot), x + LABEL_W - PAD - QR_SIZE,
             top - QR_SIZE)
    cursor = top
    for line in top_lines(label):
        size = line.size() or line.min_pt  # validation guarantees a fit; never crash here
        cursor -= size * 1.18
        c.setFont(line.font, size)
        c.drawString(x + PAD, cursor, line.text)
    # The fixed wording sits on the bottom edge, so the top block's length never moves it;
    # at the largest sizes the two blocks stay ~8 pt apart.
    cursor = y + PAD
    for line in reversed(bottom_lines(label)):
        size = line.size() or line.min_pt
        c.setFont(line.font, size)
        c.drawString(x + PAD, cursor, line.text)
        cursor += size * 1.2
