# ruff: noqa: E501  (the expected G-code holds Klipper's long EXCLUDE_OBJECT_DEFINE lines)
"""Exact-string tests of the G-code writer, one per dialect/extruder kind, on the tiny
hand-built toolpath (a 10 mm square wall + one 8 mm infill line, two layers) at (50, 50).

Hand checks: filament E for 10 mm of a 0.08 mm³/mm bead = 0.8 / (π·1.75²/4) = 0.332601,
written 0.33260 three times then 0.33261 (cumulative rounding, no drift); infill 0.512 mm³
→ 0.212865. Syringe (10 mm bore): 0.8 / 78.5398 = 0.010186. Volumetric: E is mm³ (0.8,
0.512) and the 0.05 mm suck-back becomes 0.05 × 78.5398 = 3.92699 mm³.
"""

import math

import numpy as np
import pytest
from test_gcode_support import (
    HEADER,
    fdm_profile,
    formulation,
    pneumatic_profile,
    single_plate,
    sse_profile,
    tiny_toolpath,
)

from dosecraft import __version__
from dosecraft.gcode import PlacedTablet, Plate, write_gcode


def expected(text: str) -> str:
    """The expected text with the running dosecraft version in its header."""
    return text.replace("@VERSION@", __version__)

EXPECTED_MARLIN = """\
; dosecraft.version = @VERSION@
; dosecraft.rx_id = RX1
; dosecraft.drug = testamol
; dosecraft.target_dose_mg = 12.5
; dosecraft.predicted_dose_mg = 12.5
; dosecraft.drug_loading = 0.1
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.mass_factor = 1.0
; dosecraft.e_mode = filament
; dosecraft.feed_diameter_mm = 1.75
; dosecraft.tablets = 1
; dosecraft.design_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
; dosecraft.firmware = marlin2
; dosecraft.formulation = test_drug_fdm
; dosecraft.objects = RX1_1
; dosecraft.printer = test_fdm
; dosecraft.relative_e = true
M486 T1
M140 S50
M104 S190
M190 S50
M109 S190
G28 ; home
G1 Z5 F600
G90
M83
M220 S100
M221 S100
G92 E0
;LAYER:0
M486 S0
G1 E-1.00000 F2400
G0 X45.000 Y45.000 F6000
G0 Z0.200
;TYPE:outer_wall
G1 E1.00000 F2400
G1 X55.000 Y45.000 E0.33260 F600
G1 X55.000 Y55.000 E0.33260
G1 X45.000 Y55.000 E0.33260
G1 X45.000 Y45.000 E0.33261
G1 E-1.00000 F2400
G0 X46.000 Y50.000 F6000
;TYPE:infill
G1 E1.00000 F2400
G1 X54.000 Y50.000 E0.21286 F600
M486 S-1
;LAYER:1
M486 S0
G1 E-1.00000 F2400
G0 Z0.400 F6000
G0 X45.000 Y45.000
;TYPE:outer_wall
G1 E1.00000 F2400
G1 X55.000 Y45.000 E0.33260 F1200
G1 X55.000 Y55.000 E0.33260
G1 X45.000 Y55.000 E0.33260
G1 X45.000 Y45.000 E0.33261
G1 E-1.00000 F2400
G0 X50.000 Y46.000 F6000
;TYPE:infill
G1 E1.00000 F2400
G1 X50.000 Y54.000 E0.21286 F1800
M486 S-1
G1 E-1.00000 F2400
M104 S0
M84
"""

EXPECTED_KLIPPER = """\
; dosecraft.version = @VERSION@
; dosecraft.rx_id = RX1
; dosecraft.drug = testamol
; dosecraft.target_dose_mg = 12.5
; dosecraft.predicted_dose_mg = 12.5
; dosecraft.drug_loading = 0.1
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.mass_factor = 1.0
; dosecraft.e_mode = filament
; dosecraft.feed_diameter_mm = 1.75
; dosecraft.tablets = 2
; dosecraft.design_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
; dosecraft.firmware = klipper
; dosecraft.formulation = test_drug_fdm
; dosecraft.objects = RX1_1,RX1_2
; dosecraft.printer = test_fdm
; dosecraft.relative_e = true
EXCLUDE_OBJECT_DEFINE NAME=RX1_1 CENTER=40.000,50.000 POLYGON=[[34.800,44.800],[45.200,44.800],[45.200,55.200],[34.800,55.200]]
EXCLUDE_OBJECT_DEFINE NAME=RX1_2 CENTER=60.000,50.000 POLYGON=[[54.800,44.800],[65.200,44.800],[65.200,55.200],[54.800,55.200]]
M140 S50
M104 S190
M190 S50
M109 S190
G28 ; home
G1 Z5 F600
G90
M83
M220 S100
M221 S100
G92 E0
;LAYER:0
EXCLUDE_OBJECT_START NAME=RX1_1
G1 E-1.00000 F2400
G0 X35.000 Y45.000 F6000
G0 Z0.200
;TYPE:outer_wall
G1 E1.00000 F2400
G1 X45.000 Y45.000 E0.33260 F600
G1 X45.000 Y55.000 E0.33260
G1 X35.000 Y55.000 E0.33260
G1 X35.000 Y45.000 E0.33261
G1 E-1.00000 F2400
G0 X36.000 Y50.000 F6000
;TYPE:infill
G1 E1.00000 F2400
G1 X44.000 Y50.000 E0.21286 F600
EXCLUDE_OBJECT_END NAME=RX1_1
EXCLUDE_OBJECT_START NAME=RX1_2
G1 E-1.00000 F2400
G0 X55.000 Y45.000 F6000
;TYPE:outer_wall
G1 E1.00000 F2400
G1 X65.000 Y45.000 E0.33260 F600
G1 X65.000 Y55.000 E0.33260
G1 X55.000 Y55.000 E0.33260
G1 X55.000 Y45.000 E0.33261
G1 E-1.00000 F2400
G0 X56.000 Y50.000 F6000
;TYPE:infill
G1 E1.00000 F2400
G1 X64.000 Y50.000 E0.21286 F600
EXCLUDE_OBJECT_END NAME=RX1_2
;LAYER:1
EXCLUDE_OBJECT_START NAME=RX1_1
G1 E-1.00000 F2400
G0 Z0.400 F6000
G0 X35.000 Y45.000
;TYPE:outer_wall
G1 E1.00000 F2400
G1 X45.000 Y45.000 E0.33260 F1200
G1 X45.000 Y55.000 E0.33260
G1 X35.000 Y55.000 E0.33260
G1 X35.000 Y45.000 E0.33261
G1 E-1.00000 F2400
G0 X40.000 Y46.000 F6000
;TYPE:infill
G1 E1.00000 F2400
G1 X40.000 Y54.000 E0.21286 F1800
EXCLUDE_OBJECT_END NAME=RX1_1
EXCLUDE_OBJECT_START NAME=RX1_2
G1 E-1.00000 F2400
G0 X55.000 Y45.000 F6000
;TYPE:outer_wall
G1 E1.00000 F2400
G1 X65.000 Y45.000 E0.33260 F1200
G1 X65.000 Y55.000 E0.33260
G1 X55.000 Y55.000 E0.33260
G1 X55.000 Y45.000 E0.33261
G1 E-1.00000 F2400
G0 X60.000 Y46.000 F6000
;TYPE:infill
G1 E1.00000 F2400
G1 X60.000 Y54.000 E0.21286 F1800
EXCLUDE_OBJECT_END NAME=RX1_2
G1 E-1.00000 F2400
M104 S0
M84
"""

EXPECTED_RRF = """\
; dosecraft.version = @VERSION@
; dosecraft.rx_id = RX1
; dosecraft.drug = testamol
; dosecraft.target_dose_mg = 12.5
; dosecraft.predicted_dose_mg = 12.5
; dosecraft.drug_loading = 0.1
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.mass_factor = 1.0
; dosecraft.e_mode = filament
; dosecraft.feed_diameter_mm = 1.75
; dosecraft.tablets = 1
; dosecraft.design_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
; dosecraft.firmware = reprapfirmware
; dosecraft.formulation = test_drug_fdm
; dosecraft.objects = RX1_1
; dosecraft.printer = test_fdm
; dosecraft.relative_e = false
M140 S50
M104 S190
M190 S50
M109 S190
G28 ; home
G1 Z5 F600
G90
M82
M220 S100
M221 S100
G92 E0
;LAYER:0
M486 S0 A"RX1_1"
G1 E-1.00000 F2400
G0 X45.000 Y45.000 F6000
G0 Z0.200
;TYPE:outer_wall
G1 E0.00000 F2400
G1 X55.000 Y45.000 E0.33260 F600
G1 X55.000 Y55.000 E0.66520
G1 X45.000 Y55.000 E0.99780
G1 X45.000 Y45.000 E1.33041
G1 E0.33041 F2400
G0 Z0.600 F6000
G0 X46.000 Y50.000
G0 Z0.200
;TYPE:infill
G1 E1.33041 F2400
G1 X54.000 Y50.000 E1.54327 F600
M486 S-1
;LAYER:1
G92 E0
M486 S0 A"RX1_1"
G1 E-1.00000 F2400
G0 Z0.800 F6000
G0 X45.000 Y45.000
G0 Z0.400
;TYPE:outer_wall
G1 E0.00000 F2400
G1 X55.000 Y45.000 E0.33260 F1200
G1 X55.000 Y55.000 E0.66520
G1 X45.000 Y55.000 E0.99780
G1 X45.000 Y45.000 E1.33041
G1 E0.33041 F2400
G0 Z0.800 F6000
G0 X50.000 Y46.000
G0 Z0.400
;TYPE:infill
G1 E1.33041 F2400
G1 X50.000 Y54.000 E1.54327 F1800
M486 S-1
G1 E0.54327 F2400
M104 S0
M84
"""

EXPECTED_SYRINGE = """\
; dosecraft.version = @VERSION@
; dosecraft.rx_id = RX1
; dosecraft.drug = testamol
; dosecraft.target_dose_mg = 12.5
; dosecraft.predicted_dose_mg = 12.5
; dosecraft.drug_loading = 0.1
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.mass_factor = 1.0
; dosecraft.e_mode = syringe
; dosecraft.feed_diameter_mm = 10.0
; dosecraft.tablets = 1
; dosecraft.design_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
; dosecraft.firmware = marlin2
; dosecraft.formulation = test_drug_sse
; dosecraft.objects = RX1_1
; dosecraft.printer = test_sse
; dosecraft.relative_e = true
M486 T1
M104 S25
M109 S25
G28
G90
M83
M220 S100
M221 S100
G92 E0
;LAYER:0
M486 S0
G1 E-0.05000 F120
G0 X45.000 Y45.000 F2400
G0 Z0.400
;TYPE:outer_wall
G1 E0.05000 F120
G1 X55.000 Y45.000 E0.01019 F600
G1 X55.000 Y55.000 E0.01018
G1 X45.000 Y55.000 E0.01019
G1 X45.000 Y45.000 E0.01018
G1 E-0.05000 F120
G0 Z0.900 F2400
G0 X46.000 Y50.000
G0 Z0.400
;TYPE:infill
G1 E0.05000 F120
G1 X54.000 Y50.000 E0.00652 F600
M486 S-1
;LAYER:1
M486 S0
G1 E-0.05000 F120
G0 Z1.300 F2400
G0 X45.000 Y45.000
G0 Z0.800
;TYPE:outer_wall
G1 E0.05000 F120
G1 X55.000 Y45.000 E0.01019 F1200
G1 X55.000 Y55.000 E0.01018
G1 X45.000 Y55.000 E0.01019
G1 X45.000 Y45.000 E0.01019
G1 E-0.05000 F120
G0 Z1.300 F2400
G0 X50.000 Y46.000
G0 Z0.800
;TYPE:infill
G1 E0.05000 F120
G1 X50.000 Y54.000 E0.00652 F1800
M486 S-1
G1 E-0.05000 F120
M84
"""

EXPECTED_VOLUMETRIC = """\
; dosecraft.version = @VERSION@
; dosecraft.rx_id = RX1
; dosecraft.drug = testamol
; dosecraft.target_dose_mg = 12.5
; dosecraft.predicted_dose_mg = 12.5
; dosecraft.drug_loading = 0.1
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.mass_factor = 1.0
; dosecraft.e_mode = volumetric
; dosecraft.feed_diameter_mm = 10.0
; dosecraft.tablets = 1
; dosecraft.design_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
; dosecraft.firmware = reprapfirmware
; dosecraft.formulation = test_drug_sse
; dosecraft.objects = RX1_1
; dosecraft.printer = test_sse
; dosecraft.relative_e = true
M104 S25
M109 S25
G28
G90
M83
M220 S100
M221 S100
G92 E0
M200 D10
;LAYER:0
M486 S0 A"RX1_1"
G1 E-3.92699 F120
G0 X45.000 Y45.000 F2400
G0 Z0.400
;TYPE:outer_wall
G1 E3.92699 F120
G1 X55.000 Y45.000 E0.80000 F600
G1 X55.000 Y55.000 E0.80000
G1 X45.000 Y55.000 E0.80000
G1 X45.000 Y45.000 E0.80000
G1 E-3.92699 F120
G0 Z0.900 F2400
G0 X46.000 Y50.000
G0 Z0.400
;TYPE:infill
G1 E3.92699 F120
G1 X54.000 Y50.000 E0.51200 F600
M486 S-1
;LAYER:1
M486 S0 A"RX1_1"
G1 E-3.92699 F120
G0 Z1.300 F2400
G0 X45.000 Y45.000
G0 Z0.800
;TYPE:outer_wall
G1 E3.92699 F120
G1 X55.000 Y45.000 E0.80000 F1200
G1 X55.000 Y55.000 E0.80000
G1 X45.000 Y55.000 E0.80000
G1 X45.000 Y45.000 E0.80000
G1 E-3.92699 F120
G0 Z1.300 F2400
G0 X50.000 Y46.000
G0 Z0.800
;TYPE:infill
G1 E3.92699 F120
G1 X50.000 Y54.000 E0.51200 F1800
M486 S-1
G1 E-3.92699 F120
M200 D0
M84
"""

EXPECTED_PNEUMATIC = """\
; dosecraft.version = @VERSION@
; dosecraft.rx_id = RX1
; dosecraft.drug = testamol
; dosecraft.target_dose_mg = 12.5
; dosecraft.predicted_dose_mg = 12.5
; dosecraft.drug_loading = 0.1
; dosecraft.density_mg_mm3 = 1.25
; dosecraft.mass_factor = 1.0
; dosecraft.e_mode = pneumatic
; dosecraft.feed_diameter_mm = none
; dosecraft.tablets = 1
; dosecraft.design_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
; dosecraft.firmware = marlin2
; dosecraft.formulation = test_drug_sse
; dosecraft.objects = RX1_1
; dosecraft.pneumatic_flow_factor = 0.25
; dosecraft.pneumatic_flow_mm3_s = 2.142477796076938
; dosecraft.pressure_dwell_ms = 100
; dosecraft.pressure_off = M42 P4 S0
; dosecraft.pressure_on = M42 P4 S255
; dosecraft.printer = test_pneu
; dosecraft.relative_e = true
M486 T1
M104 S25
M109 S25
G28
G90
M83
M220 S100
M221 S100
G92 E0
;LAYER:0
M486 S0
G0 X45.000 Y45.000 F2400
G0 Z0.400
;TYPE:outer_wall
; dosecraft.flow_mm3_per_mm = 0.08
M400
M42 P4 S255
G4 P100
G1 X55.000 Y45.000 F1606.858
G1 X55.000 Y55.000
G1 X45.000 Y55.000
G1 X45.000 Y45.000
M400
M42 P4 S0
G4 P100
G0 Z0.900 F2400
G0 X46.000 Y50.000
G0 Z0.400
;TYPE:infill
; dosecraft.flow_mm3_per_mm = 0.064
M400
M42 P4 S255
G4 P100
G1 X54.000 Y50.000 F2008.573
M400
M42 P4 S0
G4 P100
M486 S-1
;LAYER:1
M486 S0
G0 Z1.300 F2400
G0 X45.000 Y45.000
G0 Z0.800
;TYPE:outer_wall
; dosecraft.flow_mm3_per_mm = 0.08
M400
M42 P4 S255
G4 P100
G1 X55.000 Y45.000 F1606.858
G1 X55.000 Y55.000
G1 X45.000 Y55.000
G1 X45.000 Y45.000
M400
M42 P4 S0
G4 P100
G0 Z1.300 F2400
G0 X50.000 Y46.000
G0 Z0.800
;TYPE:infill
; dosecraft.flow_mm3_per_mm = 0.064
M400
M42 P4 S255
G4 P100
G1 X50.000 Y54.000 F2008.573
M400
M42 P4 S0
G4 P100
M486 S-1
M84
"""


def test_marlin_exact() -> None:
    """Marlin 2, filament, relative E, retraction, one tablet."""
    plate = single_plate(tiny_toolpath())
    program = write_gcode(plate, fdm_profile(), formulation(), HEADER)
    assert program.text == expected(EXPECTED_MARLIN)


def test_klipper_exact() -> None:
    """Klipper, filament, two tablets: EXCLUDE_OBJECT_DEFINE up front, layers interleaved."""
    plate = Plate((PlacedTablet("RX1_1", tiny_toolpath(), np.array([40.0, 50.0])),
                   PlacedTablet("RX1_2", tiny_toolpath(), np.array([60.0, 50.0]))))
    program = write_gcode(plate, fdm_profile(firmware="klipper"), formulation(), HEADER)
    assert program.text == expected(EXPECTED_KLIPPER)


def test_rrf_exact() -> None:
    """RepRapFirmware, filament, absolute E (G92 E0 per layer), z-hop, M486 with names."""
    plate = single_plate(tiny_toolpath())
    profile = fdm_profile(firmware="reprapfirmware", relative_e=False, z_hop_mm=0.4)
    program = write_gcode(plate, profile, formulation(), HEADER)
    assert program.text == expected(EXPECTED_RRF)


def test_syringe_exact() -> None:
    """Marlin 2, syringe plunger E (10 mm bore), suck-back and z-hop, no bed heat."""
    plate = single_plate(tiny_toolpath(0.4))
    program = write_gcode(plate, sse_profile(), formulation("sse"), HEADER)
    assert program.text == expected(EXPECTED_SYRINGE)


def test_volumetric_exact() -> None:
    """RepRapFirmware volumetric E: M200 D<bore>, E in mm³, retraction converted."""
    plate = single_plate(tiny_toolpath(0.4))
    profile = sse_profile(extruder="volumetric", firmware="reprapfirmware")
    program = write_gcode(plate, profile, formulation("sse"), HEADER)
    assert program.text == expected(EXPECTED_VOLUMETRIC)


def test_pneumatic_exact() -> None:
    """Marlin 2 pneumatic: valve on/off with M400 + dwell, flow comments, no E, and each
    bead at the speed that lays it: flow 0.25 × (0.4·0.4 + π·0.4²/4) mm² × 30 mm/s
    = 2.142 mm³/s, so 0.08 mm³/mm at 1606.858 mm/min and 0.064 at 2008.573, on every
    layer (no first-layer or wall speed: at a set pressure the speed sets the bead)."""
    plate = single_plate(tiny_toolpath(0.4))
    program = write_gcode(plate, pneumatic_profile(), formulation("sse"), HEADER)
    assert program.text == expected(EXPECTED_PNEUMATIC)
    flow = 0.25 * (0.4 * 0.4 + math.pi * 0.4**2 / 4) * 30.0
    assert f"F{flow / 0.08 * 60:.3f}" == "F1606.858"
    assert f"F{flow / 0.064 * 60:.3f}" == "F2008.573"


@pytest.mark.parametrize("name", ["marlin", "klipper", "rrf", "syringe", "volumetric",
                                  "pneumatic"])
def test_expected_texts_end_with_one_newline(name: str) -> None:
    text = globals()[f"EXPECTED_{name.upper()}"]
    assert text.endswith("\n") and not text.endswith("\n\n")
