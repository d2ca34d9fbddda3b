"""Read prescriptions from a FHIR R4 Bundle of ``MedicationRequest`` resources.

Each ``MedicationRequest`` entry becomes one row (numbered by its entry position, 1-based);
``Patient``, ``Observation`` and ``Medication`` entries give its context. Resources are
validated with the `fhir.resources` package (its R4B models, which read R4 JSON for these
resources). A request that cannot be mapped is a row error naming the entry, the field and
the value; it never stops the other requests.

Mapping (``EXT`` = ``https://dosecraft.org/fhir/StructureDefinition/``):

========================  ==============================================================
rx_id                     first ``identifier.value`` that is a valid rx_id, else ``id``
patient_ref               the Patient's first valid ``identifier.value``, else its ``id``
drug, formulation         ``EXT formulation`` on the request, else the one formulation of
                          that drug for the printer (medication from
                          ``medicationCodeableConcept`` or the referenced ``Medication``:
                          ``text``, then each ``coding.display``); unknown or ambiguous
                          medications are row errors
printer                   ``EXT printer`` on the request, else the reader's default
dose_mg / dose_mg_per_kg  ``dosageInstruction[0].doseAndRate[0].doseQuantity`` in ``mg``
                          or ``mg/kg``; any other unit (µg, g, ``{tbl}``, mL) is an error
weight_kg                 latest body-weight ``Observation`` (LOINC 29463-7 or 3141-9) of
                          the patient not after ``authoredOn``, else the Patient's
                          ``EXT body-weight`` extension (kg, g or [lb_av])
age_years                 ``birthDate`` to ``authoredOn`` (a partial birth date counts
                          from its latest possible day: the younger age, stricter limits)
quantity                  ``dispenseRequest.quantity`` (a whole number of tablets)
shape, release            optional ``EXT shape`` / ``EXT release`` extensions
========================  ==============================================================

Only ``status = active`` requests with an order intent are compounded.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dosecraft.constants import RX_ID_PATTERN
from dosecraft.dose.checks import drug_matches
from dosecraft.errors import DosecraftError, InvalidPrescription
from dosecraft.io.prescriptions import PrescriptionFileError, RowResult, parse_row

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


def is_fhir_bundle(text: str) -> bool:
    """Whether JSON text is a FHIR Bundle (``"resourceType": "Bundle"`` at the top)."""
    if '"Bundle"' not in text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("resourceType") == "Bundle"


def _models() -> dict[str, Any]:
    try:
        from fhir.resources.R4B.medication import Medication
        from fhir.resources.R4B.medicationrequest import MedicationRequest
        from fhir.resources.R4B.observation import Observation
        from fhir.resources.R4B.patient import Patient
    except ImportError:
        raise PrescriptionFileError("reading FHIR needs the 'fhir.resources' package: "
                                    "pip install 'fhir.resources>=8'") from None
    return {"MedicationRequest": MedicationRequest, "Patient": Patient,
            "Observation": Observation, "Medication": Medication}


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err.get("loc") or () if x != "__root__")
        parts.append(f"{loc or 'resource'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class _Bundle:
    """The Bundle's resources, validated, and looked up by reference."""

    def __init__(self, entries: list[Any], models: Mapping[str, Any]) -> None:
        #: (entry number, raw dict, validated model or None, why it is invalid or None)
        self.requests: list[tuple[int, dict[str, Any], Any, str | None]] = []
        self.by_ref: dict[str, Any] = {}
        self.problems: dict[str, str] = {}  # reference → why that resource is unusable
        self.observations: list[Any] = []
        for n, entry in enumerate(entries, start=1):
            res = entry.get("resource") if isinstance(entry, dict) else None
            kind = res.get("resourceType") if isinstance(res, dict) else None
            refs = self._refs(entry, res, kind)
            if kind not in models:
                continue
            try:
                model = models[kind].model_validate(res)
            except (ValidationError, ValueError, TypeError) as exc:
                msg = _pydantic_message(exc) if isinstance(exc, ValidationError) else str(exc)
                if kind == "MedicationRequest":
                    self.requests.append((n, res, None, f"not a valid MedicationRequest: {msg}"))
                for ref in refs:
                    self.problems[ref] = f"entry {n} ({kind}) is invalid: {msg}"
                continue
            if kind == "MedicationRequest":
                self.requests.append((n, res, model, None))
            elif kind == "Observation":
                self.observations.append(model)
            for ref in refs:
                self.by_ref[ref] = model

    @staticmethod
    def _refs(entry: Any, res: Any, kind: Any) -> list[str]:
        refs = []
        if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str):
            refs.append(entry["fullUrl"])
        if isinstance(res, dict) and isinstance(res.get("id"), str) and isinstance(kind, str):
            refs.append(f"{kind}/{res['id']}")
        return refs

    def resolve(self, reference: Any, kind: str, what: str) -> Any:
        ref = getattr(reference, "reference", None)
        if not ref:
            raise _EntryError(f"{what}: no reference given")
        if ref in self.problems:
            raise _EntryError(f"{what} = {ref!r}: {self.problems[ref]}")
        model = self.by_ref.get(ref) or self.by_ref.get(ref.split("/_history/")[0])
        if model is None and "/" in ref:  # absolute URL of a server: match its tail
            tail = "/".join(ref.rstrip("/").split("/")[-2:])
            model = self.by_ref.get(tail)
        if model is None or model.get_resource_type() != kind:
            raise _EntryError(f"{what} = {ref!r}: no {kind} with that reference in the Bundle")
        return model


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


def _drug_part(name: str) -> str:
    """'Propranolol hydrochloride 1 mg/mL gel' → 'propranolol hydrochloride'."""
    return " ".join(re.split(r"[\d(,;]", name, maxsplit=1)[0].lower().split())


class FormularyMatcher:
    """Picks the formulation for a medication name and a printer.

    Only an exact drug name (or the base of a salt form, as `drug_matches` allows) counts:
    a combination product named after its first ingredient must not match that ingredient.
    """

    def __init__(self, formulary_dirs: Iterable[str] = ()) -> None:
        self.dirs = tuple(formulary_dirs)
        self._all: list[Any] | None = None

    def formulations(self) -> list[Any]:
        if self._all is None:
            from dosecraft.formulary import formulation_ids, get_formulation

            self._all = []
            for fid in formulation_ids(self.dirs):
                try:
                    self._all.append(get_formulation(fid, self.dirs))
                except DosecraftError:
                    continue  # a broken file is reported when a row names it
        return self._all

    def choose(self, names: list[str], explicit: Any, printer: str) -> tuple[str, str]:
        """(drug, formulation ID) for a request; raises `_EntryError` with the reason."""
        from dosecraft.formulary import get_formulation
        from dosecraft.profiles import load_profile

        drugs = [d for d in (_drug_part(n) for n in names) if d]
        if explicit is not None:
            f = get_formulation(str(explicit), self.dirs)
            if drugs and not any(drug_matches(d, f.drug) for d in drugs):
                raise _EntryError(f"medication {names[0]!r} does not match formulation "
                                  f"{f.id!r}, which contains {f.drug!r}")
            return f.drug, f.id
        if not drugs:
            raise _EntryError("no medication: give medicationCodeableConcept.text (or a "
                              "coding display) or a referenced Medication with a code")
        candidates = [f for f in self.formulations()
                      if any(drug_matches(d, f.drug) for d in drugs)]
        if not candidates:
            known = sorted({f.drug for f in self.formulations()})
            raise _EntryError(f"unknown medication {names[0]!r}: no formulation in the "
                              f"formulary is for it (drugs: {', '.join(known)}); add the "
                              f"extension {EXT_FORMULATION} to name one")
        profile = load_profile(printer)
        fits = [f for f in candidates if f.technology == profile.technology and not (
            f.filament_diameter_mm and profile.feed_diameter_mm
            and abs(f.filament_diameter_mm - profile.feed_diameter_mm) > 0.05)]
        listed = ", ".join(f"{f.id} ({f.technology})" for f in candidates)
        if not fits:
            raise _EntryError(f"no formulation of {candidates[0].drug!r} prints on printer "
                              f"{printer!r} ({profile.technology}); formulary has: {listed}")
        if len(fits) > 1:
            raise _EntryError(f"medication {names[0]!r} is ambiguous on printer {printer!r}: "
                              f"{', '.join(f.id for f in fits)}; name one with the "
                              f"extension {EXT_FORMULATION}")
        return fits[0].drug, fits[0].id


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


def _raw_rx_id(raw: dict[str, Any]) -> str | None:
    """The rx_id a request would have, read from its raw JSON (for error rows)."""
    for ident in raw.get("identifier") or []:
        value = ident.get("value") if isinstance(ident, dict) else None
        if isinstance(value, str) and _RX_ID.match(value):
            return value
    rid = raw.get("id")
    return rid if isinstance(rid, str) else None


def read_fhir_data(data: Any, *, default_printer: str | None = None,
                   formulary_dirs: Iterable[str] = (),
                   base_dir: Path | None = None) -> list[RowResult]:
    """Rows of a parsed FHIR Bundle (see the module docstring).

    Raises
    ------
    PrescriptionFileError
        When `data` is not a Bundle or holds no MedicationRequest.
    """
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise PrescriptionFileError("not a FHIR Bundle (resourceType must be 'Bundle')")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise PrescriptionFileError("the FHIR Bundle has no 'entry' list")
    bundle = _Bundle(entries, _models())
    if not bundle.requests:
        raise PrescriptionFileError("the FHIR Bundle holds no MedicationRequest entries")
    mapper = _RequestMapper(bundle, FormularyMatcher(formulary_dirs), default_printer)
    results: list[RowResult] = []
    seen: dict[str, int] = {}
    for n, raw, mr, problem in bundle.requests:
        rid = raw.get("id")
        where = f"entry {n} (MedicationRequest{'/' + rid if isinstance(rid, str) else ''})"
        rx_hint = _raw_rx_id(raw)
        try:
            if problem is not None:
                raise _EntryError(problem)
            rx = parse_row(mapper.map(mr), None, base_dir)
            if rx.rx_id in seen:
                raise _EntryError(f"rx_id = {rx.rx_id!r}: duplicate of entry {seen[rx.rx_id]}; "
                                  "every prescription ID must be unique in a file")
            seen[rx.rx_id] = n
            results.append(RowResult(n, rx.rx_id, rx, None))
        except (_EntryError, DosecraftError) as exc:
            err = exc if isinstance(exc, InvalidPrescription) else None
            results.append(RowResult(n, rx_hint, None, InvalidPrescription(
                f"{where}: {exc}", field=err.field if err else None,
                value=err.value if err else None)))
    return results


def read_fhir_text(text: str, *, default_printer: str | None = None,
                   formulary_dirs: Iterable[str] = (),
                   base_dir: Path | None = None) -> list[RowResult]:
    """Rows of a FHIR Bundle given as JSON text (see `read_fhir_data`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PrescriptionFileError(f"not valid JSON: {exc}") from None
    return read_fhir_data(data, default_printer=default_printer,
                          formulary_dirs=formulary_dirs, base_dir=base_dir)
