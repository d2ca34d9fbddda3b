"""Qt-free logic of the app: form validation, JSON files, re-run planning, profiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dosecraft.model.prescription import PRESCRIPTION_COLUMNS
from dosecraft.pipeline import JobResult, Stage
from dosecraft_gui import resume, validation
from dosecraft_gui.release_data import compare, read_profile_csv


def test_errors_name_each_field(small_raw) -> None:
    raw = dict(small_raw, rx_id="RX 1", dose_mg="5 mg/kg", quantity="0")
    with pytest.raises(validation.PrescriptionErrors) as info:
        validation.validate(raw)
    errors = info.value.errors
    assert set(errors) == {"rx_id", "dose_mg", "quantity"}
    assert "dose_mg_per_kg" in errors["dose_mg"]
    assert "must be at least 1 tablets" in errors["quantity"]


def test_whole_prescription_errors_are_general(small_raw) -> None:
    raw = dict(small_raw, dose_mg="")
    with pytest.raises(validation.PrescriptionErrors) as info:
        validation.validate(raw)
    assert info.value.errors == {
        validation.GENERAL: "no dose: give dose_mg, or dose_mg_per_kg with weight_kg"}


def test_json_round_trip_uses_csv_keys(tmp_path: Path, small_rx) -> None:
    path = validation.save_json(tmp_path / "rx.json", small_rx)
    data = json.loads(path.read_text())
    assert tuple(data) == PRESCRIPTION_COLUMNS
    raw = validation.load_json(path)
    assert validation.validate(raw) == small_rx


def test_load_json_rejects_unknown_keys(tmp_path: Path, small_raw) -> None:
    path = tmp_path / "rx.json"
    path.write_text(json.dumps(dict(small_raw, dose="5")))
    with pytest.raises(ValueError, match="unknown key"):
        validation.load_json(path)


@pytest.mark.parametrize(("field", "value", "stage"), [
    ("quantity", 5, Stage.GCODE), ("rx_id", "RX-OTHER", Stage.GCODE),
    ("patient_ref", "PT-X", Stage.GCODE), ("dose_mg", 41.0, Stage.DESIGN),
    ("shape", "oval", Stage.DESIGN), ("mesh_path", "a.stl", Stage.DESIGN),
])
def test_changed_field_decides_the_stage(small_rx, field, value, stage) -> None:
    new = small_rx.model_copy(update={field: value})
    assert resume.first_stage(resume.changed_fields(small_rx, new)) == stage


def test_plan_needs_a_usable_cache(small_rx) -> None:
    more = small_rx.model_copy(update={"quantity": 3})
    assert resume.plan(None, small_rx) == Stage.DESIGN
    no_toolpath = JobResult(prescription=small_rx)
    assert resume.plan(no_toolpath, more) == Stage.DESIGN
    assert resume.plan(no_toolpath, small_rx) is None


def test_resume_gcode_keeps_the_slices(small_result) -> None:
    rx = small_result.prescription.model_copy(update={"quantity": 3, "rx_id": "RX-GUI-0002"})
    assert resume.plan(small_result, rx) == Stage.GCODE
    again = resume.resume_gcode(small_result, rx)
    assert again.ok, again.error
    assert again.toolpath is small_result.toolpath and again.mesh is small_result.mesh
    assert again.release is small_result.release
    assert sum(len(p.program.objects) for p in again.plates) == 3
    assert "RX-GUI-0002" in again.plates[0].program.text
    assert again.dose_check is not None and again.dose_check.passed


def test_profile_csv_and_f2(samples_dir: Path, small_result) -> None:
    profile = read_profile_csv(samples_dir / "dissolution" / "paracetamol_pva_weibull.csv")
    assert profile.time_min[0] == 5 and np.all(np.diff(profile.time_min) > 0)
    assert profile.sd is not None and profile.sd.shape == profile.percent.shape
    sim = compare(small_result.release, profile)
    assert sim is not None and sim.f2 is not None and 0 < sim.f2 < 100


def test_profile_csv_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,percent\n1,2\n")
    with pytest.raises(ValueError, match="time_min"):
        read_profile_csv(bad)
    bad.write_text("time_min,percent_released\n5,abc\n")
    with pytest.raises(ValueError, match="line 2"):
        read_profile_csv(bad)


def test_batch_files_opened_in_the_designer_point_to_the_batch_tab(tmp_path: Path,
                                                                   small_raw) -> None:
    csv = tmp_path / "rx.csv"
    csv.write_text("rx_id,drug\nA,x\n")
    bundle = tmp_path / "b.json"
    bundle.write_text('{"resourceType": "Bundle", "entry": []}')
    many = tmp_path / "many.json"
    many.write_text(json.dumps({"prescriptions": [small_raw, small_raw]}))
    for path in (csv, bundle, many):
        with pytest.raises(ValueError, match="Open batch file"):
            validation.load_json(path)
