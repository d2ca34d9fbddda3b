"""A prescription's target t80 picks the design (shape × infill) that best meets it."""

import pytest

from dosecraft.io.prescriptions import parse_row
from dosecraft.pipeline import Job, run_job


def targeted(t80: float):
    rx = parse_row({"rx_id": "T80-1", "drug": "paracetamol", "dose_mg": "60",
                    "formulation": "paracetamol_pva_fdm", "printer": "generic_fdm_175",
                    "target_t80_min": str(t80)})
    return run_job(Job(prescription=rx))


def test_reachable_target_is_met_within_ten_percent():
    result = targeted(70)
    assert result.ok, result.error
    assert result.release.t80_min == pytest.approx(70, rel=0.10)
    assert result.dose_check.passed
    assert any("target t80 70 min" in note for note in result.design.notes)
    assert not any("is not met" in w for w in result.warnings)


def test_unreachable_target_says_so():
    result = targeted(400)
    assert result.ok, result.error
    assert any("target t80 400 min is not met" in w for w in result.warnings)
    assert result.dose_check.passed


def test_a_prescribed_infill_is_named_as_prescribed_under_a_target():
    rx = parse_row({"rx_id": "T80-2", "drug": "paracetamol", "dose_mg": "60",
                    "formulation": "paracetamol_pva_fdm", "printer": "generic_fdm_175",
                    "target_t80_min": "70", "infill": "0.3"})
    from dosecraft.pipeline import Stage

    result = run_job(Job(prescription=rx, until=Stage.DESIGN))
    assert result.ok, result.error
    assert result.design.infill.density == 0.3
    assert result.design.infill.reason == "prescribed infill"
