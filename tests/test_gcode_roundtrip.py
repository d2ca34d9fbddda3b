"""Writer → reader round trips: header, per-object volume and dose, layers, invariants."""

import math
import re

import numpy as np
import pytest
from test_gcode_support import (
    HEADER,
    fdm_profile,
    formulation,
    pneumatic_profile,
    round_tablet,
    single_plate,
    sse_profile,
    tiny_toolpath,
)

from dosecraft.errors import GcodeError
from dosecraft.gcode import (
    HEADER_ORDER,
    plan_plate,
    read_gcode,
    tablet_labels,
    toolpath_footprint,
    write_gcode,
)
from dosecraft.gcode.fmt import E_SCALE
from dosecraft.slicer.flow import Flow

PROFILES = {
    "marlin": lambda: fdm_profile(bed_x_mm=150.0, bed_y_mm=150.0),
    "klipper": lambda: fdm_profile(firmware="klipper", bed_x_mm=150.0, bed_y_mm=150.0),
    "rrf_absolute": lambda: fdm_profile(firmware="reprapfirmware", relative_e=False,
                                        z_hop_mm=0.3, bed_x_mm=150.0, bed_y_mm=150.0),
    "syringe": lambda: sse_profile(bed_x_mm=150.0, bed_y_mm=150.0),
    "volumetric": lambda: sse_profile(extruder="volumetric", bed_x_mm=150.0, bed_y_mm=150.0),
    "pneumatic": lambda: pneumatic_profile(bed_x_mm=150.0, bed_y_mm=150.0),
}


def _plate_program(name: str, count: int = 4):
    profile = PROFILES[name]()
    tech = profile.technology.value
    layer = 0.2 if tech == "fdm" else 0.4
    width = 0.45 if tech == "fdm" else 0.8
    # Different tablets on one plate: each object's volume must come back on its own.
    tps = [round_tablet(radius=4.0 + 0.5 * k, layer=layer, width=width, height=2.4)
           for k in range(count)]
    plate = plan_plate(list(zip(tablet_labels("RX1", count), tps, strict=True)), profile)
    program = write_gcode(plate, profile, formulation(tech), HEADER)
    return profile, tps, program


def _volume_tolerance_mm3(profile, tp_volume: float) -> float:
    """What the G-code can resolve: half an E output unit per object, or (pneumatic) the
    0.001 mm coordinate grid, whose rounding changes path lengths slightly."""
    if profile.extruder.value == "pneumatic":
        return 1e-4 * tp_volume
    return 0.5 / E_SCALE * Flow.from_profile(profile).mm3_per_e + 1e-12 * tp_volume


@pytest.mark.parametrize("name", list(PROFILES))
def test_plate_round_trip_recovers_each_object(name: str) -> None:
    profile, tps, program = _plate_program(name)
    r = read_gcode(program.text)
    assert r.object_names == program.objects == ("RX1_1", "RX1_2", "RX1_3", "RX1_4")
    for label, tp in zip(program.objects, tps, strict=True):
        expected = tp.extruded_volume_mm3
        got = r.volume_by_object_mm3[label]
        assert abs(got - expected) <= _volume_tolerance_mm3(profile, expected), label
        assert r.dose_by_object_mg[label] == pytest.approx(got * 1.25 * 0.1, rel=1e-12)
    assert r.unlabelled_volume_mm3 <= 0.0  # only the final retraction lies outside objects
    assert r.layer_count == tps[0].layer_count
    assert r.invariant_violations() == []
    assert list(r.header)[: len(HEADER_ORDER)] == list(HEADER_ORDER)
    assert r.header["rx_id"] == "RX1" and r.header["tablets"] == "4"
    assert r.header["design_sha256"] == HEADER["design_sha256"]
    assert r.print_time_s > 0


@pytest.mark.parametrize("name", ["marlin", "klipper", "rrf_absolute", "volumetric"])
def test_filament_and_volumetric_meet_one_part_per_million(name: str) -> None:
    _, tps, program = _plate_program(name, count=2)
    r = read_gcode(program.text)
    for label, tp in zip(program.objects, tps, strict=True):
        assert r.volume_by_object_mm3[label] == pytest.approx(tp.extruded_volume_mm3,
                                                              rel=1e-6)


def test_pneumatic_on_grid_coordinates_is_exact() -> None:
    # the re-read volume is flow × time with the valve open; the feed is written to
    # 0.001 mm/min (firmware reads it as a float32), which bounds the agreement
    program = write_gcode(single_plate(tiny_toolpath(0.4)), pneumatic_profile(),
                          formulation("sse"), HEADER)
    r = read_gcode(program.text)
    assert r.volume_by_object_mm3["RX1_1"] == pytest.approx(
        tiny_toolpath(0.4).extruded_volume_mm3, rel=1e-6)
    assert r.invariant_violations() == []


@pytest.mark.parametrize("factor", [0.5, 1.0, 1.5])
def test_pneumatic_calibration_sets_the_speed_not_the_dose(factor: float) -> None:
    # a paste that flows 1.5× the nominal bead at the print speed is printed 1.5× faster,
    # so every bead still holds its planned volume
    profile = pneumatic_profile(pneumatic_flow_factor=0.25 * factor, travel_speed_mm_s=80.0)
    program = write_gcode(single_plate(tiny_toolpath(0.4)), profile, formulation("sse"),
                          HEADER)
    r = read_gcode(program.text)
    assert r.volume_by_object_mm3["RX1_1"] == pytest.approx(
        tiny_toolpath(0.4).extruded_volume_mm3, rel=1e-6)
    m = r.moves
    feeds = sorted(set(m.feed_mm_min[m.extruding].round(3)))
    flow = 0.25 * factor * (0.4 * 0.4 + math.pi * 0.4**2 / 4) * 30.0
    assert feeds == pytest.approx([flow / 0.08 * 60, flow / 0.064 * 60], abs=1e-3)


def test_a_pneumatic_bead_faster_than_travel_is_refused() -> None:
    # 0.375 × 0.2857 mm² × 30 mm/s = 3.21 mm³/s lays the 0.08 mm³/mm wall only at 40.2 mm/s
    with pytest.raises(GcodeError, match="3.214 mm³/s needs 40.2 mm/s to lay a 0.08 mm³/mm "
                                         "bead, faster than its travel speed 40 mm/s"):
        write_gcode(single_plate(tiny_toolpath(0.4)),
                    pneumatic_profile(pneumatic_flow_factor=0.375), formulation("sse"), HEADER)


def test_an_edited_pneumatic_feed_changes_the_dose_and_is_flagged() -> None:
    program = write_gcode(single_plate(tiny_toolpath(0.4)), pneumatic_profile(),
                          formulation("sse"), HEADER)
    first = re.search(r"G1 X55\.000 Y45\.000 F(\d+\.\d+)", program.text)
    assert first is not None
    slower = program.text.replace(first.group(0), first.group(0).replace(
        first.group(1), f"{float(first.group(1)) / 2:.3f}"), 1)
    r = read_gcode(slower)
    # half the speed lays twice the bead on the first layer's square wall (and the
    # modal feed carries on to its other three sides)
    assert r.volume_by_object_mm3["RX1_1"] == pytest.approx(
        tiny_toolpath(0.4).extruded_volume_mm3 + 3.2, rel=1e-6)
    problems = r.invariant_violations()
    assert problems and "planned at 0.08 mm³/mm" in problems[0]


def test_every_extrusion_is_labelled_and_inside_its_footprint() -> None:
    profile, tps, program = _plate_program("klipper")
    r = read_gcode(program.text)
    m = r.moves
    assert np.all(m.object[m.extruding] >= 0)
    for i, label in enumerate(program.objects):
        sel = m.extruding & (m.object == i)
        assert label in program.text
        pts = np.vstack([m.start[sel, :2], m.end[sel, :2]])
        minx, miny, maxx, maxy = toolpath_footprint(tps[i])
        width = pts.max(axis=0) - pts.min(axis=0)
        # The footprint adds half a bead on each side of the bead centre lines.
        assert width == pytest.approx([maxx - minx - 0.45, maxy - miny - 0.45], abs=2e-3)
    bed = np.array([profile.bed_x_mm, profile.bed_y_mm])
    assert np.all(m.end[:, :2] >= 0) and np.all(m.end[:, :2] <= bed)


def test_header_round_trips_exactly() -> None:
    program = write_gcode(single_plate(tiny_toolpath()), fdm_profile(), formulation(),
                          {**HEADER, "operator": "J. Doe"})
    header = read_gcode(program.text).header
    assert header["operator"] == "J. Doe"
    assert float(header["density_mg_mm3"]) == 1.25
    assert header["e_mode"] == "filament" and header["feed_diameter_mm"] == "1.75"
    assert header["objects"] == "RX1_1"


def test_absolute_and_relative_e_deposit_the_same() -> None:
    tp = round_tablet()
    rel = read_gcode(write_gcode(single_plate(tp), fdm_profile(), formulation(),
                                 HEADER).text)
    absolute = read_gcode(write_gcode(single_plate(tp), fdm_profile(relative_e=False),
                                      formulation(), HEADER).text)
    assert math.isclose(rel.total_volume_mm3, absolute.total_volume_mm3, rel_tol=1e-12)


def test_shipped_profiles_and_formulary_round_trip() -> None:
    """Every shipped printer with a shipped formulation of its technology."""
    profiles = pytest.importorskip("dosecraft.profiles")
    formulary = pytest.importorskip("dosecraft.formulary")
    forms = {f.technology: f for f in formulary.list_formulations()}
    for summary in profiles.list_profiles():
        profile = profiles.load_profile(getattr(summary, "id", summary))
        form = forms[profile.technology]
        if form.filament_diameter_mm not in (None, profile.feed_diameter_mm):
            continue
        layer, width = profile.layer_height_mm, profile.line_width_mm
        tps = [round_tablet(radius=4.0, layer=layer, width=width, height=4 * layer)] * 3
        plate = plan_plate(list(zip(tablet_labels("RXS", 3), tps, strict=True)), profile)
        program = write_gcode(plate, profile, form, HEADER)
        r = read_gcode(program.text)
        assert r.invariant_violations() == [], profile.id
        for label in program.objects:
            assert r.volume_by_object_mm3[label] == pytest.approx(
                tps[0].extruded_volume_mm3, rel=1e-4), (profile.id, label)


@pytest.mark.parametrize("travel", [30.0, 50.0, 60.0, 100.0])
def test_beads_capped_at_the_top_speed_are_written_at_it(travel: float) -> None:
    # laid = flow ÷ top speed, then speed = flow ÷ laid: a bit over the top speed in floats
    from dosecraft.model.enums import ToolRole
    from dosecraft.model.toolpath import ExtrusionPath, Toolpath, ToolpathLayer
    from dosecraft.slicer.flow import Flow

    for factor in np.arange(0.5, 2.0, 0.01):
        profile = pneumatic_profile(pneumatic_flow_factor=float(factor),
                                    travel_speed_mm_s=travel)
        thinnest = Flow.from_profile(profile).laid_mm3_per_mm(1e-9)
        line = ExtrusionPath(ToolRole.INFILL, np.array([[-4.0, 0.0], [4.0, 0.0]]), 0.4,
                             thinnest)
        tp = Toolpath((ToolpathLayer(0, 0.4, 0.4, (line,)),))
        program = write_gcode(single_plate(tp), profile, formulation("sse"), HEADER)
        assert f"F{travel * 60:g}" in program.text
        r = read_gcode(program.text)
        assert r.volume_by_object_mm3["RX1_1"] == pytest.approx(8 * thinnest, rel=1e-6)
