"""Prescription ⇄ formulation ⇄ printer consistency and dose limit checks."""

from dosecraft.errors import InvalidPrescription
from dosecraft.model.enums import Technology
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile
from dosecraft.slicer.flow import filament_mismatch


def drug_matches(prescribed: str, formulated: str) -> bool:
    """Whether a prescribed drug name names the formulation's drug.

    The same name matches, and so does the base name of a salt form ("propranolol" for
    "propranolol hydrochloride"): doses of such products are stated as the salt, which is
    what the formulation's loading refers to.
    """
    a = " ".join(prescribed.lower().split())
    b = " ".join(formulated.lower().split())
    return a == b or b.startswith(a + " ")


def _dose_field(rx: Prescription) -> tuple[str, float]:
    if rx.dose_mg is not None:
        return "dose_mg", rx.dose_mg
    assert rx.dose_mg_per_kg is not None
    return "dose_mg_per_kg", rx.dose_mg_per_kg


def _formulations_for(drug: str) -> str:
    """Advice naming the formulations that contain `drug`, or the closest drug names."""
    from difflib import get_close_matches

    from dosecraft.errors import DosecraftError
    from dosecraft.formulary import formulation_ids, get_formulation

    known: list[Formulation] = []
    for formulation_id in formulation_ids():
        try:
            known.append(get_formulation(formulation_id))
        except DosecraftError:  # a broken user file is reported where it is listed
            continue
    matching = [f.id for f in known if drug_matches(drug, f.drug)]
    if matching:
        return f"formulations with {drug}: {', '.join(matching)}"
    drugs = sorted({f.drug.lower() for f in known})
    close = get_close_matches(drug.lower(), drugs, n=2, cutoff=0.75)
    guess = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return (f"no formulation in the formulary contains '{drug}'; {guess}see dosecraft "
            "formulary list")


def check_prescription(rx: Prescription, formulation: Formulation,
                       profile: PrinterProfile) -> None:
    """Raise `InvalidPrescription` when the prescription doesn't fit its formulation/printer.

    Checks the drug name, the technology, the filament diameter, and the dose against the
    formulation's per-unit range and daily maximum (absolute and, for a known weight, per
    kg): a single unit above the daily maximum is a tenfold-type error, never intended.
    """
    if not drug_matches(rx.drug, formulation.drug):
        raise InvalidPrescription(
            f"drug '{rx.drug}' does not match formulation '{formulation.id}', which contains "
            f"'{formulation.drug}'; {_formulations_for(rx.drug)}", field="drug",
            value=rx.drug)
    if formulation.technology != profile.technology:
        raise InvalidPrescription(
            f"printer '{profile.id}' is a {str(profile.technology).upper()} printer but "
            f"formulation '{formulation.id}' needs {str(formulation.technology).upper()}; "
            "choose a matching printer", field="printer", value=rx.printer)
    e_error = (filament_mismatch(formulation.filament_diameter_mm, profile.feed_diameter_mm)
               if formulation.technology == Technology.FDM else None)
    if e_error is not None:
        raise InvalidPrescription(
            f"formulation '{formulation.id}' is {formulation.filament_diameter_mm:g} mm "
            f"filament but printer '{profile.id}' is set for {profile.feed_diameter_mm:g} mm: "
            f"the dose would be off by {e_error:+.1%}; choose a printer profile whose "
            "feed_diameter_mm is the filament's measured diameter", field="printer",
            value=rx.printer)
    field, value = _dose_field(rx)
    dose = rx.unit_dose_mg
    per_kg_note = f" ({value} mg/kg × {rx.weight_kg} kg)" if field == "dose_mg_per_kg" else ""
    if dose > formulation.max_dose_per_unit_mg:
        raise InvalidPrescription(
            f"{field} = {value}: a unit dose of {dose:g} mg{per_kg_note} exceeds the maximum "
            f"of {formulation.max_dose_per_unit_mg:g} mg per unit for '{formulation.id}'; "
            "divide the dose over several units", field=field, value=value)
    if dose < formulation.min_dose_per_unit_mg:
        raise InvalidPrescription(
            f"{field} = {value}: a unit dose of {dose:g} mg{per_kg_note} is below the "
            f"smallest printable dose of {formulation.min_dose_per_unit_mg:g} mg for "
            f"'{formulation.id}'; use a lower-strength formulation", field=field, value=value)
    if dose > formulation.max_daily_dose_mg:
        raise InvalidPrescription(
            f"{field} = {value}: one unit of {dose:g} mg{per_kg_note} exceeds the maximum "
            f"daily dose of {formulation.max_daily_dose_mg:g} mg of {formulation.drug}; "
            "check the dose and its unit", field=field, value=value)
    if rx.weight_kg is not None and formulation.max_daily_mg_per_kg is not None:
        limit = formulation.max_daily_mg_per_kg * rx.weight_kg
        # a per-kg prescription is judged on its mg/kg: rounding it to a measurable dose
        # (3 significant figures) must not turn the largest allowed dose into a refusal
        per_kg = rx.dose_mg_per_kg if rx.dose_mg_per_kg is not None else dose / rx.weight_kg
        if per_kg > formulation.max_daily_mg_per_kg * (1 + 1e-9):
            raise InvalidPrescription(
                f"{field} = {value}: one unit of {dose:g} mg{per_kg_note} is "
                f"{per_kg:.4g} mg/kg, above the daily maximum of "
                f"{formulation.max_daily_mg_per_kg:g} mg/kg/day ({limit:.4g} mg for "
                f"{rx.weight_kg:g} kg); check the dose, its unit and the weight",
                field=field, value=value)
