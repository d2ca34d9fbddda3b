"""Batch building blocks without the pipeline: plate planning, plate headers and checks,
the toolpath cache, batch-only input rules, record keys, lots and chunking."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from dosecraft.batch.inputs import batch_row_checks, record_keys
from dosecraft.batch.lots import LotError, Lots, default_use_by
from dosecraft.batch.planning import PlateMember, PlateSpec, chunked, plan_plates
from dosecraft.batch.plates import check_plate_doses, plate_header, plate_targets
from dosecraft.batch.toolpath_cache import load_toolpath, save_toolpath
from dosecraft.errors import GcodeError
from dosecraft.gcode import plan_plate, read_gcode, write_gcode
from dosecraft.io.prescriptions import RowResult, read_csv_text
from dosecraft.model import (
    ExtrusionPath,
    Formulation,
    PrinterProfile,
    ReleaseParameters,
    Toolpath,
    ToolpathLayer,
    ToolRole,
)
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS, Prescription


def profile(**overrides: object) -> PrinterProfile:
    values: dict[str, object] = dict(
        id="plan_fdm", name="Plan FDM", technology="fdm", firmware="marlin2",
        extruder="filament", nozzle_diameter_mm=0.4, feed_diameter_mm=1.75, bed_x_mm=100.0,
        bed_y_mm=100.0, max_z_mm=50.0, layer_height_mm=0.2, first_layer_height_mm=0.2,
        line_width_mm=0.4, wall_count=1, top_layers=1, bottom_layers=1, min_feature_mm=0.8,
        print_speed_mm_s=30.0, wall_speed_mm_s=20.0, first_layer_speed_mm_s=10.0,
        travel_speed_mm_s=100.0, plate_spacing_mm=5.0, bed_margin_mm=10.0,
        start_gcode="G28", end_gcode="M84")
    values.update(overrides)
    return PrinterProfile(**values)


def formulation() -> Formulation:
    return Formulation(
        id="plan_drug", name="Plan", drug="testamol", carrier="PVA", technology="fdm",
        drug_loading=0.1, density_mg_mm3=1.25, print_temp_c=190.0, temp_min_c=180.0,
        temp_max_c=210.0, max_dose_per_unit_mg=100.0, max_daily_dose_mg=1000.0,
        release=ReleaseParameters(model="erosion", erosion_rate_mm_min=0.01))


def square_toolpath(side: float = 10.0) -> Toolpath:
    h = side / 2
    ring = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    layers = tuple(
        ToolpathLayer(i, 0.2 * (i + 1), 0.2, (
            ExtrusionPath(ToolRole.OUTER_WALL, ring, 0.4, 0.08, closed=True),
            ExtrusionPath(ToolRole.INFILL, np.array([[-h + 1, 0.0], [h - 1, 0.0]]), 0.4, 0.07),
        )) for i in range(2))
    return Toolpath(layers)


def rx(rx_id: str) -> Prescription:
    return Prescription(rx_id=rx_id, drug="testamol", dose_mg=10, formulation="plan_drug",
                        printer="plan_fdm")


def ok_row(n: int, rx_id: str, qty: int, side: float = 10.0, printer: str = "plan_fdm",
           formulation_id: str = "plan_drug", factor: float | None = 1.0) -> dict:
    h = side / 2
    return {"row": n, "rx_id": rx_id, "status": "ok", "printer": printer,
            "formulation": formulation_id, "mass_factor": factor, "quantity": qty,
            "target_dose_mg": 10.0, "design": {"predicted_dose_mg": 10.0},
            "design_sha256": "a" * 64, "fingerprint": f"fp-{rx_id}",
            "footprint_mm": [-h, -h, h, h]}


# -- plate planning -----------------------------------------------------------------------


def test_plates_group_by_printer_formulation_and_factor_and_fill_in_order() -> None:
    rows = [ok_row(1, "A", 20), ok_row(2, "B", 10), ok_row(3, "C", 3, factor=1.05),
            {"row": 4, "rx_id": "D", "status": "error"}, ok_row(5, "E", 2)]
    specs = plan_plates(rows, {k: rx(k) for k in "ABCE"}, "0123456789abcdef",
                        lambda _: profile())
    # 100 mm bed, 10 mm margin, 5 mm gaps: 25 squares of 10 mm per plate
    assert [s.plate_id for s in specs] == ["01234567-p001", "01234567-p002", "01234567-p003"]
    first, second, third = specs
    assert first.prescriptions == ["A", "B"] and len(first.labels) == 25
    assert first.labels[:20] == [f"A_{k}" for k in range(1, 21)]
    assert first.labels[20:] == [f"B_{k}" for k in range(1, 6)]
    # B continues on the next plate (labels run on), then E of the same group
    assert second.labels == [f"B_{k}" for k in range(6, 11)] + ["E_1", "E_2"]
    assert third.prescriptions == ["C"] and third.mass_factor == 1.05
    again = plan_plates(rows, {k: rx(k) for k in "ABCE"}, "0123456789abcdef",
                        lambda _: profile())
    assert [s.fingerprint for s in again] == [s.fingerprint for s in specs]


def test_plate_max_caps_the_tablets_per_plate() -> None:
    specs = plan_plates([ok_row(1, "A", 7)], {"A": rx("A")}, "0" * 16, lambda _: profile(),
                        max_tablets=3)
    assert [len(s.labels) for s in specs] == [3, 3, 1]
    assert specs[2].labels == ["A_7"]


def test_mixed_footprints_use_the_writer_layout() -> None:
    rows = [ok_row(1, "BIG", 2, side=40.0), ok_row(2, "SMALL", 6, side=10.0)]
    specs = plan_plates(rows, {"BIG": rx("BIG"), "SMALL": rx("SMALL")}, "f" * 16,
                        lambda _: profile())
    assert sum(len(s.labels) for s in specs) == 8
    for spec in specs:  # every planned plate must lay out exactly as the worker will
        plan_plate([(label, square_toolpath(40.0 if label.startswith("BIG") else 10.0))
                    for label in spec.labels], profile())


def test_a_tablet_larger_than_the_bed_is_an_error() -> None:
    with pytest.raises(GcodeError, match="0 fit per plate"):
        plan_plates([ok_row(1, "HUGE", 1, side=95.0)], {"HUGE": rx("HUGE")}, "e" * 16,
                    lambda _: profile())


def test_chunks_are_small_and_cover_everything() -> None:
    items = list(range(1000))
    chunks = chunked(items, workers=2)
    assert max(map(len, chunks)) == 8 and sum(chunks, []) == items
    assert chunked(list(range(5)), workers=2) == [[0], [1], [2], [3], [4]]
    assert chunked([], workers=4) == []


# -- plate header and per-object check ----------------------------------------------------


def _spec(members: list[tuple[str, tuple[str, ...], float]]) -> PlateSpec:
    return PlateSpec("deadbeef-p001", "deadbeef00000000", "plan_fdm", "plan_drug", 1.0, tuple(
        PlateMember(rx_id, rx(rx_id), labels, target, target, "b" * 64, "fp")
        for rx_id, labels, target in members))


def test_plate_header_round_trips_targets_and_marks_mixed_doses() -> None:
    header = plate_header(_spec([("A", ("A_1", "A_2"), 12.5), ("B", ("B_1",), 0.125)]))
    assert header["rx_id"] == "deadbeef-p001" and header["target_dose_mg"] == "mixed"
    assert header["prescriptions"] == "A,B"
    assert plate_targets(header) == {"A_1": 12.5, "A_2": 12.5, "B_1": 0.125}
    single = plate_header(_spec([("A", ("A_1",), 12.5)]))
    assert single["target_dose_mg"] == "12.5" and single["design_sha256"] == "b" * 64
    with pytest.raises(GcodeError, match="malformed item"):
        plate_targets({"target_dose_mg_by_object": "A_1=12"})


def test_every_object_is_checked_against_its_own_target() -> None:
    spec = _spec([("A", ("A_1",), 1.0), ("B", ("B_1",), 1.0)])
    program = write_gcode(plan_plate([("A_1", square_toolpath()), ("B_1", square_toolpath())],
                                     profile()), profile(), formulation(), plate_header(spec))
    readout = read_gcode(program.text)
    doses = readout.dose_by_object_mg
    assert check_plate_doses(readout, doses) == []
    problems = check_plate_doses(readout, {"A_1": doses["A_1"], "B_1": doses["B_1"] * 1.05})
    assert len(problems) == 1 and problems[0].startswith("tablet B_1: re-read dose")
    missing = check_plate_doses(readout, {**doses, "C_1": 1.0})
    assert "tablet C_1: not found in the program" in missing


# -- toolpath cache -------------------------------------------------------------------------


def test_toolpath_cache_round_trip_writes_identical_gcode(tmp_path: Path) -> None:
    tp = square_toolpath()
    path = save_toolpath(tmp_path / "A.npz", tp)
    loaded = load_toolpath(path)
    assert loaded is not None
    header = plate_header(_spec([("A", ("A_1",), 1.0)]))
    texts = [write_gcode(plan_plate([("A_1", t)], profile()), profile(), formulation(),
                         header).text for t in (tp, loaded)]
    assert texts[0] == texts[1]
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    assert load_toolpath(tmp_path / "bad.npz") is None
    assert load_toolpath(tmp_path / "missing.npz") is None


# -- batch-only input rules and record keys ---------------------------------------------------


def _csv(*rows: str) -> str:
    tail = "testamol,10,,,,plan_drug,plan_fdm,,,,,1"
    return ",".join(PRESCRIPTION_COLUMNS) + "\n" + "\n".join(f"{r},P,{tail}" for r in rows)


def test_case_insensitive_duplicates_and_reserved_suffix_are_row_errors() -> None:
    rows = batch_row_checks(read_csv_text(_csv("RX-1", "rx-1", "RX-2.plate2", "RX-3")))
    assert [r.ok for r in rows] == [True, False, False, True]
    assert "only in letter case" in str(rows[1].error) and "row 1" in str(rows[1].error)
    assert "'.plate<N>' is reserved" in str(rows[2].error)


def test_record_keys_never_let_a_bad_row_take_a_good_rows_key() -> None:
    good = read_csv_text(_csv("A", "B"))
    bad = read_csv_text(_csv("A", "A", "../x", "row-4"))
    rows = [RowResult(1, "A", None, bad[1].error), RowResult(2, "A", good[0].prescription, None),
            RowResult(3, "../x", None, bad[2].error), RowResult(4, "row-4", None, bad[1].error),
            RowResult(5, "B", good[1].prescription, None),
            RowResult(6, "B", None, bad[1].error)]
    keys = record_keys(rows)
    assert keys[2] == "A" and keys[5] == "B"  # readable rows keep their own IDs
    assert keys[1] == "row-1" and keys[3] == "row-3" and keys[6] == "row-6"
    assert keys[4] == "row-4"
    assert len(set(keys.values())) == 6


# -- lots ------------------------------------------------------------------------------------


def test_lots_parse_defaults_and_per_formulation() -> None:
    lots = Lots.parse(["L42", "paracetamol_pva_fdm=P-7"],
                      ["2027-01-31", "paracetamol_pva_fdm=2026-12-31"])
    got = lots.for_formulations(["paracetamol_pva_fdm", "prednisolone_pva_fdm"])
    assert got == {"paracetamol_pva_fdm": ("P-7", dt.date(2026, 12, 31)),
                   "prednisolone_pva_fdm": ("L42", dt.date(2027, 1, 31))}
    assert lots.unknown(["prednisolone_pva_fdm"]) == ["paracetamol_pva_fdm"]
    assert not Lots.parse() and Lots.parse().for_formulations(["x"]) == {}


@pytest.mark.parametrize(("lots", "expiries", "message"), [
    (["L 42"], ["2027-01-01"], "a lot is 1–24 letters"),
    (["L42"], [], "has no expiry"),
    ([], ["2027-01-01"], "has no --lot"),
    (["L42"], ["31/01/2027"], "YYYY-MM-DD"),
    (["L1", "L2"], ["2027-01-01"], "given twice"),
])
def test_lot_option_errors(lots: list[str], expiries: list[str], message: str) -> None:
    with pytest.raises(LotError, match=message):
        Lots.parse(lots, expiries)


def test_expired_lot_is_refused_and_use_by_defaults() -> None:
    lots = Lots.parse(["L42"], ["2026-03-01"])
    lots.check_not_expired(dt.date(2026, 3, 1))  # usable through its expiry date
    with pytest.raises(LotError, match="expired on 2026-03-01"):
        lots.check_not_expired(dt.date(2026, 3, 2))
    day = dt.date(2026, 1, 10)
    assert default_use_by(day, []) == dt.date(2026, 2, 9)
    assert default_use_by(day, [dt.date(2026, 1, 20)]) == dt.date(2026, 1, 20)
