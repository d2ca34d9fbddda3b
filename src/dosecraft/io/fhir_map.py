"""One FHIR ``MedicationRequest`` → one prescription row (a raw mapping for `parse_row`).

The field mapping is tabled in `dosecraft.io.fhir`; the formulation for a medication is
picked by `dosecraft.io.fhir_match.FormularyMatcher`. A request that cannot be mapped raises
`_EntryError` naming the field and the value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dosecraft.constants import RX_ID_PATTERN

if TYPE_CHECKING:
    from dosecraft.io.fhir import _Bundle
    from dosecraft.io.fhir_match import FormularyMatcher

EXT = "https://dosecraft.org/fhir/StructureDefinition/"
EXT_FORMULATION, EXT_PRINTER = EXT + "formulation", EXT + "printer"
EXT_SHAPE, EXT_RELEASE, EXT_BODY_WEIGHT = EXT + "shape", EXT + "release", EXT + "body-weight"
LOINC = "http://loinc.org"
BODY_WEIGHT_CODES = ("29463-7", "3141-9")
ORDER_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")
_TABLET_UNITS = {"", "{tbl}", "tbl", "tab", "tablet", "tablets", "{tablet}", "{tablets}",
                 "1", "{unit}", "unit", "units", "{dose}"}
_WEIGHT_TO_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237}
_RX_ID = re.compile(RX_ID_PATTERN)
_PATIENT_REF = re.compile(r"^[A-Za-z0-9_\-.:#]{1,64}$")


class _EntryError(Exception):
    """A request that cannot be mapped; the message names the field and value."""


def _ext(resource: Any, url: str) -> Any:
    for e in getattr(resource, "extension", None) or []:
        if e.url == url:
            for name in ("valueString", "valueCode", "valueId", "valueQuantity"):
                value = getattr(e, name, None)
                if value is not None:
                    return value
    return None


def _quantity_unit(q: Any) -> str:
    return str(q.code or q.unit or "").strip()


def _weight_kg(q: Any, where: str) -> float:
    unit = _quantity_unit(q)
    factor = _WEIGHT_TO_KG.get(unit) or _WEIGHT_TO_KG.get(unit.lower())
    if q.value is None or factor is None:
        raise _EntryError(f"{where} = {q.value} {unit!r}: give the weight in kg (or g, [lb_av])")
    return round(float(q.value) * factor, 4)


def _datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return None


def _latest_birth(value: Any) -> dt.date | None:
    """A FHIR birthDate as a date; a partial one (YYYY, YYYY-MM) as its last possible day."""
    if isinstance(value, dt.date):
        return value
    text = str(value or "")
    if re.fullmatch(r"\d{4}", text):
        return dt.date(int(text), 12, 31)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(m[1]), int(m[2])
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    return None


def medication_names(concept: Any) -> list[str]:
    """Names of a medication CodeableConcept: its text, then each coding's display."""
    names = [concept.text] + [c.display for c in concept.coding or []]
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


class _RequestMapper:
    """Turns one validated MedicationRequest into a prescription row (a raw mapping)."""

    def __init__(self, bundle: _Bundle, matcher: FormularyMatcher,
                 default_printer: str | None) -> None:
        self.bundle, self.matcher, self.default_printer = bundle, matcher, default_printer

    def map(self, mr: Any) -> dict[str, Any]:
        if mr.status != "active":
            raise _EntryError(f"status = {mr.status!r}: only active requests are compounded")
        if mr.intent not in ORDER_INTENTS:
            raise _EntryError(f"intent = {mr.intent!r}: not an order (one of "
                              f"{', '.join(ORDER_INTENTS)})")
        authored = _datetime(mr.authoredOn)
        patient = self.bundle.resolve(mr.subject, "Patient", "subject")
        printer = _ext(mr, EXT_PRINTER) or self.default_printer
        if not printer:
            raise _EntryError("no printer: give the reader a default printer (the CLI's "
                              f"--printer) or add the extension {EXT_PRINTER}")
        names = self._medication_names(mr)
        drug, formulation = self.matcher.choose(names, _ext(mr, EXT_FORMULATION), str(printer))
        row: dict[str, Any] = {
            "rx_id": self._rx_id(mr), "patient_ref": self._patient_ref(patient),
            "drug": drug, "formulation": formulation, "printer": printer,
            "shape": _ext(mr, EXT_SHAPE), "release": _ext(mr, EXT_RELEASE),
        }
        row.update(self._dose(mr))
        row["weight_kg"] = self._weight(patient, authored)
        if "dose_mg_per_kg" in row and row["weight_kg"] is None:
            raise _EntryError(f"dose_mg_per_kg = {row['dose_mg_per_kg']}: the patient has no "
                              f"body weight (an Observation LOINC {BODY_WEIGHT_CODES[0]} or "
                              f"the extension {EXT_BODY_WEIGHT})")
        row["age_years"] = self._age(patient, authored)
        row["quantity"] = self._quantity(mr)
        return {k: v for k, v in row.items() if v is not None}

    @staticmethod
    def _rx_id(mr: Any) -> str:
        for ident in mr.identifier or []:
            if ident.value and _RX_ID.match(ident.value):
                return str(ident.value)
        if mr.id:
            return str(mr.id)
        shown = [i.value for i in mr.identifier or []]
        raise _EntryError(f"identifier = {shown!r}: no usable prescription ID (1–64 letters, "
                          "digits, '_', '-' or '.', not starting with '.') and no id")

    @staticmethod
    def _patient_ref(patient: Any) -> str | None:
        for ident in patient.identifier or []:
            if ident.value and _PATIENT_REF.match(ident.value):
                return str(ident.value)
        return str(patient.id) if patient.id else None

    def _medication_names(self, mr: Any) -> list[str]:
        if mr.medicationCodeableConcept is not None:
            return medication_names(mr.medicationCodeableConcept)
        if mr.medicationReference is not None:
            med = self.bundle.resolve(mr.medicationReference, "Medication",
                                      "medicationReference")
            if med.code is not None:
                return medication_names(med.code)
        return []

    @staticmethod
    def _dose(mr: Any) -> dict[str, float]:
        doses = [dr.doseQuantity for di in mr.dosageInstruction or []
                 for dr in (di.doseAndRate or [])[:1] if dr.doseQuantity is not None]
        if not doses:
            raise _EntryError("dosageInstruction[0].doseAndRate[0].doseQuantity is missing: "
                              "give the dose per tablet in mg or mg/kg")
        if len({(d.value, _quantity_unit(d)) for d in doses}) > 1:
            shown = ", ".join(f"{d.value} {_quantity_unit(d)}" for d in doses)
            raise _EntryError(f"dosageInstruction gives several doses ({shown}); a "
                              "prescription for one tablet strength needs one dose")
        q = doses[0]
        unit = _quantity_unit(q)
        value = float(q.value) if isinstance(q.value, Decimal | int | float) else None
        if value is None:
            raise _EntryError("doseQuantity has no value")
        norm = unit.replace(" ", "").lower()
        if norm == "mg":
            return {"dose_mg": value}
        if norm in ("mg/kg", "mg/kg{bw}", "mg/kg/dose"):
            return {"dose_mg_per_kg": value}
        hint = {"ug": "convert to mg", "µg": "convert to mg", "mcg": "convert to mg",
                "g": "convert to mg", "ml": "a volume is not a tablet dose"}.get(
            norm, "a tablet count or other unit cannot be turned into a dose")
        raise _EntryError(f"doseQuantity = {value:g} {unit!r}: unit not accepted ({hint}); "
                          "give the dose per tablet in 'mg' or 'mg/kg'")

    def _weight(self, patient: Any, authored: dt.datetime | None) -> float | None:
        ref_keys = {f"Patient/{patient.id}"} if patient.id else set()
        best: tuple[dt.datetime, float] | None = None
        for obs in self.bundle.observations:
            codes = {(c.system, c.code) for c in (obs.code.coding or [])}
            if not any((LOINC, code) in codes for code in BODY_WEIGHT_CODES):
                continue
            if obs.status not in ("final", "amended", "corrected"):
                continue
            subject = getattr(obs.subject, "reference", None)
            if subject is None or not (subject in ref_keys or self.bundle.by_ref.get(subject)
                                       is patient):
                continue
            if obs.valueQuantity is None:
                continue
            when = _datetime(obs.effectiveDateTime) or dt.datetime.min.replace(tzinfo=dt.UTC)
            if authored is not None and when > authored:
                continue  # weighed after the prescription was written
            kg = _weight_kg(obs.valueQuantity, "Observation body weight")
            if best is None or when >= best[0]:
                best = (when, kg)
        if best is not None:
            return best[1]
        ext = _ext(patient, EXT_BODY_WEIGHT)
        return _weight_kg(ext, "Patient body-weight extension") if ext is not None else None

    @staticmethod
    def _age(patient: Any, authored: dt.datetime | None) -> float | None:
        birth = _latest_birth(patient.birthDate)
        if birth is None or authored is None:
            return None
        days = (authored.date() - birth).days
        if days < 0:
            raise _EntryError(f"birthDate = {patient.birthDate}: after the prescription "
                              f"(authoredOn {authored.date().isoformat()})")
        return round(days / 365.25, 2)

    @staticmethod
    def _quantity(mr: Any) -> Any:
        q = getattr(mr.dispenseRequest, "quantity", None)
        if q is None or q.value is None:
            return None  # one tablet, as for a CSV row without quantity
        unit = _quantity_unit(q)
        if unit.lower() not in _TABLET_UNITS:
            raise _EntryError(f"dispenseRequest.quantity = {q.value} {unit!r}: not a number "
                              "of tablets")
        return str(q.value)
