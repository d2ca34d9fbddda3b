"""Reader on hand-written G-code: E modes, labels, volumetric, pneumatic, time, invariants."""

import math

import numpy as np
import pytest

from dosecraft.errors import GcodeError
from dosecraft.gcode import read_gcode

AREA_175 = math.pi * 1.75**2 / 4

DOSE_HEADER = """\
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.drug_loading = 0.1
; dosecraft.mass_factor = 1.0
"""

ABSOLUTE_E = DOSE_HEADER + """\
; dosecraft.e_mode = filament
; dosecraft.feed_diameter_mm = 1.75
; dosecraft.objects = A,B
G28
G90
M82
G92 E0
G1 X10 Y10 E2 F1200 ; purge line, outside any object: +2
G92 E0
;LAYER:0
M486 S0
G1 Z0.2 F600
G1 E-0.5 F2400 ; retract
G0 X20 Y20 F6000
G1 E0 F2400 ; prime
G1 X30 Y20 E1.5 F1200
G1 X30 Y30 E3.0
M486 S-1
M486 S1
G1 E2.2 F2400 ; retract 0.8
G0 X40 Y20 F6000
G1 E3.0 F2400
G1 X50 Y20 E4.0 F1200
M486 S-1
;LAYER:1
G92 E0
M486 S0
G0 Z0.4
G1 X30 Y20 E0.75
M486 S-1
M486 S1
G1 X40 Y20 E1.25
M486 S-1
G1 E0.25 F2400 ; final retract, outside objects: -1
"""


def test_absolute_e_with_g92_resets_and_retractions() -> None:
    r = read_gcode(ABSOLUTE_E)
    assert r.object_names == ("A", "B")
    # A: -0.5 + 0.5 + 1.5 + 1.5 + 0.75; B: -0.8 + 0.8 + 1.0 + 0.5; outside: +2 - 1.
    assert r.volume_by_object_mm3["A"] == pytest.approx(3.75 * AREA_175, rel=1e-12)
    assert r.volume_by_object_mm3["B"] == pytest.approx(1.5 * AREA_175, rel=1e-12)
    assert r.unlabelled_volume_mm3 == pytest.approx(1.0 * AREA_175, rel=1e-12)
    assert r.total_volume_mm3 == pytest.approx(5.25 * AREA_175, rel=1e-12)
    assert r.dose_by_object_mg["A"] == pytest.approx(3.75 * AREA_175 * 0.125, rel=1e-12)
    assert r.total_dose_mg == pytest.approx(5.25 * AREA_175 * 0.125, rel=1e-12)
    assert r.layer_count == 2
    np.testing.assert_allclose(r.bbox, [[20, 20, 0.2], [50, 30, 0.4]])
    assert r.invariant_violations() == []
    m = r.moves
    assert m.e[m.line == 16].tolist() == [-0.5]  # "G1 E-0.5" is line 16
    assert set(m.object[m.extruding].tolist()) == {-1, 0, 1}


def test_relative_e_klipper_objects_and_m221() -> None:
    text = """\
; dosecraft.e_mode = filament
; dosecraft.feed_diameter_mm = 1.75
EXCLUDE_OBJECT_DEFINE NAME=tab_1 CENTER=10,10 POLYGON=[[0,0],[20,0],[20,20]]
EXCLUDE_OBJECT_DEFINE NAME=tab_2 CENTER=40,10 POLYGON=[[30,0],[50,0],[50,20]]
M83
G1 Z0.2 F600
EXCLUDE_OBJECT_START NAME=tab_2
G1 X10 E1 F1200
M221 S50
G1 X20 E1
M221 S100
EXCLUDE_OBJECT_END NAME=tab_2
EXCLUDE_OBJECT_START NAME=TAB_1
G91
G1 X5 E0.5
G90
EXCLUDE_OBJECT_END NAME=TAB_1
"""
    r = read_gcode(text)
    assert r.object_names == ("tab_1", "tab_2")
    assert r.volume_by_object_mm3["tab_2"] == pytest.approx(1.5 * AREA_175)
    assert r.volume_by_object_mm3["tab_1"] == pytest.approx(0.5 * AREA_175)
    assert r.moves.end[-1].tolist() == [25.0, 0.0, 0.2]


def test_rrf_named_objects_and_volumetric_modes() -> None:
    text = """\
; dosecraft.e_mode = volumetric
; dosecraft.feed_diameter_mm = 1.75
M83
M200 D1.75
M486 S0 A"RX7_1"
G1 X10 E2.0 F600
M486 S-1
M200 D0
M486 S1 A"RX7_2"
G1 X20 E1.0
M200 S1 D1.75
G1 X30 E0.5
M200 S0
G1 X40 E1.0
M486 S-1
"""
    r = read_gcode(text)
    assert r.object_names == ("RX7_1", "RX7_2")
    assert r.volume_by_object_mm3["RX7_1"] == pytest.approx(2.0)
    assert r.volume_by_object_mm3["RX7_2"] == pytest.approx(2.0 * AREA_175 + 0.5)


def test_marlin_indices_without_names_fall_back() -> None:
    r = read_gcode("M83\nM486 T2\nM486 S1\nG1 X1 E1 F60\nM486 S-1\n",
                   feed_diameter_mm=1.75)
    assert r.object_names == ("object_0", "object_1")
    assert r.volume_by_object_mm3 == {"object_0": 0.0, "object_1": pytest.approx(AREA_175)}


PNEUMATIC = """\
; dosecraft.e_mode = pneumatic
; dosecraft.feed_diameter_mm = none
; dosecraft.pressure_off = M42 P4 S0
; dosecraft.pressure_on = M42 P4 S255
M42 P4 S0 ; closed before moving
M486 S0
G0 X10 Y10 Z0.4 F2400
; dosecraft.flow_mm3_per_mm = 0.08
M400
m42  p4 s255 ; valve open (case and spacing do not matter)
G4 P150
G1 X20 Y10 F600
; dosecraft.flow_mm3_per_mm = 0.05
G1 X20 Y30
M400
M42 P4 S0
G4 P150
G0 X0 Y0 F2400
M486 S-1
"""


#: The same program as dosecraft 0.2 writes it: the header carries the paste's flow
#: (0.8 mm³/s) and each bead is printed at flow ÷ bead (0.08 at 10 mm/s, 0.05 at 16 mm/s).
PNEUMATIC_FLOW = PNEUMATIC.replace(
    "; dosecraft.pressure_off", "; dosecraft.pneumatic_flow_mm3_s = 0.8\n"
    "; dosecraft.pressure_dwell_ms = 150\n; dosecraft.pressure_off").replace(
    "G1 X20 Y30\n", "G1 X20 Y30 F960\n")


def test_pneumatic_volume_is_length_times_flow_while_open() -> None:
    r = read_gcode(PNEUMATIC_FLOW)
    assert r.volume_by_object_mm3["object_0"] == pytest.approx(10 * 0.08 + 20 * 0.05)
    assert r.dwell_s == pytest.approx(0.3)
    assert r.invariant_violations() == []
    leaky = PNEUMATIC_FLOW.replace("M400\nM42 P4 S0\nG4 P150\n", "")
    bad = read_gcode(leaky)
    assert any("G0 travel moves material" in p for p in bad.invariant_violations())
    assert bad.volume_by_object_mm3["object_0"] > r.volume_by_object_mm3["object_0"]


@pytest.mark.parametrize(("edit", "fragment"), [
    (("G1 X20 Y10 F600", "G1 X20 Y10 F300"), "planned at 0.08 mm³/mm"),
    (("G4 P150\nG1 X20 Y10", "G4 P5000\nG1 X20 Y10"), "open for a 5000 ms pause"),
    (("M486 S0\n", "M486 S0\nM220 S50\n"), "M220 S50 overrides"),
])
def test_edits_that_change_a_pneumatic_dose_are_flagged(edit, fragment) -> None:
    r = read_gcode(PNEUMATIC_FLOW.replace(*edit))
    assert any(fragment in p for p in r.invariant_violations()), r.invariant_violations()


def test_pneumatic_gcode_from_before_the_flow_header_is_not_vouched_for() -> None:
    # the flow comments still give a volume, but the file's feeds set what was laid
    r = read_gcode(PNEUMATIC)
    assert r.volume_by_object_mm3["object_0"] == pytest.approx(10 * 0.08 + 20 * 0.05)
    assert any("written before dosecraft 0.2" in p for p in r.invariant_violations())


def test_pneumatic_without_valve_header_is_refused() -> None:
    with pytest.raises(GcodeError, match="pressure_on"):
        read_gcode("; dosecraft.e_mode = pneumatic\nG1 X1\n")


def test_print_time_feed_dwell_and_acceleration() -> None:
    text = "M83\nG1 X10 F600\nG1 E1 F60\nG4 P500\nG4 S1\nG0 X40 F6000\n"
    r = read_gcode(text, feed_diameter_mm=1.75)
    assert r.print_time_s == pytest.approx(1.0 + 1.0 + 1.5 + 0.3)
    r = read_gcode(text, feed_diameter_mm=1.75, acceleration_mm_s2=100.0)
    # 10 mm at 10 mm/s: d ≥ v²/a = 1 → 10/10 + 10/100; 1 mm of E at 1 mm/s: 1 + 0.01;
    # 30 mm at 100 mm/s: d < v²/a = 100 → triangle 2·√(30/100).
    assert r.print_time_s == pytest.approx(1.1 + 1.01 + 1.5 + 2 * math.sqrt(0.3))


def test_invariant_violations_are_reported() -> None:
    text = """\
M83
M486 S0
G1 Z0.4 F600
G1 X10 E1
G1 Z0.2
G1 X20 E1
G0 X30 E0.2
G1 E-0.5
M486 S-1
"""
    problems = read_gcode(text, feed_diameter_mm=1.75).invariant_violations()
    assert any("line 6" in p and "below an earlier layer" in p for p in problems)
    assert any("line 7" in p and "G0 travel" in p for p in problems)
    assert any("object 'object_0'" in p and "net E -0.5" in p for p in problems)


@pytest.mark.parametrize("line", ["G2 X10 Y10 I5 J0 E1", "G20"])
def test_unsupported_commands_are_refused(line: str) -> None:
    with pytest.raises(GcodeError, match="not supported"):
        read_gcode(f"M83\n{line}\n", feed_diameter_mm=1.75)


def test_dose_needs_header_constants() -> None:
    r = read_gcode("M83\nG1 X1 E1 F60\n", feed_diameter_mm=1.75)
    with pytest.raises(GcodeError, match="lacks density_mg_mm3"):
        _ = r.total_dose_mg


def test_header_block_stops_at_first_other_line() -> None:
    r = read_gcode("; dosecraft.rx_id = R1\n; dosecraft.note = a = b\nG28\n"
                   "; dosecraft.late = ignored\n")
    assert r.header == {"rx_id": "R1", "note": "a = b"}
