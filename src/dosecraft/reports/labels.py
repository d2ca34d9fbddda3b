"""Patient labels (PDF) from a locked, code-defined template.

Every field is validated by `LabelData` before anything is drawn: lengths, allowed
characters (and that the label font can draw each one), a strength built from a number and
a unit enum (never free text), storage text from an enum, and a use-by date after today and
not beyond the formulation lot's expiry. A bad label is refused with the field and value.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from reportlab.pdfgen.canvas import Canvas

from dosecraft.constants import QUANTITY_MAX, QUANTITY_MIN, RX_ID_PATTERN
from dosecraft.errors import DosecraftError
from dosecraft.io.atomic import write_atomic
from dosecraft.reports import label_layout as L
from dosecraft.reports.batchinfo import LOT_PATTERN
from dosecraft.reports.fonts import fonts, missing_glyphs

#: Drug names: letters (any script the font draws), digits, space and . , ' ( ) / + % -.
DRUG_PATTERN = r"^[^\W_][\w .,'()/+%-]*$"
#: Patient references: pseudonyms or names as given; letters, digits, space, . ' -.
PATIENT_PATTERN = r"^[^\W_][\w .'-]*$"
#: More decimals than this would print a precision the balance and solver do not have.
STRENGTH_MAX_DECIMALS = 3


class LabelError(DosecraftError):
    """Label data were refused; the message names each field and value at fault."""


class StrengthUnit(StrEnum):
    """Units a strength may be printed in ('mcg', not 'µg', which is misread as 'mg')."""

    MG = "mg"
    MCG = "mcg"
    G = "g"


class StorageCondition(StrEnum):
    """Allowed storage conditions; the printed wording is fixed in `STORAGE_TEXT`."""

    BELOW_25C_DRY = "below_25c_dry"
    BELOW_30C_DRY = "below_30c_dry"
    REFRIGERATED = "refrigerated"


#: Printed storage wording. Printed polymer tablets (PVA, HPMC) take up moisture, so each
#: condition says to keep them dry.
STORAGE_TEXT: dict[StorageCondition, str] = {
    StorageCondition.BELOW_25C_DRY: "Store below 25 °C, tightly closed. Keep dry.",
    StorageCondition.BELOW_30C_DRY: "Store below 30 °C, tightly closed. Keep dry.",
    StorageCondition.REFRIGERATED: "Refrigerate at 2–8 °C, tightly closed. Keep dry.",
}


def format_strength(value: float, unit: StrengthUnit) -> str:
    """'12.5 mg', '0.5 mg', '5 mg': a leading zero always, a trailing zero never (ISMP:
    '.5 mg' is read as '5 mg' and '5.0 mg' as '50 mg')."""
    text = f"{value:.{STRENGTH_MAX_DECIMALS}f}".rstrip("0").rstrip(".")
    return f"{text} {unit.value}"


class LabelData(BaseModel):
    """Everything printed on one patient label, validated.

    Attributes
    ----------
    rx_id : prescription ID. drug : drug name (≤ 48 chars). strength_value, strength_unit :
    the strength per tablet, printed as e.g. "12.5 mg". patient_ref : pseudonym or name as
    given (≤ 40 chars). lot : formulation lot. lot_expiry : that lot's expiry (not printed;
    bounds the use-by date). use_by : use-by date, after today. storage : storage condition.
    quantity : tablets in the container.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    rx_id: Annotated[str, Field(pattern=RX_ID_PATTERN)]
    drug: Annotated[str, Field(min_length=1, max_length=48, pattern=DRUG_PATTERN)]
    strength_value: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False, strict=True)]
    strength_unit: StrengthUnit = StrengthUnit.MG
    patient_ref: Annotated[str, Field(min_length=1, max_length=40, pattern=PATIENT_PATTERN)]
    lot: Annotated[str, Field(pattern=LOT_PATTERN)]
    lot_expiry: dt.date
    use_by: dt.date
    storage: StorageCondition
    quantity: Annotated[int, Field(ge=QUANTITY_MIN, le=QUANTITY_MAX, strict=True)]

    @field_validator("drug", "patient_ref")
    @classmethod
    def _printable(cls, value: str) -> str:
        if "  " in value:
            raise ValueError("contains a double space")
        missing = missing_glyphs(value, fonts().regular)
        if missing:
            raise ValueError(f"character(s) {''.join(missing)!r} cannot be printed in the "
                             "label font")
        return value

    @field_validator("strength_value")
    @classmethod
    def _precision(cls, value: float) -> float:
        exponent = Decimal(repr(value)).normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -STRENGTH_MAX_DECIMALS:
            raise ValueError(f"has more than {STRENGTH_MAX_DECIMALS} decimals; round the "
                             "strength to what is dispensed")
        return value

    @field_validator("use_by")
    @classmethod
    def _after_today(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        today = (info.context or {}).get("today") or dt.date.today()
        if value <= today:
            raise ValueError(f"must be after today ({today.isoformat()})")
        return value

    @model_validator(mode="after")
    def _fits_and_within_lot(self) -> LabelData:
        if self.use_by > self.lot_expiry:
            raise ValueError(f"use_by = {self.use_by.isoformat()}: beyond the lot's expiry "
                             f"(lot_expiry = {self.lot_expiry.isoformat()})")
        for line in L.top_lines(self) + L.bottom_lines(self):
            if line.size() is None:
                raise ValueError(f"{line.field} = {getattr(self, line.field)!r}: too long to "
                                 f"fit the label at {line.min_pt:g} pt; shorten it")
        return self

    @property
    def strength(self) -> str:
        """The printed strength, e.g. '12.5 mg'."""
        return format_strength(self.strength_value, self.strength_unit)

    @property
    def storage_text(self) -> str:
        return STORAGE_TEXT[self.storage]

    @property
    def qr_payload(self) -> str:
        """What the label's QR code encodes: 'RX=<rx_id>;LOT=<lot>'."""
        return L.qr_payload(self.rx_id, self.lot)


#: Pattern errors in words: a pharmacist should not have to read a regular expression.
_PATTERN_HINTS = {
    "rx_id": "must be 1–64 letters, digits, '_', '-' or '.', not starting with '.'",
    "drug": "must start with a letter or digit and hold only letters, digits, spaces and "
            ". , ' ( ) / + % -",
    "patient_ref": "must start with a letter or digit and hold only letters, digits, spaces "
                   "and . ' -",
    "lot": "must be 1–24 letters, digits, '-', '_', '/' or '.', starting with a letter or "
           "digit",
}


def _describe(exc: ValidationError, data: Any) -> str:
    """pydantic's errors as 'field = value: message; ...'."""
    parts = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "string_pattern_mismatch" and loc:
            msg = _PATTERN_HINTS.get(str(loc[0]), msg)
        if loc:
            field = str(loc[0])
            value = data.get(field, err.get("input")) if isinstance(data, dict) else None
            shown = value.isoformat() if isinstance(value, dt.date) else repr(value)
            parts.append(f"{field} = {shown}: {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts)


def make_label(data: dict[str, Any], *, today: dt.date | None = None) -> LabelData:
    """Validate a dict of label fields; raise `LabelError` naming each bad field and value."""
    try:
        return LabelData.model_validate(data, context={"today": today or dt.date.today()})
    except ValidationError as exc:
        rx = data.get("rx_id") if isinstance(data, dict) else None
        raise LabelError(f"label {rx!r} refused: {_describe(exc, data)}" if rx
                         else f"label refused: {_describe(exc, data)}") from None


def build_labels(labels: Sequence[LabelData], *, today: dt.date | None = None,
                 outline: bool = False) -> bytes:
    """Render label sheets to PDF bytes (see `write_labels`)."""
    if not labels:
        raise LabelError("no labels to print: the batch has no released prescription")
    # Re-validate at print time: a label made yesterday may have a use-by that is now today.
    problems = []
    checked: list[LabelData] = []
    for i, label in enumerate(labels, start=1):
        try:
            checked.append(make_label(label.model_dump(), today=today))
        except LabelError as exc:
            problems.append(f"#{i}: {exc}")
    if problems:
        raise LabelError(f"{len(problems)} label(s) refused, nothing printed: "
                         + " | ".join(problems))
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=L.SHEET, invariant=True)
    c.setTitle("dosecraft patient labels")
    c.setCreator("dosecraft")
    for i, label in enumerate(checked):
        if i and i % L.PER_PAGE == 0:
            c.showPage()
        x, y = L.label_origin(i)
        L.draw_label(c, label, x, y, outline=outline)
    c.showPage()
    c.save()
    return buf.getvalue()


def write_labels(path: str | os.PathLike, labels: Sequence[LabelData], *,
                 today: dt.date | None = None, outline: bool = False) -> Path:
    """Write the labels PDF atomically, 24 labels per A4 sheet (3 × 8, 63.5 × 33.9 mm).

    Parameters
    ----------
    path : output file. labels : validated labels, one per prescription container.
    today : the date use-by must follow (default: the real today); all labels are
        re-validated against it, and if any is refused nothing is written.
    outline : draw the die-cut outlines (for plain paper proofs, not label stock).

    Raises
    ------
    LabelError
        When `labels` is empty or any label fails validation.
    """
    return write_atomic(path, build_labels(labels, today=today, outline=outline))


def labels_from_rows(rows: Sequence[Mapping[str, Any]], lots: Mapping[str, tuple[str, dt.date]],
                     *, use_by: dt.date, storage: StorageCondition,
                     today: dt.date | None = None) -> tuple[list[LabelData], list[str]]:
    """Labels for the releasable rows of a batch, and a message per row left without one.

    Parameters
    ----------
    rows : batch.json rows. Only rows with status "ok" and a passed dose check get a label.
    lots : formulation ID → (lot, lot expiry), e.g. from `BatchInfo.formulations`.
    use_by, storage : the same for every label of the batch.
    today : see `make_label`.

    Returns
    -------
    (labels, skipped) : the validated labels in row order, and "row N (rx_id): reason" or
    "rx_id: reason" for each
    row that did not get one (failed row, failed dose check, missing lot, invalid field).
    The strength is the target dose in mg rounded to 3 decimals (far inside the ±1 % dose
    tolerance).
    """
    labels: list[LabelData] = []
    skipped: list[str] = []
    for row in rows:
        rx = row.get("rx_id")
        check = row.get("dose_check") or {}
        if row.get("status") != "ok" or check.get("passed") is not True:
            # named by row too: a failed row's rx_id may be unreadable or another row's
            n = row.get("row")
            where = str(rx) if n is None else f"row {n}" + (f" ({rx})" if rx else "")
            skipped.append(f"{where}: no label, not released (failed row or dose check)")
            continue
        lot = lots.get(str(row.get("formulation")))
        if lot is None:
            skipped.append(f"{rx}: no lot recorded for formulation {row.get('formulation')!r}")
            continue
        dose = row.get("target_dose_mg")
        data = {"rx_id": rx, "drug": row.get("drug"), "patient_ref": row.get("patient_ref"),
                "strength_value": round(float(dose), 3) if isinstance(dose, int | float)
                else dose, "strength_unit": StrengthUnit.MG, "lot": lot[0],
                "lot_expiry": lot[1], "use_by": use_by, "storage": storage,
                "quantity": row.get("quantity")}
        try:
            labels.append(make_label(data, today=today))
        except LabelError as exc:
            skipped.append(f"{rx}: {exc}")
    return labels, skipped
