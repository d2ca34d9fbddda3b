"""The orchestrator: stages, cancellation, and resuming from a cached result."""

from pathlib import Path

from dosecraft.io.prescriptions import parse_row
from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import Job, JobCancelled, Stage, resume_stage, run_job

RX = {"rx_id": "PIPE-1", "drug": "paracetamol", "dose_mg": "40",
      "formulation": "paracetamol_pva_fdm", "printer": "generic_fdm_175", "quantity": "2"}


def rx(**changes):
    return parse_row({**RX, **changes})


def test_stages_run_up_to_until():
    design_only = run_job(Job(prescription=rx(), until=Stage.DESIGN))
    assert design_only.ok and design_only.toolpath is None and not design_only.plates
    full = run_job(Job(prescription=rx(), until=Stage.GCODE))
    assert full.ok and full.toolpath is not None and len(full.plates) == 1
    assert sorted(full.gcode_dose_by_tablet_mg) == ["PIPE-1_1", "PIPE-1_2"]


def test_progress_and_cancel():
    seen = []
    result = run_job(Job(prescription=rx(), until=Stage.GCODE),
                     on_progress=lambda stage, msg: seen.append(stage))
    assert seen == [Stage.DESIGN, Stage.TOOLPATH, Stage.GCODE] and result.ok
    cancelled = run_job(Job(prescription=rx(), until=Stage.GCODE),
                        on_progress=lambda stage, msg: None,
                        cancel=lambda: len(seen) > 0)
    assert isinstance(cancelled.error, JobCancelled)


def test_resume_reuses_the_tablet_for_gcode_only_changes():
    first = run_job(Job(prescription=rx(), until=Stage.GCODE))
    changed = rx(rx_id="PIPE-2", quantity="3")
    assert resume_stage(first, changed) == Stage.GCODE
    again = run_job(Job(prescription=changed, until=Stage.GCODE), previous=first)
    assert again.ok
    assert again.toolpath is first.toolpath  # not re-sliced
    assert sorted(again.gcode_dose_by_tablet_mg) == ["PIPE-2_1", "PIPE-2_2", "PIPE-2_3"]
    assert "; dosecraft.rx_id = PIPE-2" in again.plates[0].program.text


def test_resume_recomputes_when_the_dose_changes():
    first = run_job(Job(prescription=rx(), until=Stage.GCODE))
    changed = rx(dose_mg="45")
    assert resume_stage(first, changed) == Stage.DESIGN
    again = run_job(Job(prescription=changed, until=Stage.GCODE), previous=first)
    assert again.toolpath is not first.toolpath
    for dose in again.gcode_dose_by_tablet_mg.values():
        assert abs(dose / 45 - 1) < 0.01


def test_immediate_release_wish_with_a_slow_prediction_warns():
    """The sample's HPMC tablet is predicted far slower than immediate release allows:
    the row keeps its design but says so; a sustained wish for the same tablet does not."""
    from dosecraft import constants as C
    from dosecraft.io.prescriptions import read_prescriptions

    samples = Path(__file__).resolve().parents[1] / "samples"
    rows = {r.rx_id: r.prescription for r in read_prescriptions(
        samples / "prescriptions.csv")}
    slow = rows["RX-2026-0011"]
    result = run_job(Job(prescription=slow))
    assert result.ok and result.release.t80_min > C.IMMEDIATE_RELEASE_T80_MIN
    assert any("immediate release was asked for" in w for w in result.warnings)
    sustained = run_job(Job(prescription=slow.model_copy(update={"release": "sustained"})))
    assert not any("immediate release was asked for" in w for w in sustained.warnings)


def test_sustained_release_wish_with_a_fast_prediction_warns():
    """Paracetamol in PVA at 30 % infill reaches 80 % in about half an hour: a sustained
    wish gets a warning naming the t80 and what to change; an immediate wish does not."""
    from dosecraft import constants as C

    rx = Prescription(rx_id="SR-1", drug="paracetamol", dose_mg=60,
                      formulation="paracetamol_pva_fdm", printer="generic_fdm_175",
                      release="sustained", infill=0.3)
    result = run_job(Job(prescription=rx))
    assert result.ok and result.release.t80_min < C.SUSTAINED_RELEASE_T80_MIN
    (warning,) = [w for w in result.warnings if "sustained release was asked" in w]
    assert f"{result.release.t80_min:.0f} min" in warning and "target_t80_min" in warning
    immediate = run_job(Job(prescription=rx.model_copy(update={"release": "immediate"})))
    assert not any("sustained release was asked" in w for w in immediate.warnings)


def test_a_failed_dose_check_names_the_figure_that_failed():
    from dosecraft.model.results import DoseCheck

    check = DoseCheck(0.5, 0.4687, toolpath_mg=0.4995, gcode_mg=0.4996)
    assert not check.passed
    assert check.failures() == ["design (layer model) 0.4687 mg (-6.26%)"]
    assert DoseCheck(60, 60.1, 60.0, 60.02).failures() == []
