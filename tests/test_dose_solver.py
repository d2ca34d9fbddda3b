"""Dose solver logic, with a simple volume predictor so it runs without the slicer.

The end-to-end property test against the slicer's real layer model is in
`test_dose_properties.py`.
"""

import pytest

from dosecraft.dose.limits import band_for_age
from dosecraft.dose.solver import candidate_shapes, design_tablet, layer_heights
from dosecraft.errors import InfeasibleDose, InvalidPrescription
from dosecraft.model import Formulation, Prescription, PrinterProfile, ShapeKind


def envelope_predictor(mesh, profile, density):
    """Deposited volume if the whole envelope were filled at `density` (a stand-in)."""
    return float(mesh.volume) * density


@pytest.fixture()
def profile() -> PrinterProfile:
    return PrinterProfile(
        id="test_fdm", name="test", technology="fdm", firmware="marlin2",
        extruder="filament", feed_diameter_mm=1.75, nozzle_diameter_mm=0.4, bed_x_mm=200,
        bed_y_mm=200, max_z_mm=100, layer_height_mm=0.2, first_layer_height_mm=0.2,
        line_width_mm=0.45, wall_count=2, top_layers=3, bottom_layers=3, min_feature_mm=0.8,
        print_speed_mm_s=30, wall_speed_mm_s=20, first_layer_speed_mm_s=15,
        travel_speed_mm_s=120)


@pytest.fixture()
def formulation() -> Formulation:
    return Formulation(
        id="para_test", name="test", drug="paracetamol", carrier="PVA", technology="fdm",
        drug_loading=0.1, density_mg_mm3=1.25, print_temp_c=180, temp_min_c=170,
        temp_max_c=210, max_dose_per_unit_mg=500, max_daily_dose_mg=4000,
        max_daily_mg_per_kg=75, filament_diameter_mm=1.75, infill_immediate=0.6,
        release={"model": "erosion", "erosion_rate_mm_min": 0.02})


def rx(**kw) -> Prescription:
    base = {"rx_id": "T1", "drug": "paracetamol", "formulation": "para_test",
            "printer": "test_fdm", "dose_mg": 50}
    base.update(kw)
    return Prescription(**base)


def test_design_hits_dose_and_whole_layers(formulation, profile):
    design = design_tablet(rx(), formulation, profile, predictor=envelope_predictor)
    assert design.predicted_dose_mg == pytest.approx(50, rel=1e-4)
    layers = round((design.height_mm - 0.2) / 0.2) + 1
    assert design.height_mm == pytest.approx(layer_heights(profile, layers))
    assert design.infill.density == 0.6
    assert design.mass_mg == pytest.approx(50 / 0.1, rel=1e-4)


def test_children_get_a_caplet_and_infants_a_minitablet(formulation, profile):
    child = design_tablet(rx(age_years=7, dose_mg=40), formulation, profile,
                          predictor=envelope_predictor)
    assert child.shape == ShapeKind.CAPLET
    assert child.dimensions_mm["length"] <= band_for_age(7).max_length_mm + 1e-9
    infant = design_tablet(rx(age_years=1, dose_mg=1.5), formulation, profile,
                           predictor=envelope_predictor)
    assert infant.shape == ShapeKind.MINITABLET
    assert 2.0 <= infant.dimensions_mm["diameter"] <= 3.0
    assert infant.infill.density == 1.0


def test_sustained_release_prefers_a_solid_cylinder(formulation, profile):
    design = design_tablet(rx(release="sustained"), formulation, profile,
                           predictor=envelope_predictor)
    assert design.shape == ShapeKind.CYLINDER
    assert design.infill.density == formulation.infill_sustained


def test_too_large_dose_says_how_many_units(formulation, profile):
    with pytest.raises(InfeasibleDose) as info:
        design_tablet(rx(dose_mg=450), formulation, profile, predictor=envelope_predictor)
    message = str(info.value)
    assert "450 mg does not fit" in message
    assert "Give 3 units of 150 mg" in message or "Give 2 units of 225 mg" in message
    assert "largest fitting tablet" in message


def test_no_split_advice_below_the_smallest_printable_unit(profile):
    """Paracetamol PVA for an infant: the largest minitablet holds less than the smallest
    printable unit dose, so "give N units" would be advice nobody can follow."""
    from dosecraft.formulary import get_formulation

    paracetamol = get_formulation("paracetamol_pva_fdm")
    with pytest.raises(InfeasibleDose) as info:
        design_tablet(rx(formulation="paracetamol_pva_fdm", drug="paracetamol", dose_mg=60,
                         age_years=1), paracetamol, profile, predictor=envelope_predictor)
    message = str(info.value)
    assert "Give" not in message
    assert "Splitting does not help" in message
    assert f"smallest printable dose of {paracetamol.min_dose_per_unit_mg:.4g} mg" in message


def test_too_small_dose_names_the_smallest(formulation, profile):
    with pytest.raises(InfeasibleDose, match="below the smallest printable tablet"):
        design_tablet(rx(dose_mg=0.05), formulation, profile, predictor=envelope_predictor)


def test_raises_infill_to_fit_a_large_dose(formulation, profile):
    design = design_tablet(rx(dose_mg=180), formulation, profile, predictor=envelope_predictor)
    assert design.predicted_dose_mg == pytest.approx(180, rel=1e-4)


def test_prescribed_shape_not_allowed_for_age(formulation, profile):
    with pytest.raises(InvalidPrescription, match="shape = caplet.*aged 1"):
        candidate_shapes(rx(age_years=1, shape="caplet"), formulation, band_for_age(1))


def test_shape_refused_for_a_patient_of_unstated_age(formulation):
    # a site's adult band without the torus: the message must not need an age
    from dataclasses import replace

    adult = replace(band_for_age(None), shapes=(ShapeKind.CYLINDER,))
    with pytest.raises(InvalidPrescription, match="torus.*unstated age.*suitable shapes: "
                                                  "cylinder"):
        candidate_shapes(rx(shape="torus"), formulation, adult)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"drug": "ibuprofen"}, "drug 'ibuprofen' does not match"),
    ({"dose_mg": 600}, "exceeds the maximum of 500 mg per unit"),
    ({"dose_mg": None, "dose_mg_per_kg": 80, "weight_kg": 5}, "above the daily maximum of 75"),
])
def test_formulation_limits(formulation, profile, changes, fragment):
    with pytest.raises(InvalidPrescription, match=fragment):
        design_tablet(rx(**changes), formulation, profile, predictor=envelope_predictor)


@pytest.mark.parametrize(("filament", "ok"), [(1.75, True), (1.7505, True), (1.76, False),
                                               (1.78, False), (2.85, False)])
def test_filament_must_match_the_printer_setting(formulation, profile, filament, ok):
    # E = volume ÷ (π·d²/4): 1.78 mm filament sliced as 1.75 mm would over-dose by 3.5 %
    from dosecraft.dose.checks import check_prescription

    form = Formulation(**{**formulation.model_dump(), "filament_diameter_mm": filament})
    if ok:
        check_prescription(rx(), form, profile)
        return
    with pytest.raises(InvalidPrescription, match=f"{filament:g} mm filament.*set for 1.75 "
                                                  "mm: the dose would be off by \\+"):
        check_prescription(rx(), form, profile)


def test_technology_mismatch(formulation, profile):
    sse = PrinterProfile(**{**profile.model_dump(), "technology": "sse", "id": "sse_test"})
    with pytest.raises(InvalidPrescription, match="is a SSE printer"):
        design_tablet(rx(), formulation, sse, predictor=envelope_predictor)


def test_a_bracketed_dose_never_builds_the_capacity_extremes(profile):
    """The capacity (smallest size at the fewest layers, largest at the most) only tells a
    family that does not fit; a target bracketed at the starting layer count skips it."""
    from dosecraft.dose.shapes import family
    from dosecraft.dose.solver import _Sizer, layers_for_height

    calls: list[tuple[float, float]] = []

    def counting(mesh, profile_, density):
        calls.append((round(float(mesh.extents[0]), 9), round(float(mesh.extents[2]), 9)))
        return envelope_predictor(mesh, profile_, density)

    fam = family(ShapeKind.CYLINDER)
    sizer = _Sizer(fam, profile, band_for_age(None), 0.6, counting)
    target = 250.0
    s0 = min(max(sizer.initial_size(target), sizer.s_lo), sizer.s_hi)
    n0 = min(max(layers_for_height(profile, fam.default_height(s0)), sizer.n_lo), sizer.n_hi)
    probe = _Sizer(fam, profile, band_for_age(None), 0.6, envelope_predictor)
    assert probe.volume(sizer.s_lo, n0) <= target <= probe.volume(sizer.s_hi, n0)
    fit = sizer.fit(target)
    assert fit.layers == n0 and fit.volume_mm3 == pytest.approx(target, rel=1e-4)
    corners = {(round(s, 9), round(layer_heights(profile, n), 9))
               for s, n in ((sizer.s_lo, sizer.n_lo), (sizer.s_hi, sizer.n_hi))}
    assert not corners & set(calls)


def test_an_infeasible_family_still_reports_its_capacity(formulation, profile):
    with pytest.raises(InfeasibleDose, match=r"holds [0-9.]+ mg"):
        design_tablet(rx(dose_mg=450, shape="cylinder"), formulation, profile,
                      predictor=envelope_predictor)


def test_rounding_a_per_kg_dose_never_crosses_the_daily_maximum(formulation, profile):
    # 75 mg/kg × 12.345 kg = 925.875 mg, labelled 926 mg, above 75 × 12.345 by the rounding
    from dosecraft.dose.checks import check_prescription

    big = Formulation(**{**formulation.model_dump(), "max_dose_per_unit_mg": 5000,
                         "max_daily_dose_mg": 5000})
    at_limit = rx(dose_mg=None, dose_mg_per_kg=75, weight_kg=12.345)
    assert at_limit.unit_dose_mg == 926.0
    check_prescription(at_limit, big, profile)  # the prescribed 75 mg/kg is allowed
    with pytest.raises(InvalidPrescription, match="75.1 mg/kg, above the daily maximum"):
        check_prescription(rx(dose_mg=None, dose_mg_per_kg=75.1, weight_kg=12.345), big,
                           profile)
