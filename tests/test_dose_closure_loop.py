"""The closure loop keeps the slicing closest to the dose, not merely the last one."""

from types import SimpleNamespace

import pytest

from dosecraft.dose import closure
from dosecraft.dose.solver import design_tablet
from dosecraft.errors import DoseCheckFailed
from dosecraft.formulary import get_formulation
from dosecraft.model import Prescription
from dosecraft.profiles import load_profile

RX = Prescription(rx_id="LOOP-1", drug="paracetamol", dose_mg=60,
                  formulation="paracetamol_pva_fdm", printer="generic_fdm_175")


def _scripted(ratios: list[float], target_mm3: float):
    """A slicer whose n-th toolpath holds ratios[n] × the target volume, whatever the size
    (as when whole beads appear and vanish between sizes)."""
    calls = iter(ratios)

    def slicer(mesh, profile, infill):  # noqa: ANN001, ARG001
        return SimpleNamespace(extruded_volume_mm3=next(calls) * target_mm3)
    return slicer


def _design():
    formulation = get_formulation(RX.formulation)
    profile = load_profile(RX.printer)
    design = design_tablet(RX, formulation, profile)
    return design, formulation, profile, design.target_dose_mg / formulation.drug_mg_per_mm3


def test_the_closest_slicing_is_kept() -> None:
    design, formulation, profile, target = _design()
    ratios = [0.97, 1.004, 0.990, 1.008, 0.992, 1.006, 0.993, 1.009]  # never within 0.1 %
    closed = closure.close_dose(design, formulation, profile,
                                slicer=_scripted(ratios, target))
    assert closed.iterations == closure.MAX_ITERATIONS
    assert closed.toolpath.extruded_volume_mm3 == pytest.approx(1.004 * target)
    assert closed.design.predicted_dose_mg == pytest.approx(1.004 * RX.dose_mg)


def test_a_loop_that_never_comes_within_tolerance_is_refused() -> None:
    design, formulation, profile, target = _design()
    with pytest.raises(DoseCheckFailed, match=r"\+1\.50%"):
        closure.close_dose(design, formulation, profile,
                           slicer=_scripted([1.03, 1.02, 1.015, 1.02, 1.03, 1.04, 1.05, 1.06],
                                            target))
