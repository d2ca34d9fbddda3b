"""The dose contract, end to end: the re-read G-code holds the prescribed dose (±1 %).

Random prescriptions over every parametric shape, the user-mesh shape, FDM and SSE
profiles and infill 10–100 % go through design → toolpath → G-code; the G-code is parsed
back and every tablet's deposited drug mass is compared with the prescription.
"""

import math
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dosecraft.constants import DOSE_TOLERANCE
from dosecraft.errors import InfeasibleDose
from dosecraft.formulary import list_formulations
from dosecraft.model import Prescription, ShapeKind, Technology
from dosecraft.pipeline import Job, Stage, run_job

FORMULATIONS = {f.id: f for f in list_formulations()}
PRINTERS = {
    Technology.FDM: ["generic_fdm_175", "klipper_fdm_175", "reprap_fdm_175"],
    Technology.SSE: ["generic_sse_syringe", "volumetric_sse", "pneumatic_sse"],
}
MESH = str(Path(__file__).resolve().parents[1] / "samples" / "meshes" / "rounded_triangle.stl")


@st.composite
def prescriptions(draw) -> Prescription:
    formulation = FORMULATIONS[draw(st.sampled_from(sorted(FORMULATIONS)))]
    printer = draw(st.sampled_from(PRINTERS[formulation.technology]))
    lo = max(formulation.min_dose_per_unit_mg, 1e-3)
    hi = formulation.max_dose_per_unit_mg
    dose = math.exp(draw(st.floats(math.log(lo), math.log(hi))))
    shape = draw(st.sampled_from(list(ShapeKind)))
    infill = draw(st.floats(0.1, 1.0))
    # adults unless the shape is a mini-tablet, so most draws are printable
    age = 1.0 if shape == ShapeKind.MINITABLET and draw(st.booleans()) else None
    return Prescription(rx_id="CLOSE-1", drug=formulation.drug, dose_mg=round(dose, 4),
                        age_years=age, formulation=formulation.id, printer=printer,
                        shape=shape, infill=infill,
                        mesh_path=MESH if shape == ShapeKind.MESH else None,
                        quantity=draw(st.integers(1, 2)))


@given(rx=prescriptions())
@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
def test_gcode_dose_is_the_prescription(rx):
    result = run_job(Job(prescription=rx, until=Stage.GCODE))
    if isinstance(result.error, InfeasibleDose):
        event("infeasible")
        return
    assert result.ok, result.error
    event(f"printed {rx.shape.value} on {rx.printer}")
    doses = result.gcode_dose_by_tablet_mg
    assert len(doses) == rx.quantity
    for label, dose in doses.items():
        assert abs(dose / rx.unit_dose_mg - 1) <= DOSE_TOLERANCE, (label, dose)
    check = result.dose_check
    assert check.passed
    assert abs(check.toolpath_mg / rx.unit_dose_mg - 1) <= DOSE_TOLERANCE
