"""Property tests of the dose engine over random valid prescriptions (real layer model).

Every prescription either gets a design whose predicted dose is the prescription within
0.1 %, with dimensions inside the age band's limits and a watertight mesh whose analytic
volume and area agree with trimesh, or an `InfeasibleDose` that says what would work.
"""

import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dosecraft.constants import MESH_AGREEMENT, MINITABLET_MAX_MM, MINITABLET_MIN_MM
from dosecraft.dose.geometry import family_for, mesh_for_design
from dosecraft.dose.limits import band_for_age
from dosecraft.dose.solver import design_tablet
from dosecraft.errors import InfeasibleDose
from dosecraft.formulary import list_formulations
from dosecraft.model import Prescription, ShapeKind, Technology
from dosecraft.profiles import load_profile

FORMULATIONS = {f.id: f for f in list_formulations()}
PRINTERS = {
    Technology.FDM: ["generic_fdm_175", "klipper_fdm_175", "reprap_fdm_175"],
    Technology.SSE: ["generic_sse_syringe", "volumetric_sse", "pneumatic_sse"],
}
PARAMETRIC = [k for k in ShapeKind if k != ShapeKind.MESH]


@st.composite
def prescriptions(draw) -> Prescription:
    formulation = FORMULATIONS[draw(st.sampled_from(sorted(FORMULATIONS)))]
    printer = draw(st.sampled_from(PRINTERS[formulation.technology]))
    lo = max(formulation.min_dose_per_unit_mg, 1e-3)
    hi = formulation.max_dose_per_unit_mg
    dose = math.exp(draw(st.floats(math.log(lo), math.log(hi))))
    age = draw(st.one_of(st.none(), st.floats(0.0, 90.0)))
    band = band_for_age(age)
    shape = draw(st.one_of(st.none(), st.sampled_from(
        [s for s in band.shapes if s != ShapeKind.MESH])))
    infill = draw(st.one_of(st.none(), st.floats(0.1, 1.0)))
    release = draw(st.sampled_from(["immediate", "sustained"]))
    return Prescription(rx_id="PROP-1", drug=formulation.drug, dose_mg=round(dose, 4),
                        age_years=age, formulation=formulation.id, printer=printer,
                        shape=shape, infill=infill, release=release)


@given(rx=prescriptions())
@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
def test_design_holds_the_dose_or_says_why(rx):
    formulation = FORMULATIONS[rx.formulation]
    profile = load_profile(rx.printer)
    try:
        design = design_tablet(rx, formulation, profile)
    except InfeasibleDose as exc:
        event("infeasible")
        message = str(exc)
        assert f"{rx.unit_dose_mg:g} mg" in message
        assert "units of" in message or "smallest printable" in message \
            or "is printable" in message
        return
    event(f"designed {design.shape.value}")
    assert abs(design.predicted_dose_mg / rx.unit_dose_mg - 1) <= 1e-3
    band = band_for_age(rx.age_years)
    fam = family_for(design.shape)
    length, width = fam.extent_mm(design.dimensions_mm)
    assert length <= band.max_extent_mm(design.shape) * (1 + 1e-9)
    assert design.height_mm <= band.max_height_mm + 1e-9
    assert fam.min_feature_mm(design.dimensions_mm) >= profile.min_feature_mm - 1e-9
    if design.shape == ShapeKind.MINITABLET:
        assert MINITABLET_MIN_MM - 1e-9 <= design.dimensions_mm["diameter"] \
            <= MINITABLET_MAX_MM + 1e-9
    if rx.infill is not None:
        assert design.infill.density == rx.infill
    mesh = mesh_for_design(design)
    assert mesh.is_watertight
    assert abs(mesh.volume / design.volume_mm3 - 1) < MESH_AGREEMENT
    assert abs(mesh.area / design.surface_area_mm2 - 1) < MESH_AGREEMENT
