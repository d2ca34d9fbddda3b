"""RecordStore: schema, idempotent records, reports, calibration, print jobs, pseudonyms."""

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dosecraft.errors import RecordsError
from dosecraft.records import (
    SCHEMA_VERSION,
    RecordStore,
    batch_id_for,
    pseudonymise,
    verify_audit,
)

PATIENT = "MRN-7731904"


class FakeClock:
    """Aware UTC times one second apart, so timestamps are predictable."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_row(n: int, *, status: str = "ok", dose: float = 12.5) -> dict:
    ok = status == "ok"
    return {"row": n, "rx_id": f"RX{n:03d}", "status": status,
            "error": None if ok else "dose 900 mg does not fit", "drug": "propranolol",
            "formulation": "propranolol_gel_sse", "printer": "generic_sse_syringe",
            "quantity": 10, "target_dose_mg": dose,
            "design": {"shape": "cylinder", "dimensions_mm": {"d": 8.0, "h": 3.2},
                       "predicted_dose_mg": dose} if ok else None,
            "dose_check": {"passed": True} if ok else None, "warnings": []}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "records" / "records.sqlite"


@pytest.fixture
def store(db: Path):
    with RecordStore(db, actor="tester", clock=FakeClock()) as s:
        yield s


@pytest.fixture
def batch(store: RecordStore) -> str:
    return store.start_batch("rx.csv", source_sha256=sha("rx.csv"), operator="pharm",
                             formulation_lot="L-42", formulation_expiry="2026-01-31",
                             printer="generic_sse_syringe")


def test_schema_created_and_reopened(db: Path) -> None:
    with RecordStore(db, actor="a") as s:
        entries = s.audit_count()
        assert [e.action for e in s.audit_entries()] == ["schema.migrate",
                                                         "pseudonym_key.create"]
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"batches", "prescriptions", "designs", "outputs", "qc_results", "calibrations",
            "print_jobs", "audit", "meta"} <= tables
    raw.close()
    with RecordStore(db, actor="a") as s:  # reopening migrates nothing, writes nothing
        assert s.audit_count() == entries
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert verify_audit(db).ok


def test_newer_schema_refused(db: Path) -> None:
    RecordStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(RecordsError, match="upgrade dosecraft"):
        RecordStore(db)


def test_naive_clock_refused(db: Path) -> None:
    with pytest.raises(RecordsError, match="no time zone"):
        RecordStore(db, clock=lambda: datetime(2025, 1, 1))


def test_batch_id_deterministic_and_resume(store: RecordStore, tmp_path: Path) -> None:
    src = tmp_path / "rx.csv"
    src.write_text("rx_id\nRX001\n")
    first = store.start_batch(src, operator="pharm", options={"lot": "L1"})
    assert first == batch_id_for(hashlib.sha256(src.read_bytes()).hexdigest(), {"lot": "L1"})
    assert store.start_batch(src, operator="pharm", options={"lot": "L2"}) != first
    store.finish_batch(first)
    assert store.start_batch(src, operator="other", options={"lot": "L1"}) == first
    assert store.batch(first)["status"] == "running"
    actions = [e.action for e in store.audit_entries(id_prefix=first)]
    assert actions == ["batch.start", "batch.finish", "batch.resume"]
    assert store.audit_entries(id_prefix=first)[-1].actor == "other"


def test_resume_with_other_lot_refused(store: RecordStore, batch: str) -> None:
    with pytest.raises(RecordsError, match="formulation_lot 'L-42'"):
        store.start_batch("rx.csv", source_sha256=sha("rx.csv"), operator="pharm",
                          formulation_lot="L-43", batch_id=batch)


def test_rerecord_is_idempotent(store: RecordStore, batch: str, db: Path) -> None:
    rows = [make_row(n) for n in range(1, 6)] + [make_row(6, status="error")]
    for row in rows:
        assert store.record_prescription(batch, row, patient_ref=PATIENT)
        store.record_output(batch, row["rx_id"], "gcode", f"gcode/{row['rx_id']}.gcode",
                            sha(row["rx_id"]), 1000 + row["row"])
    store.record_output(batch, None, "worksheet", "worksheet.pdf", sha("ws"), 5000)
    count = store.audit_count()
    # A crashed batch re-run records everything again: nothing changes.
    for row in rows:
        assert not store.record_prescription(batch, row, patient_ref=PATIENT)
        assert not store.record_output(batch, row["rx_id"], "gcode",
                                       f"gcode/{row['rx_id']}.gcode", sha(row["rx_id"]),
                                       1000 + row["row"])
    assert not store.record_output(batch, None, "worksheet", "worksheet.pdf", sha("ws"), 5000)
    assert store.audit_count() == count
    raw = sqlite3.connect(db)
    for table, n in (("prescriptions", 6), ("designs", 5), ("outputs", 7)):
        assert raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n
    raw.close()
    assert store.finish_batch(batch) == "finished_with_errors"
    assert store.finish_batch(batch) == "finished_with_errors"
    assert store.audit_count() == count + 1


def test_changed_row_updates_and_is_audited(store: RecordStore, batch: str) -> None:
    store.record_prescription(batch, make_row(1, dose=10.0))
    assert store.record_prescription(batch, make_row(1, dose=11.0))
    report = store.batch_report(batch)
    assert [p["dose_mg"] for p in report["prescriptions"]] == [11.0]
    entries = store.audit_entries(entity="prescription")
    assert [e.action for e in entries] == ["prescription.record", "prescription.update"]
    assert [e.payload["target_dose_mg"] for e in entries] == [10.0, 11.0]
    # A re-run that fails now must not keep the old design.
    store.record_prescription(batch, make_row(1, status="error"))
    assert store.batch_report(batch)["prescriptions"][0]["design"] is None
    store.record_output(batch, "RX001", "gcode", "gcode/RX001.gcode", sha("a"), 10)
    assert store.record_output(batch, "RX001", "gcode", "gcode/RX001.gcode", sha("b"), 11)
    assert [e.action for e in store.audit_entries(entity="output")] == ["output.record",
                                                                        "output.update"]
    assert verify_audit(store.path).ok


def test_batch_report_has_everything(store: RecordStore, batch: str) -> None:
    store.record_prescription(batch, make_row(2), patient_ref=PATIENT)
    store.record_prescription(batch, make_row(1), patient_ref="MRN-1")
    store.record_output(batch, "RX001", "gcode", "gcode/RX001.gcode", sha("g1"), 321)
    store.record_output(batch, None, "labels", "labels.pdf", sha("l"), 99)
    store.record_qc(batch, rx_id="RX001", method="USP905", acceptance_value=4.1, passed=True)
    store.record_qc(batch, rx_id="RX001", method="weight", tablet_index=0, mass_mg=101.5,
                    passed=True, details={"balance": "XS205"})
    store.record_print_job("printer-a", "17", sha("g1"), batch_id=batch, rx_id="RX001")
    report = store.batch_report(batch)
    assert report["batch"]["formulation_lot"] == "L-42"
    assert report["batch"]["counts"] == {"prescriptions": 2, "ok": 2, "failed": 0,
                                         "outputs": 2}
    rx1, rx2 = report["prescriptions"]  # ordered by input row
    assert (rx1["rx_id"], rx2["rx_id"]) == ("RX001", "RX002")
    assert rx1["design"]["shape"] == "cylinder" and len(rx1["design_sha256"]) == 64
    assert rx1["outputs"][0]["sha256"] == sha("g1")
    assert [q["method"] for q in rx1["qc"]] == ["USP905", "weight"]
    assert rx1["qc"][1]["details"] == {"balance": "XS205"} and rx1["qc"][1]["passed"] is True
    assert report["outputs"] == [{"rx_id": None, "kind": "labels", "path": "labels.pdf",
                                  "sha256": sha("l"), "bytes": 99,
                                  "recorded_at": report["outputs"][0]["recorded_at"]}]
    assert report["print_jobs"][0]["job_id"] == "17"
    assert report["audit"][0]["action"] == "batch.start"
    assert report["audit_head"][0] == store.audit_count()
    assert [b["id"] for b in store.list_batches()] == [batch]
    assert store.resolve_batch_id(batch[:6]) == batch


def test_unknown_batch_and_bad_input(store: RecordStore, batch: str) -> None:
    with pytest.raises(RecordsError, match="no batch 'nope'.*recent batches"):
        store.record_prescription("nope", make_row(1))
    with pytest.raises(RecordsError, match="relative to the batch output folder"):
        store.record_output(batch, "RX001", "gcode", "/tmp/x.gcode", sha("x"), 1)
    with pytest.raises(RecordsError, match="not a SHA-256"):
        store.record_output(batch, "RX001", "gcode", "g.gcode", "abc", 1)
    with pytest.raises(RecordsError, match="neither rx_id nor row"):
        store.record_prescription(batch, {"status": "error"})
    with pytest.raises(RecordsError, match="not one of"):
        store.finish_batch(batch, status="done")


def test_unreadable_row_keyed_by_row_number(store: RecordStore, batch: str) -> None:
    row = {"row": 7, "rx_id": None, "status": "error", "error": "bad", "design": None,
           "target_dose_mg": None}
    assert store.record_prescription(batch, row)
    assert not store.record_prescription(batch, row)
    assert store.batch_report(batch)["prescriptions"][0]["rx_id"] == "row-7"


def test_calibration_history(store: RecordStore) -> None:
    assert store.latest_mass_factor("p", "f") is None
    first = store.record_calibration("p", "f", new_mass_factor=1.075, n_tablets=10,
                                     data_sha256=sha("w1"))
    assert store.record_calibration("p", "f", new_mass_factor=1.075, n_tablets=10,
                                    data_sha256=sha("w1")) == first  # same data: no new row
    store.record_calibration("p", "f", old_mass_factor=1.075, new_mass_factor=1.02,
                             n_tablets=10, data_sha256=sha("w2"), actor="qa",
                             details={"cv": 0.012, "accepted": True})
    assert store.latest_mass_factor("p", "f") == 1.02
    assert store.latest_mass_factor("p", "other") is None
    history = store.calibrations("p", "f")
    assert [c["new_mass_factor"] for c in history] == [1.02, 1.075]
    assert history[0]["operator"] == "qa"
    assert history[0]["details"] == {"cv": 0.012, "accepted": True}
    assert verify_audit(store.path).ok
    with pytest.raises(RecordsError, match="must be > 0"):
        store.record_calibration("p", "f", new_mass_factor=0.0, n_tablets=3,
                                 data_sha256=sha("w3"))


def test_print_job_states(store: RecordStore, batch: str) -> None:
    assert store.record_print_job("printer-a", "1", sha("g"), batch_id=batch)
    assert not store.record_print_job("printer-a", "1", sha("g"), batch_id=batch)
    with pytest.raises(RecordsError, match="names one file"):
        store.record_print_job("printer-a", "1", sha("other"))
    assert store.update_print_job("printer-a", "1", "printing")
    assert not store.update_print_job("printer-a", "1", "printing")
    assert store.update_print_job("printer-a", "1", "failed", message="nozzle clog")
    job = store.print_jobs(printer="printer-a")[0]
    assert job["state"] == "failed" and job["message"] == "nozzle clog"
    assert job["started_at"] and job["ended_at"]
    with pytest.raises(RecordsError, match="cannot become 'printing'"):
        store.update_print_job("printer-a", "1", "printing")
    with pytest.raises(RecordsError, match="not one of sent, printing"):
        store.update_print_job("printer-a", "1", "paused")
    with pytest.raises(RecordsError, match="no print job"):
        store.update_print_job("printer-a", "2", "finished")


def test_failed_write_leaves_nothing(store: RecordStore, batch: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    count = store.audit_count()
    with pytest.raises(RecordsError, match="not JSON|JSON values"):
        store.record_prescription(batch, {**make_row(1), "target_dose_mg": float("nan")})

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full while writing the audit entry")

    # The row is inserted before the audit entry fails: both must roll back together.
    monkeypatch.setattr(store, "_audit", broken_audit)
    with pytest.raises(RuntimeError, match="disk full"):
        store.record_prescription(batch, make_row(1))
    monkeypatch.undo()
    assert store.audit_count() == count
    assert store.batch_report(batch)["prescriptions"] == []
    assert store.record_prescription(batch, make_row(1))  # and the store is still usable


# -- pseudonyms ---------------------------------------------------------------------------

def test_pseudonyms_stable_and_not_clear_text(db: Path, batch: str, store: RecordStore) -> None:
    row = {**make_row(1), "warnings": [f"check weight of patient {PATIENT}"],
           "patient_ref": PATIENT}
    store.record_prescription(batch, row)
    store.record_prescription(batch, make_row(2), patient_ref=f"  {PATIENT} ")
    store.record_prescription(batch, make_row(3), patient_ref="MRN-0000001")
    p = [x["patient_pseudonym"] for x in store.batch_report(batch)["prescriptions"]]
    assert p[0] == p[1] == pseudonymise(store, PATIENT) and p[2] != p[0]
    assert len(p[0]) == 16 and int(p[0], 16) >= 0 and PATIENT not in p[0]
    assert store.batch_report(batch)["prescriptions"][0]["row"]["warnings"] == [
        f"check weight of patient <patient {p[0]}>"]
    store.close()
    with RecordStore(db) as again:  # the key persists with the database
        assert pseudonymise(again, PATIENT) == p[0]
    files = [f for f in db.parent.iterdir() if f.name.startswith(db.name)]
    for f in files:  # the main file and any WAL left behind
        data = f.read_bytes()
        assert PATIENT.encode() not in data and PATIENT.encode("utf-16-le") not in data


def test_pseudonyms_differ_between_databases(tmp_path: Path) -> None:
    with RecordStore(tmp_path / "a.sqlite") as a, RecordStore(tmp_path / "b.sqlite") as b:
        assert pseudonymise(a, PATIENT) != pseudonymise(b, PATIENT)


def test_external_pseudonym_key(tmp_path: Path) -> None:
    key = bytes(range(32))
    path = tmp_path / "ext.sqlite"
    with RecordStore(path, pseudonym_key=key) as s:
        first = pseudonymise(s, PATIENT)
    assert key.hex().encode() not in path.read_bytes()
    with RecordStore(path, pseudonym_key=key) as s:
        assert pseudonymise(s, PATIENT) == first
    with RecordStore(path) as s, pytest.raises(RecordsError, match="outside the file"):
        pseudonymise(s, PATIENT)
    with pytest.raises(RecordsError, match="not the one this records database"):
        RecordStore(path, pseudonym_key=bytes(32))


def test_default_path_and_foreign_files(tmp_path: Path) -> None:
    from dosecraft.records import default_records_path

    assert default_records_path().parts[-2:] == ("dosecraft", "records.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RecordsError, match="not a usable SQLite database"):
        RecordStore(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE meta (k)").connection.close()
    with pytest.raises(RecordsError, match="not a dosecraft records database"):
        RecordStore(other)
