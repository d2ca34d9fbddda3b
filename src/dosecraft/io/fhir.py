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

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dosecraft.errors import DosecraftError, InvalidPrescription
from dosecraft.io.fhir_map import (  # noqa: F401  (public names re-exported)
    _RX_ID,
    BODY_WEIGHT_CODES,
    EXT,
    EXT_BODY_WEIGHT,
    EXT_FORMULATION,
    EXT_PRINTER,
    EXT_RELEASE,
    EXT_SHAPE,
    LOINC,
    ORDER_INTENTS,
    _EntryError,
    _RequestMapper,
    medication_names,
)
from dosecraft.io.fhir_match import FormularyMatcher
from dosecraft.io.prescriptions import PrescriptionFileError, RowResult, parse_row


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
