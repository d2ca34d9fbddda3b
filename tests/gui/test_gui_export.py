"""Exports of a computed result (no window)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import trimesh

from dosecraft_gui import export


def test_gcode_is_the_plate_text(tmp_path: Path, small_result) -> None:
    files = export.export_gcode(small_result, tmp_path / "out.gcode")
    assert files == export.plate_paths(tmp_path / "out.gcode", len(small_result.plates))
    for f, plate in zip(files, small_result.plates, strict=True):
        assert f.read_text() == plate.program.text


def test_plate_paths_number_extra_plates() -> None:
    names = [p.name for p in export.plate_paths("/x/rx.gcode", 3)]
    assert names == ["rx.gcode", "rx.plate2.gcode", "rx.plate3.gcode"]


@pytest.mark.parametrize("suffix", [".stl", ".3mf"])
def test_mesh_exports_load_back(tmp_path: Path, small_result, suffix: str) -> None:
    path = export.export_mesh(small_result, tmp_path / f"tablet{suffix}")
    loaded = trimesh.load(path, force="mesh")
    assert loaded.is_watertight
    assert loaded.volume == pytest.approx(small_result.mesh.volume, rel=1e-3)


def test_worksheet_pdf(tmp_path: Path, small_result) -> None:
    info = export.batch_info(small_result, "A. Pharmacist", lot="LOT-1",
                             expiry=dt.date(2030, 1, 1), date=dt.date(2026, 1, 2))
    assert info.batch_id == small_result.rx_id and info.formulations[0].lot == "LOT-1"
    row = export.worksheet_row(small_result)
    assert row["status"] == "ok" and row["patient_ref"] == "PT-GUI"
    assert row["gcode_sha256"] == small_result.plates[0].program.sha256
    path = export.export_worksheet(small_result, tmp_path / "ws.pdf", info)
    assert path.read_bytes().startswith(b"%PDF")


def test_failed_result_exports_nothing(tmp_path: Path, small_result) -> None:
    failed = replace(small_result, plates=(), error=ValueError("no"))  # type: ignore[arg-type]
    with pytest.raises(export.ExportError):
        export.export_gcode(failed, tmp_path / "x.gcode")
    with pytest.raises(export.ExportError):
        export.export_mesh(replace(small_result, mesh=None), tmp_path / "x.obj")


@pytest.mark.parametrize(("name", "fragment"), [
    ("folder", "is a folder; give a file name"),
    ("missing/t.gcode", "does not exist; create it first"),
    ("t.stl", "does not end in .gcode"),
])
def test_gcode_export_refuses_paths_that_would_mislead(tmp_path: Path, small_result,
                                                       name: str, fragment: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises((OSError, ValueError), match=fragment):
        export.export_gcode(small_result, tmp_path / name)
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


@pytest.mark.parametrize(("kind", "name", "fragment"), [
    ("mesh", "folder", "is a folder"), ("mesh", "t.gcode", "does not end in .stl or .3mf"),
    ("worksheet", "missing/w.pdf", "does not exist"), ("worksheet", "w.txt", "end in .pdf"),
])
def test_mesh_and_worksheet_exports_check_their_paths(tmp_path: Path, small_result, kind: str,
                                                      name: str, fragment: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(export.ExportError, match=fragment):
        if kind == "mesh":
            export.export_mesh(small_result, tmp_path / name)
        else:
            export.export_worksheet(small_result, tmp_path / name,
                                    export.batch_info(small_result, "J. Doe"))


def test_a_lot_without_its_expiry_is_refused(small_result) -> None:
    with pytest.raises(export.ExportError, match="lot 'L-1' needs its expiry"):
        export.batch_info(small_result, "J. Doe", "L-1", None)


def test_the_app_export_is_recorded(tmp_path: Path, small_result) -> None:
    from dosecraft.records import RecordStore

    records = tmp_path / "records.sqlite"
    files = export.export_gcode(small_result, tmp_path / "a.gcode", records, "A. P.")
    store = RecordStore(records)
    try:
        (batch,) = store.list_batches()
        report = store.batch_report(batch["id"])
    finally:
        store.close()
    assert report["batch"]["options"]["origin"] == "dosecraft app"
    assert report["batch"]["operator"] == "A. P."
    assert sorted(o["path"] for rx in report["prescriptions"] for o in rx["outputs"]
                  if o["kind"] == "gcode") == sorted(f.name for f in files)


@pytest.mark.parametrize(("lot", "expiry", "fragment"), [
    ("L-1", dt.date(2020, 1, 31), "expired on 2020-01-31"),
    ("L 24/117 !", dt.date(2030, 1, 31), "use 1–24 letters, digits"),
])
def test_a_worksheet_lot_is_checked_as_a_batch_checks_it(small_result, lot, expiry,
                                                         fragment) -> None:
    with pytest.raises(export.ExportError, match=fragment):
        export.batch_info(small_result, "J. Doe", lot, expiry, date=dt.date(2026, 11, 30))
