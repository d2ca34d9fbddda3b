"""A real batch end to end: G-code per prescription and per plate, records in a real SQLite
file, worksheet and labels as real PDFs (text extracted), resume and determinism."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from dosecraft.batch.lots import Lots
from dosecraft.batch.plates import check_plate_doses, plate_targets
from dosecraft.batch.runner import BatchConfig, BatchSummary, run_batch
from dosecraft.gcode import read_gcode
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS
from dosecraft.records import RecordStore, verify_audit

pypdf = pytest.importorskip("pypdf")

EXPIRY = dt.date.today() + dt.timedelta(days=365)
ROWS = [
    "B-01,PT-01,hydrocortisone,2.5,,,11,hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,2",
    "B-02,PT-02,hydrocortisone,2.0,,,11,hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,3",
    "B-03,PT-03,propranolol,5,,,8,propranolol_gel_sse,generic_sse_syringe,caplet,,,,2",
    "B-04,PT-04,hydrocortisone,-1,,,11,hydrocortisone_gel_sse,generic_sse_syringe,,,,,2",
]


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(",".join(PRESCRIPTION_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    return path


def config(src: Path, out: Path, records: Path, **kw: object) -> BatchConfig:
    values: dict = dict(source=src, out_dir=out, records=records, operator="pharmacist-a",
                        lots=Lots.parse(["L-77"], [EXPIRY.isoformat()]))
    values.update(kw)
    return BatchConfig(**values)


def snapshot(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[BatchSummary, BatchConfig]:
    root = tmp_path_factory.mktemp("batch")
    cfg = config(write_csv(root / "rx.csv", ROWS), root / "out", root / "records.sqlite")
    return run_batch(cfg), cfg


def test_outputs_rows_and_plates(first: tuple[BatchSummary, BatchConfig]) -> None:
    summary, cfg = first
    out = cfg.out_dir
    assert (summary.ok, summary.failed) == (3, 1)
    bad = next(r for r in summary.rows if r["row"] == 4)
    assert bad["status"] == "error" and "dose_mg" in bad["error"]
    for rx in ("B-01", "B-02", "B-03"):
        assert (out / "gcode" / f"{rx}.gcode").is_file() and (out / "rows" / f"{rx}.json").is_file()
    assert not (out / "rows" / "B-04.json").exists() and not (out / "gcode" / "B-04.gcode").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not (out / ".cache").exists()  # toolpath cache removed once the batch completes
    # same printer: the hydrocortisone tablets share one plate, propranolol has its own
    plates = {p["plate_id"]: p for p in summary.plates}
    assert [p["prescriptions"] for p in plates.values()] == [["B-01", "B-02"], ["B-03"]]
    for plate in plates.values():
        text = (out / plate["path"]).read_text()
        readout = read_gcode(text)
        assert readout.header["rx_id"] == plate["plate_id"]
        targets = plate_targets(readout.header)
        assert check_plate_doses(readout, targets) == []
        assert set(readout.dose_by_object_mg) == set(plate["objects"])
        for label, dose in readout.dose_by_object_mg.items():
            rx_id = label.rsplit("_", 1)[0]
            row = next(r for r in summary.rows if r["rx_id"] == rx_id)
            assert dose == pytest.approx(row["target_dose_mg"], rel=0.01)
    assert plates[summary.plates[0]["plate_id"]]["objects"] == [
        "B-01_1", "B-01_2", "B-02_1", "B-02_2", "B-02_3"]
    doc = json.loads((out / "batch.json").read_text())
    assert doc["batch_id"] == summary.batch_id and doc["summary"]["failed"] == 1
    assert [r["rx_id"] for r in doc["rows"]] == ["B-01", "B-02", "B-03", "B-04"]
    assert "fingerprint" not in doc["rows"][0] and doc["rows"][0]["plates"]
    assert "T" not in json.dumps(doc["options"])  # no timestamps in batch.json


def test_records_and_audit(first: tuple[BatchSummary, BatchConfig]) -> None:
    summary, cfg = first
    assert cfg.records is not None
    with RecordStore(cfg.records) as store:
        report = store.batch_report(summary.batch_id)
    assert report["batch"]["status"] == "finished_with_errors"
    assert report["batch"]["operator"] == "pharmacist-a"
    assert report["batch"]["formulation_lot"] == "L-77"
    by_rx = {p["rx_id"]: p for p in report["prescriptions"]}
    assert set(by_rx) == {"B-01", "B-02", "B-03", "B-04"}
    assert by_rx["B-04"]["status"] == "error"
    assert by_rx["B-01"]["patient_pseudonym"] and "PT-01" not in json.dumps(by_rx["B-01"])
    assert sorted(o["kind"] for o in by_rx["B-01"]["outputs"]) == ["gcode", "release_plot"]
    kinds = sorted(o["kind"] for o in report["outputs"])
    assert kinds == ["batch_json", "labels", "plate", "plate", "worksheet"]
    assert verify_audit(cfg.records).ok


def test_worksheet_and_labels_pdfs(first: tuple[BatchSummary, BatchConfig]) -> None:
    summary, cfg = first
    sheet = pdf_text(cfg.out_dir / "worksheet.pdf")
    for needle in (summary.batch_id, "B-01", "B-02", "B-03", "L-77", "pharmacist-a"):
        assert needle in sheet
    assert "do not release" in sheet and "B-04" in sheet
    anchor = re.search(r"audit seq (\d+) ([0-9a-f]{64})", sheet)
    assert anchor, sheet[:500]
    assert cfg.records is not None
    assert verify_audit(cfg.records, anchor=(int(anchor[1]), anchor[2])).ok
    labels = pdf_text(cfg.out_dir / "labels.pdf")
    for needle in ("B-01", "B-02", "B-03", "Lot: L-77", "2.5 mg", "PT-01"):
        assert needle in labels
    assert "B-04" not in labels


def test_rerun_redoes_nothing_and_changes_no_file(first: tuple[BatchSummary, BatchConfig]
                                                  ) -> None:
    summary, cfg = first
    assert cfg.records is not None
    before = snapshot(cfg.out_dir)
    with RecordStore(cfg.records) as store:
        entries = len(store.audit_entries(id_prefix=summary.batch_id))
    again = run_batch(cfg)
    assert again.redone == 0 and again.batch_id == summary.batch_id
    assert snapshot(cfg.out_dir) == before
    with RecordStore(cfg.records) as store:
        new = store.audit_entries(id_prefix=summary.batch_id)[entries:]
    assert [e.action for e in new] == ["batch.resume", "batch.finish"]
    # the audit log says where each run wrote
    assert new[0].payload["output_dir"] == str(cfg.out_dir.resolve())


def test_same_input_elsewhere_gives_identical_files(
        first: tuple[BatchSummary, BatchConfig], tmp_path: Path) -> None:
    summary, cfg = first
    other = run_batch(config(cfg.source, tmp_path / "out2", tmp_path / "r2.sqlite"))
    assert other.batch_id == summary.batch_id
    a, b = cfg.out_dir, tmp_path / "out2"
    names = [p.relative_to(a) for p in sorted(a.rglob("*"))
             if p.is_file() and p.suffix in (".gcode", ".json") and p.name[0] != "."]
    assert len(names) >= 10
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    with RecordStore(tmp_path / "r2.sqlite") as store:
        (start,) = [e for e in store.audit_entries(id_prefix=other.batch_id)
                    if e.action == "batch.start"]
    assert start.payload["output_dir"] == str(b.resolve())


def test_changed_input_and_calibration(tmp_path: Path) -> None:
    records = tmp_path / "records.sqlite"
    out = tmp_path / "out"
    run_batch(config(write_csv(tmp_path / "a.csv", ROWS[:3]), out, records, plates=False,
                     lots=Lots()))
    assert not (out / "labels.pdf").exists()  # no lot, no labels
    with RecordStore(records) as store:
        store.record_calibration("generic_sse_syringe", "propranolol_gel_sse",
                                 new_mass_factor=1.04, n_tablets=10, data_sha256="c" * 64)
    # B-02 removed from the input; B-03's calibration changed; B-01 untouched
    b01 = (out / "gcode" / "B-01.gcode").stat().st_ino
    summary = run_batch(config(write_csv(tmp_path / "b.csv", [ROWS[0], ROWS[2]]), out,
                               records, plates=False, lots=Lots()))
    assert summary.redone == 1 and summary.ok == 2
    assert not (out / "gcode" / "B-02.gcode").exists()
    assert not (out / "rows" / "B-02.json").exists()
    assert (out / "gcode" / "B-01.gcode").stat().st_ino == b01
    row = next(r for r in summary.rows if r["rx_id"] == "B-03")
    assert row["mass_factor"] == 1.04
    assert "; dosecraft.mass_factor = 1.04\n" in (out / "gcode" / "B-03.gcode").read_text()
    assert row["dose_mg_gcode"] == pytest.approx(5.0, rel=0.01)


def test_release_plot_per_design(first: tuple[BatchSummary, BatchConfig]) -> None:
    summary, cfg = first
    doc = json.loads((cfg.out_dir / "batch.json").read_text())
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    assert ok
    for row in ok:
        png = cfg.out_dir / row["release_plot"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert row["release_plot"] == f"release/{row['rx_id']}.png"
    with RecordStore(cfg.records) as store:
            report = store.batch_report(summary.batch_id)
    by_rx = {p["rx_id"]: p for p in report["prescriptions"]}
    for row in ok:
        assert "release_plot" in [o["kind"] for o in by_rx[row["rx_id"]]["outputs"]]
