"""Writer behaviour: determinism, guards, header rules, dialect lookups, E bookkeeping."""

import hashlib

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

from dosecraft.errors import GcodeError
from dosecraft.gcode import (
    FIRMWARE_DIALECTS,
    HEADER_ORDER,
    PlacedTablet,
    Plate,
    read_gcode,
    resolve_dialect,
    write_gcode,
)
from dosecraft.model import ExtrusionPath, Firmware, Toolpath, ToolpathLayer, ToolRole


def _write(**profile_overrides: object) -> str:
    return write_gcode(single_plate(tiny_toolpath()), fdm_profile(**profile_overrides),
                       formulation(), HEADER).text


def test_two_writes_are_byte_identical_and_hashed() -> None:
    a = write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation(), HEADER)
    b = write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation(), HEADER)
    assert a.text == b.text and a.sha256 == b.sha256
    assert a.sha256 == hashlib.sha256(a.text.encode()).hexdigest()
    assert a.objects == ("RX1_1",)
    c = write_gcode(single_plate(tiny_toolpath(), offset=(50.001, 50.0)), fdm_profile(),
                    formulation(), HEADER)
    assert c.sha256 != a.sha256


def test_move_outside_bed_names_tablet_and_coordinate() -> None:
    plate = single_plate(tiny_toolpath(), offset=(3.0, 50.0), label="RX9_2")
    with pytest.raises(GcodeError, match=r"tablet 'RX9_2' leaves the bed at X=-2\.000 Y=45"):
        write_gcode(plate, fdm_profile(), formulation(), HEADER)
    plate = single_plate(tiny_toolpath(), offset=(50.0, 96.0))
    with pytest.raises(GcodeError, match=r"Y=101\.000"):
        write_gcode(plate, fdm_profile(), formulation(), HEADER)


def test_layer_above_max_z_is_refused() -> None:
    profile = fdm_profile(max_z_mm=5.0, z_hop_mm=4.8)
    with pytest.raises(GcodeError, match=r"Z=5\.200 .*max_z_mm 5"):
        write_gcode(single_plate(tiny_toolpath()), profile, formulation(), HEADER)


def test_klipper_has_no_volumetric_mode() -> None:
    profile = sse_profile(firmware="klipper", extruder="volumetric")
    with pytest.raises(GcodeError, match="no volumetric E mode"):
        resolve_dialect(profile)


def test_marlin_volumetric_switches_m200_on_and_off() -> None:
    lines = write_gcode(single_plate(tiny_toolpath(0.4)), sse_profile(extruder="volumetric"),
                        formulation("sse"), HEADER).text.splitlines()
    on, off = lines.index("M200 S1 D10"), lines.index("M200 S0")
    assert on < lines.index(";LAYER:0") < off < lines.index("M84")


def test_dialects_are_tables_for_every_firmware() -> None:
    assert set(FIRMWARE_DIALECTS) == set(Firmware)
    assert FIRMWARE_DIALECTS[Firmware.REPRAPFIRMWARE].object_start == 'M486 S{index} A"{name}"'


def test_header_order_caller_keys_and_extras() -> None:
    header = {**HEADER, "zz_note": "last", "batch_id": "B7"}
    text = write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation(),
                       header).text
    keys = [line.split(".", 1)[1].split(" = ")[0] for line in text.splitlines()
            if line.startswith("; dosecraft.")]
    assert tuple(keys[: len(HEADER_ORDER)]) == HEADER_ORDER
    extras = keys[len(HEADER_ORDER):]
    assert extras == sorted(extras) and {"batch_id", "zz_note", "objects"} <= set(extras)


@pytest.mark.parametrize(("header", "message"), [
    ({k: v for k, v in HEADER.items() if k != "design_sha256"}, "lacks design_sha256"),
    ({**HEADER, "density_mg_mm3": "1.30"}, "density_mg_mm3 = '1.30' disagrees"),
    ({**HEADER, "e_mode": "volumetric"}, "e_mode = 'volumetric' disagrees"),
    ({**HEADER, "note": "two\nlines"}, "spans lines"),
    ({**HEADER, "Bad Key": "x"}, "must match"),
])
def test_header_errors(header: dict[str, str], message: str) -> None:
    with pytest.raises(GcodeError, match=message):
        write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation(), header)


def test_caller_may_repeat_a_derived_value_in_another_spelling() -> None:
    header = {**HEADER, "density_mg_mm3": "1.250", "tablets": "1"}
    text = write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation(),
                       header).text
    assert "; dosecraft.density_mg_mm3 = 1.25\n" in text


def test_temperatures_come_from_the_template_when_it_names_them() -> None:
    start = "M190 S{bed_temp_c}\nM109 S{nozzle_temp_c:.0f}\nG28 ; X{bed_x_mm} Y{bed_y_mm}"
    lines = _write(start_gcode=start).splitlines()
    assert "M140 S50" not in lines and "M104 S190" not in lines
    assert lines[lines.index("M190 S50") + 1: lines.index("M190 S50") + 3] == [
        "M109 S190", "G28 ; X100 Y100"]


def test_bad_template_placeholder() -> None:
    with pytest.raises(GcodeError, match=r"bad placeholder.*\{nozzle_temp_c\}"):
        _write(start_gcode="M109 S{hotend}")


def test_formulation_must_suit_the_printer() -> None:
    with pytest.raises(GcodeError, match="is for sse"):
        write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation("sse"), HEADER)
    with pytest.raises(GcodeError, match=r"filament is 2\.85 mm"):
        write_gcode(single_plate(tiny_toolpath()), fdm_profile(),
                    formulation(filament_diameter_mm=2.85), HEADER)


def test_pneumatic_needs_one_line_valve_commands() -> None:
    with pytest.raises(GcodeError, match="exactly one G-code line"):
        resolve_dialect(pneumatic_profile(pressure_on_gcode="M400\nM42 P4 S255"))
    with pytest.raises(GcodeError, match="are the same"):
        resolve_dialect(pneumatic_profile(pressure_on_gcode="m42 p4 s0"))


def test_labels_must_be_firmware_safe_and_unique() -> None:
    with pytest.raises(GcodeError, match="letters, digits"):
        PlacedTablet("RX 1", tiny_toolpath(), np.zeros(2))
    with pytest.raises(GcodeError, match="duplicate"):
        Plate((PlacedTablet("A", tiny_toolpath(), np.zeros(2)),
               PlacedTablet("A", tiny_toolpath(), np.zeros(2))))


def test_degenerate_segments_write_no_moveless_e() -> None:
    """Points closer than the 0.001 mm output grid are dropped, their E carried forward."""
    pts = np.array([[-4.0, 0.0], [-4.0, 0.0], [0.0, 0.0], [0.0002, 0.0], [4.0, 0.0],
                    [4.0003, 0.0]])
    path = ExtrusionPath(ToolRole.INFILL, pts, 0.4, 0.064)
    tp = Toolpath((ToolpathLayer(0, 0.2, 0.2, (path,)),))
    program = write_gcode(single_plate(tp), fdm_profile(), formulation(), HEADER)
    body = program.text.split(";LAYER:0\n")[1].splitlines()
    assert [line for line in body if line.startswith("G1 X")] == [
        "G1 X50.000 Y50.000 E0.10643 F600", "G1 X54.000 Y50.000 E0.10644"]  # 0.0003 mm tail
    readout = read_gcode(program.text)
    assert readout.volume_by_object_mm3["RX1_1"] == pytest.approx(tp.extruded_volume_mm3,
                                                                 abs=0.5e-5 * 2.406)
    assert readout.invariant_violations() == []


def test_travel_role_paths_route_travel_and_carry_nothing() -> None:
    route = ExtrusionPath(ToolRole.TRAVEL, np.array([[5.0, 5.0], [6.0, 6.0]]), 0.0, 0.0)
    wall = tiny_toolpath().layers[0].paths[0]
    tp = Toolpath((ToolpathLayer(0, 0.2, 0.2, (route, wall)),))
    text = write_gcode(single_plate(tp), fdm_profile(), formulation(), HEADER).text
    assert "G0 X56.000 Y56.000\n" in text
    bad = ExtrusionPath(ToolRole.TRAVEL, np.array([[5.0, 5.0], [6.0, 6.0]]), 0.4, 0.08)
    with pytest.raises(GcodeError, match="travel path carries"):
        write_gcode(single_plate(Toolpath((ToolpathLayer(0, 0.2, 0.2, (bad,)),))),
                    fdm_profile(), formulation(), HEADER)


def test_absolute_e_resets_each_layer_and_stays_small() -> None:
    text = _write(relative_e=False)
    lines = text.splitlines()
    assert lines[lines.index(";LAYER:1") + 1] == "G92 E0"
    es = [float(w[1:]) for line in lines if line.startswith("G1") for w in line.split()
          if w.startswith("E")]
    assert max(es) < 2.0


def test_pneumatic_valve_closed_at_every_object_end() -> None:
    plate = Plate((PlacedTablet("RX1_1", tiny_toolpath(0.4), np.array([40.0, 50.0])),
                   PlacedTablet("RX1_2", tiny_toolpath(0.4), np.array([60.0, 50.0]))))
    lines = write_gcode(plate, pneumatic_profile(), formulation("sse"), HEADER).text.splitlines()
    ends = [i for i, line in enumerate(lines) if line == "M486 S-1"]
    assert len(ends) == 4
    for i in ends:
        assert lines[i - 3: i] == ["M400", "M42 P4 S0", "G4 P100"]
    assert not any(line.startswith("G1") and " E" in line for line in lines)
