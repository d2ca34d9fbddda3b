"""Every front that makes G-code sizes the tablet with the recorded mass factor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dosecraft.cli.main import app
from dosecraft.gcode import read_gcode
from dosecraft.model.prescription import Prescription
from dosecraft.records import RecordStore, default_records_path
from dosecraft.records.calibrated import recorded_mass_factor

runner = CliRunner()
RX = ["--drug", "paracetamol", "--dose-mg", "60", "--formulation", "paracetamol_pva_fdm",
      "--printer", "generic_fdm_175"]


def _calibrate(path: Path, factor: float) -> None:
    store = RecordStore(path)
    try:
        store.record_calibration("generic_fdm_175", "paracetamol_pva_fdm",
                                 new_mass_factor=factor, n_tablets=10,
                                 data_sha256=hashlib.sha256(str(factor).encode()).hexdigest())
    finally:
        store.close()


def test_no_records_file_means_not_calibrated_and_none_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    assert recorded_mass_factor("generic_fdm_175", "paracetamol_pva_fdm", missing) is None
    assert not missing.exists()


def test_the_latest_calibration_of_the_pair_is_used(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    _calibrate(path, 1.02)
    _calibrate(path, 1.0328)
    assert recorded_mass_factor("generic_fdm_175", "paracetamol_pva_fdm", path) == 1.0328
    assert recorded_mass_factor("generic_fdm_175", "other_formulation", path) is None


def test_design_json_and_gcode_use_the_recorded_factor(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    _calibrate(path, 1.0328)
    out = tmp_path / "t.gcode"
    run = runner.invoke(app, ["design", *RX, "--records", str(path), "--json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    row = json.loads(run.stdout[:run.stdout.rindex("}") + 1])
    assert row["mass_factor"] == pytest.approx(1.0328)
    assert row["mass_factor_source"] == "records"
    readout = read_gcode(out.read_text())
    assert float(readout.header["mass_factor"]) == pytest.approx(1.0328)
    # the dose in the file is the prescription with the calibration applied
    assert list(readout.dose_by_object_mg.values())[0] == pytest.approx(60, rel=0.01)


def test_design_without_calibration_says_so(tmp_path: Path) -> None:
    run = runner.invoke(app, ["design", *RX, "--records", str(tmp_path / "none.sqlite")])
    assert run.exit_code == 0, run.output
    assert "formulation default; not calibrated" in run.output


def test_design_default_records_file_is_the_users(tmp_path: Path) -> None:
    _calibrate(default_records_path(), 1.0328)  # conftest isolates the user folders
    run = runner.invoke(app, ["design", *RX])
    assert run.exit_code == 0, run.output
    assert "1.033 (printer × formulation calibration)" in run.output


def test_unreadable_records_stop_the_design(tmp_path: Path) -> None:
    bad = tmp_path / "records.sqlite"
    bad.write_text("not a database")
    run = runner.invoke(app, ["design", *RX, "--records", str(bad)])
    assert run.exit_code == 1
    assert "records:" in run.output and str(bad) in " ".join(run.output.split())


def test_the_app_runs_prescriptions_with_the_recorded_factor() -> None:
    from dosecraft_gui.jobs import run_prescription

    _calibrate(default_records_path(), 1.0328)
    rx = Prescription(rx_id="A1", drug="paracetamol", dose_mg=60,
                      formulation="paracetamol_pva_fdm", printer="generic_fdm_175")
    result = run_prescription(rx)
    assert result.ok, result.error
    assert result.formulation is not None and result.formulation.mass_factor == 1.0328


def test_a_factor_measured_under_other_printer_settings_is_refused(tmp_path: Path) -> None:
    # a pneumatic paste calibrated at flow factor 1.0; the profile now says 0.9, which
    # already prints the beads faster: applying the old mass factor too would double-count
    from dosecraft.errors import RecordsError
    from dosecraft.profiles import load_profile
    from dosecraft.records.calibrated import SETTINGS_KEY
    from dosecraft.slicer.flow import deposition_settings

    measured_on = load_profile("pneumatic_sse")
    path = tmp_path / "records.sqlite"
    store = RecordStore(path)
    try:
        store.record_calibration("pneumatic_sse", "hydrocortisone_gel_sse",
                                 new_mass_factor=0.9, n_tablets=10,
                                 data_sha256=hashlib.sha256(b"w").hexdigest(),
                                 details={SETTINGS_KEY: deposition_settings(measured_on)})
    finally:
        store.close()
    assert recorded_mass_factor("pneumatic_sse", "hydrocortisone_gel_sse", path,
                                profile=measured_on) == 0.9
    changed = measured_on.model_copy(update={"pneumatic_flow_factor": 0.9})
    with pytest.raises(RecordsError, match=r"pneumatic_flow_factor 1\.0 → 0\.9.*calibrate "
                                           "again"):
        recorded_mass_factor("pneumatic_sse", "hydrocortisone_gel_sse", path, profile=changed)


def test_the_lookup_only_reads_the_records_file(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    _calibrate(path, 1.02)
    before = path.read_bytes()
    path.chmod(0o444)
    try:
        assert recorded_mass_factor("generic_fdm_175", "paracetamol_pva_fdm", path) == 1.02
    finally:
        path.chmod(0o644)
    assert path.read_bytes() == before


def test_the_batch_runner_applies_the_same_check(tmp_path: Path) -> None:
    from dosecraft.batch.recording import Recorder
    from dosecraft.errors import RecordsError
    from dosecraft.records.calibrated import SETTINGS_KEY

    path = tmp_path / "records.sqlite"
    store = RecordStore(path)
    try:  # measured when the printer's filament setting was 2.85 mm
        store.record_calibration(
            "generic_fdm_175", "paracetamol_pva_fdm", new_mass_factor=1.03, n_tablets=10,
            data_sha256=hashlib.sha256(b"x").hexdigest(),
            details={SETTINGS_KEY: {"extruder": "filament", "feed_diameter_mm": 2.85,
                                    "nozzle_diameter_mm": 0.4}})
    finally:
        store.close()
    with Recorder(path, "A. Pharmacist") as recorder, \
            pytest.raises(RecordsError, match=r"feed_diameter_mm 2\.85 → 1\.75"):
        recorder.mass_factor("generic_fdm_175", "paracetamol_pva_fdm")
