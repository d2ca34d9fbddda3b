"""``dosecraft qc`` (the USP <905> example of DOMAIN.md through the command) and
``dosecraft calibrate`` (reference plate → weights → recorded mass factor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dosecraft.cli import app
from dosecraft.gcode import read_gcode
from dosecraft.records import RecordStore

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "qc"
runner = CliRunner()


@pytest.fixture
def batch(tmp_path: Path) -> tuple[Path, str]:
    """A recorded batch with the sample prescriptions' designed tablet masses."""
    path = tmp_path / "records.sqlite"
    with RecordStore(path, actor="qc-tester") as store:
        bid = store.start_batch("prescriptions.csv", operator="tester", source_sha256="b" * 64)
        for row, (rx_id, mass) in enumerate([("RX-2026-0001", 1000.0), ("RX-2026-0008", 250.0),
                                             ("RX-2026-0012", 246.1539)], start=1):
            store.record_prescription(bid, {
                "row": row, "rx_id": rx_id, "status": "ok", "drug": "x", "quantity": 10,
                "target_dose_mg": 1.0, "formulation": "paracetamol_pva_fdm",
                "printer": "generic_fdm_175", "mass_factor": 1.0,
                "design": {"shape": "cylinder", "mass_mg": mass}})
    return path, bid


def test_usp905_example_fails_stage_1(batch: tuple[Path, str]) -> None:
    path, bid = batch
    args = ["qc", bid[:8], "--weights", str(SAMPLES / "usp905_example.csv"), "--records",
            str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "16.4" in result.output and "FAIL" in result.output
    assert "AV 16.4 > L1 15.0 (X̄ 105.90 %, s 5.00 %, M 101.5 %, k 2.4, n 10)" in result.output
    assert "test 20 more units" in result.output
    with RecordStore(path) as store:
        qc = store.qc_results(bid)
    usp = [q for q in qc if q["method"] == "USP905"]
    assert len(usp) == 1 and usp[0]["acceptance_value"] == 16.4 and not usp[0]["passed"]
    assert usp[0]["details"]["basis"] == "content assay" and usp[0]["details"]["stage"] == 1
    mass = sorted((q["tablet_index"], q["passed"]) for q in qc if q["method"] == "mass")
    assert mass == [(i, True) for i in range(10)]
    assert "12 result(s): 12 new or changed recorded" in result.output
    again = runner.invoke(app, args)  # idempotent: nothing new in the records
    assert again.exit_code == 1 and "0 new or changed recorded, 12 already" in again.output


def test_weights_only_pass_and_assay(batch: tuple[Path, str], tmp_path: Path) -> None:
    path, bid = batch
    weights = str(SAMPLES / "weights_pass.csv")
    result = runner.invoke(app, ["qc", bid, "--weights", weights, "--records", str(path)])
    assert result.exit_code == 0, result.output
    assert "weights / designed mass" in result.output and "pass (stage 1)" in result.output
    assay = runner.invoke(app, ["qc", bid, "--weights", weights, "--records", str(path),
                                "--assay-pct", "97.0"])
    assert assay.exit_code == 0 and "weights × assay" in assay.output
    odd = tmp_path / "odd.csv"
    odd.write_text("tablet_id,rx_id,mass_mg\nX_1,RX-UNKNOWN,10\nA_1,RX-2026-0008,320\n"
                   "A_2,RX-2026-0008,12,5\n")
    bad = runner.invoke(app, ["qc", bid, "--weights", str(odd), "--records", str(path)])
    assert bad.exit_code == 1
    assert "'RX-UNKNOWN' is not in this batch" in bad.output
    assert "outside ±5 %" in bad.output  # 320 mg for a 250 mg design (Ph. Eur.: 5 % from 250 mg)
    assert "USP <905> not evaluated: 1 tablet(s)" in bad.output
    assert "line 4: has 4 cells" in bad.output


def test_calibrate_from_a_reference_plate(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    base = ["generic_fdm_175", "paracetamol_pva_fdm", "--records", str(path)]
    none = runner.invoke(app, ["calibrate", *base, "--weights",
                               str(SAMPLES / "calibration_weights.csv")])
    assert none.exit_code == 2 and "no records database" in none.output
    gcode = tmp_path / "cal.gcode"
    made = runner.invoke(app, ["calibrate", *base, "--make-gcode", str(gcode), "--count", "10"])
    assert made.exit_code == 0, made.output
    readout = read_gcode(gcode.read_text())
    assert sorted(readout.volume_by_object_mm3) == sorted(f"CAL_{k}" for k in range(1, 11))
    volume = np.mean(list(readout.volume_by_object_mm3.values()))
    assert 300 < volume < 330  # a 10 × 4 mm solid cylinder is 314 mm³

    scattered = tmp_path / "scattered.csv"
    scattered.write_text("tablet_id,rx_id,mass_mg\n" + "".join(
        f"CAL_{k},CAL,{m}\n" for k, m in enumerate([300, 420, 390, 350, 450, 380], 1)))
    refused = runner.invoke(app, ["calibrate", *base, "--weights", str(scattered)])
    assert refused.exit_code == 1 and "calibration refused" in refused.output
    with RecordStore(path) as store:
        assert store.latest_mass_factor("generic_fdm_175", "paracetamol_pva_fdm") is None

    weights = SAMPLES / "calibration_weights.csv"
    done = runner.invoke(app, ["calibrate", *base, "--weights", str(weights)])
    assert done.exit_code == 0, done.output
    measured = np.loadtxt(weights, delimiter=",", skiprows=1, usecols=2)
    predicted = volume * 1.25  # density × current factor 1.0
    with RecordStore(path) as store:
        factor = store.latest_mass_factor("generic_fdm_175", "paracetamol_pva_fdm")
        cal = store.calibrations("generic_fdm_175", "paracetamol_pva_fdm")[0]
    assert factor == pytest.approx(np.mean(measured / predicted), rel=1e-4)
    assert cal["n_tablets"] == 10 and cal["old_mass_factor"] == 1.0
    # valid only for the printer settings it was measured with
    assert cal["details"]["deposition_settings"] == {
        "extruder": "filament", "feed_diameter_mm": 1.75, "nozzle_diameter_mm": 0.4}
    assert f"now use mass factor {factor:.4f}" in done.output
    # a second reference plate is written with the calibrated factor
    made2 = runner.invoke(app, ["calibrate", *base, "--make-gcode", str(tmp_path / "c2.gcode")])
    assert f"mass factor {factor:g}" in made2.output
