"""FHIR R4 Bundles of MedicationRequests → prescription rows (the sample bundles and edge cases)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

pytest.importorskip("fhir.resources")

from dosecraft.io.fhir import (  # noqa: E402
    EXT,
    is_fhir_bundle,
    read_fhir_data,
)
from dosecraft.io.prescriptions import PrescriptionFileError, read_prescriptions  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "fhir"
UCUM = "http://unitsofmeasure.org"


def _good() -> dict:
    return json.loads((SAMPLES / "good_bundle.json").read_text())


def _request(bundle: dict, rid: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == rid)


def _rows(bundle: dict, printer: str = "generic_fdm_175") -> dict:
    return {r.rx_id: r for r in read_fhir_data(bundle, default_printer=printer)}


def test_good_bundle_maps_every_request() -> None:
    rows = read_prescriptions(SAMPLES / "good_bundle.json", default_printer="generic_fdm_175")
    assert [r.row for r in rows] == [8, 9, 10, 11, 12]  # entry positions
    assert all(r.ok for r in rows), [str(r.error) for r in rows if not r.ok]
    rx = {r.rx_id: r.prescription for r in rows}
    para = rx["FHIR-RX-0001"]
    assert (para.drug, para.formulation, para.printer) == (
        "paracetamol", "paracetamol_pva_fdm", "generic_fdm_175")
    assert para.dose_mg == 100 and para.quantity == 4 and para.patient_ref == "MRN-10001"
    assert para.age_years == pytest.approx(45.78, abs=0.01)
    # latest weight not after authoredOn (2026-01-12): 13.4 kg of 2026-01-10, not 14.0 later
    pred = rx["FHIR-RX-0002"]
    assert pred.dose_mg_per_kg == 0.5 and pred.weight_kg == 13.4
    # weight from the Patient extension, partial birthDate counted from its last day
    prop = rx["FHIR-RX-0003"]
    assert (prop.formulation, prop.printer, prop.weight_kg) == (
        "propranolol_gel_sse", "generic_sse_syringe", 16.0)
    assert prop.drug == "propranolol hydrochloride" and prop.age_years == pytest.approx(3.54)
    hydro = rx["FHIR-RX-0004"]  # medicationReference → Medication, formulation extension
    assert (hydro.drug, hydro.formulation) == ("hydrocortisone", "hydrocortisone_gel_sse")
    theo = rx["FHIR-RX-0005"]
    assert (theo.shape.value, theo.release.value) == ("cylinder", "sustained")


def test_bad_bundle_gives_one_clear_error_per_entry_and_keeps_the_good_one() -> None:
    rows = read_prescriptions(SAMPLES / "bad_bundle.json", default_printer="generic_fdm_175")
    by_row = {r.row: r for r in rows}
    expected = {
        3: "unknown medication 'Acetaminophen 500 mg tablet'",
        4: "doseQuantity = 250 'ug': unit not accepted (convert to mg)",
        5: "doseQuantity = 1 '{tbl}': unit not accepted",
        6: "the patient has no body weight",
        7: "status = 'cancelled'",
        8: "not a valid MedicationRequest: subject: Field required",
        9: "no usable prescription ID",
        11: "duplicate of entry 10",
        12: "not a whole number of tablets",
        13: "dispenseRequest.quantity = 30 'mL': not a number of tablets",
        14: "unknown printer profile 'no_such_printer'",
        15: "subject = 'Patient/nobody': no Patient with that reference",
    }
    for row, message in expected.items():
        assert not by_row[row].ok and message in str(by_row[row].error), (row, by_row[row])
        assert str(by_row[row].error).startswith(f"entry {row} (MedicationRequest")
    assert by_row[10].ok and by_row[10].rx_id == "FHIR-GOOD-01"
    assert by_row[8].rx_id == "FHIR-BAD-06"  # named even though the resource is invalid


def test_ambiguous_medication_asks_for_the_extension(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = Path(__file__).resolve().parents[1] / "src/dosecraft/formulary/data"
    text = (shipped / "paracetamol_pva_fdm.toml").read_text()
    (tmp_path / "paracetamol_peo_fdm.toml").write_text(text.replace(
        'id = "paracetamol_pva_fdm"', 'id = "paracetamol_peo_fdm"'))
    monkeypatch.setenv("DOSECRAFT_FORMULARY_PATH", str(tmp_path))
    bundle = _good()
    rows = _rows(bundle)
    err = str(rows["FHIR-RX-0001"].error)
    assert "is ambiguous on printer 'generic_fdm_175'" in err
    assert "paracetamol_peo_fdm" in err and "paracetamol_pva_fdm" in err
    req = _request(bundle, "mr1")
    req["extension"] = [{"url": EXT + "formulation", "valueCode": "paracetamol_peo_fdm"}]
    assert _rows(bundle)["FHIR-RX-0001"].prescription.formulation == "paracetamol_peo_fdm"


def test_printer_decides_the_formulation_and_technology_mismatch_is_explained() -> None:
    rows = _rows(_good(), printer="generic_sse_syringe")
    err = str(rows["FHIR-RX-0001"].error)
    assert "no formulation of 'paracetamol' prints on printer 'generic_sse_syringe'" in err
    assert rows["FHIR-RX-0003"].ok  # names its own printer


def test_weight_units_and_formulation_mismatch() -> None:
    bundle = _good()
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "w2b")
    obs["valueQuantity"] = {"value": 29.5, "unit": "[lb_av]", "system": UCUM, "code": "[lb_av]"}
    req = _request(bundle, "mr5")
    req["extension"] = [{"url": EXT + "formulation", "valueCode": "paracetamol_pva_fdm"}]
    rows = _rows(bundle)
    assert rows["FHIR-RX-0002"].prescription.weight_kg == pytest.approx(13.381, abs=1e-3)
    assert "does not match formulation 'paracetamol_pva_fdm'" in str(rows["FHIR-RX-0005"].error)
    obs["valueQuantity"] = {"value": 13, "unit": "stone", "system": UCUM, "code": "stone"}
    assert "give the weight in kg" in str(_rows(bundle)["FHIR-RX-0002"].error)


def test_whole_file_problems_are_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PrescriptionFileError, match="no MedicationRequest"):
        read_fhir_data({"resourceType": "Bundle", "entry": [_good()["entry"][0]]})
    with pytest.raises(PrescriptionFileError, match="no 'entry' list"):
        read_fhir_data({"resourceType": "Bundle", "type": "collection"})
    assert is_fhir_bundle(json.dumps(_good()))
    assert not is_fhir_bundle('[{"note": "Bundle"}]') and not is_fhir_bundle("{bad json")
    # a plain JSON prescription list that mentions "Bundle" still goes to the JSON reader
    plain = tmp_path / "rx.json"
    plain.write_text(json.dumps([{"rx_id": "J1", "drug": "paracetamol", "dose_mg": 50,
                                  "formulation": "paracetamol_pva_fdm",
                                  "printer": "generic_fdm_175", "patient_ref": "Bundle"}]))
    assert read_prescriptions(plain)[0].ok


def test_several_different_doses_are_refused() -> None:
    bundle = copy.deepcopy(_good())
    req = _request(bundle, "mr1")
    req["dosageInstruction"].append({"doseAndRate": [{"doseQuantity": {
        "value": 200, "unit": "mg", "system": UCUM, "code": "mg"}}]})
    assert "gives several doses" in str(_rows(bundle)["FHIR-RX-0001"].error)
