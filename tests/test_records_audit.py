"""The audit log: chain format, append-only triggers, and verification of tampering."""

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dosecraft.errors import RecordsError
from dosecraft.records import GENESIS_HASH, RecordStore, verify_audit

COLUMNS = ("ts", "actor", "action", "entity", "entity_id", "payload", "prev_hash", "hash")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def populate(path: Path, n_rows: int = 12) -> str:
    """A realistic batch: rows, outputs, QC, calibration, print job, finish."""
    with RecordStore(path, actor="tester", clock=FakeClock()) as store:
        bid = store.start_batch("rx.csv", source_sha256=sha("rx"), operator="pharm",
                                formulation_lot="L-42", printer="p1")
        for n in range(1, n_rows + 1):
            row = {"row": n, "rx_id": f"RX{n:03d}", "status": "ok", "error": None,
                   "target_dose_mg": 5.0 + n, "quantity": 10,
                   "design": {"shape": "caplet", "predicted_dose_mg": 5.0 + n}}
            store.record_prescription(bid, row, patient_ref=f"MRN-{n:05d}")
            store.record_output(bid, row["rx_id"], "gcode", f"gcode/{row['rx_id']}.gcode",
                                sha(f"g{n}"), 1000 + n)
            store.record_qc(bid, rx_id=row["rx_id"], method="USP905", passed=True,
                            acceptance_value=2.0 + n / 10)
        store.record_calibration("p1", "gel", new_mass_factor=1.04, n_tablets=10,
                                 data_sha256=sha("weights"))
        store.record_print_job("p1", "job-1", sha("g1"), batch_id=bid, rx_id="RX001")
        store.update_print_job("p1", "job-1", "finished")
        store.record_output(bid, None, "worksheet", "worksheet.pdf", sha("ws"), 4242)
        store.finish_batch(bid)
    return bid


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, as a tamperer would use; autocommit."""
    return sqlite3.connect(path, isolation_level=None)


def drop_triggers(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")


def chain_problems(report) -> list[str]:
    """Problems other than the (expected) missing-trigger ones."""
    return [p for p in report.problems if not p.startswith("audit trigger")]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "records.sqlite"
    populate(path)
    return path


def test_clean_chain_verifies(db: Path) -> None:
    report = verify_audit(db)
    assert report.ok, report.problems
    assert report.entries == 2 + 1 + 12 * 3 + 1 + 2 + 1 + 1  # schema, key, batch...
    assert "audit log intact" in str(report)


def test_hash_is_sha256_of_canonical_fields(db: Path) -> None:
    conn = raw(db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    assert rows[0]["prev_hash"] == GENESIS_HASH == "0" * 64
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == prev["hash"]
    row = rows[5]
    fields = {k: row[k] for k in ("seq", "ts", "actor", "action", "entity", "entity_id",
                                  "payload", "prev_hash")}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() == row["hash"]
    assert row["payload"] == json.dumps(json.loads(row["payload"]), sort_keys=True,
                                        separators=(",", ":"))
    assert rows[0]["ts"] == "2025-03-01T09:00:01.000000Z"  # the injected clock, UTC
    conn.close()


def test_update_and_delete_refused_by_triggers(db: Path) -> None:
    conn = raw(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
        conn.execute("DELETE FROM audit WHERE seq = 3")
    conn.close()
    assert verify_audit(db).ok


def test_edited_payload_names_seq(db: Path) -> None:
    conn = raw(db)
    drop_triggers(conn)
    payload = json.loads(conn.execute("SELECT payload FROM audit WHERE seq = 7").fetchone()[0])
    payload["target_dose_mg"] = 50.0
    conn.execute("UPDATE audit SET payload = ? WHERE seq = 7",
                 (json.dumps(payload, sort_keys=True, separators=(",", ":")),))
    conn.close()
    report = verify_audit(db)
    assert not report.ok
    assert "audit trigger audit_no_update is missing: UPDATE on the audit log is no longer " \
           "refused (dropped outside dosecraft)" in report.problems
    assert chain_problems(report)[0] == (
        "entry seq 7: stored hash does not match its content (edited; which field was "
        "changed cannot be told)")
    # No cascade: the next link still matches the stored hash, and the prescription row is
    # not compared with an entry that is itself damaged.
    assert len(chain_problems(report)) == 1


def test_edited_and_rehashed_entry_breaks_the_next_link(db: Path) -> None:
    from dosecraft.records.audit import row_hash

    conn = raw(db)
    conn.row_factory = sqlite3.Row
    drop_triggers(conn)
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 9")
    row = conn.execute("SELECT * FROM audit WHERE seq = 9").fetchone()
    conn.execute("UPDATE audit SET hash = ? WHERE seq = 9", (row_hash(row),))
    conn.close()
    assert chain_problems(verify_audit(db)) == [
        "entry seq 10: previous entry missing or reordered (its prev_hash does not match "
        "the hash of entry seq 9)"]


def test_deleted_entry_names_gap(db: Path) -> None:
    conn = raw(db)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit WHERE seq = 11")
    conn.close()
    report = verify_audit(db)
    assert chain_problems(report)[0] == (
        "entry seq 12: previous entry missing or reordered (seq 11 absent)")


def test_deleted_first_entries(db: Path) -> None:
    conn = raw(db)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit WHERE seq <= 2")
    conn.close()
    assert "entry seq 3: previous entry missing or reordered (seq 1–2 absent)" in \
        verify_audit(db).problems


def test_deleted_tail_caught_by_recorded_head(db: Path) -> None:
    total = verify_audit(db).entries
    conn = raw(db)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit WHERE seq > ?", (total - 2,))
    conn.close()
    assert chain_problems(verify_audit(db))[0] == (
        f"audit log ends at seq {total - 2} but its recorded head is seq {total}: the newest "
        f"entries (seq {total - 1}–{total}) were deleted")
    # and the next dosecraft write does not paper over the gap
    with RecordStore(db, actor="x") as store:
        store.record_calibration("p1", "gel", new_mass_factor=1.1, n_tablets=3,
                                 data_sha256=sha("later"))
    assert any(p.startswith(f"entry seq {total + 1}: previous entry missing or reordered")
               for p in verify_audit(db).problems)


def test_swapped_entries_reported(db: Path) -> None:
    conn = raw(db)
    conn.row_factory = sqlite3.Row
    drop_triggers(conn)
    a, b = (dict(conn.execute("SELECT * FROM audit WHERE seq = ?", (s,)).fetchone())
            for s in (5, 6))
    sets = ", ".join(f"{c} = ?" for c in COLUMNS)
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = 5", [b[c] for c in COLUMNS])
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = 6", [a[c] for c in COLUMNS])
    conn.close()
    problems = chain_problems(verify_audit(db))
    assert "entry seq 5: holds the content of entry seq 6 (reordered)" in problems
    assert "entry seq 6: holds the content of entry seq 5 (reordered)" in problems
    assert "entry seq 7: previous entry missing or reordered (its prev_hash does not match " \
           "the hash of entry seq 6)" in problems


def test_edited_output_hash_reported(db: Path, tmp_path: Path) -> None:
    conn = raw(db)
    bid = conn.execute("SELECT id FROM batches").fetchone()[0]
    conn.execute("UPDATE outputs SET sha256 = ? WHERE rx_id = 'RX003'", (sha("forged"),))
    conn.close()
    report = verify_audit(db)
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.startswith(f"output {bid}/RX003/gcode/gcode/RX003.gcode: sha256 is "
                              f"'{sha('forged')}' in the table but '{sha('g3')}' in the audit")
    assert problem.endswith("the outputs row was edited")


def test_edited_and_deleted_table_rows_reported(db: Path) -> None:
    conn = raw(db)
    bid = conn.execute("SELECT id FROM batches").fetchone()[0]
    conn.execute("UPDATE prescriptions SET dose_mg = 60.0 WHERE rx_id = 'RX002'")
    conn.execute("UPDATE calibrations SET new_mass_factor = 0.9")
    conn.execute("UPDATE batches SET formulation_lot = 'L-99'")
    conn.execute("DELETE FROM outputs WHERE rx_id = 'RX004'")
    conn.execute("INSERT INTO outputs (batch_id, rx_id, kind, path, sha256, bytes, recorded_at)"
                 " VALUES (?, 'RX005', 'pdf', 'extra.pdf', ?, 1, 'x')", (bid, sha("e")))
    conn.close()
    problems = verify_audit(db).problems
    assert any(p.startswith(f"prescription {bid}/RX002: dose_mg is 60.0 in the table but 7.0")
               for p in problems)
    assert any(p.startswith("calibration 1: new_mass_factor is 0.9 in the table but 1.04")
               for p in problems)
    assert any(p.startswith(f"batch {bid}: formulation_lot is 'L-99'") for p in problems)
    assert f"output {bid}/RX005/pdf/extra.pdf: no audit entry records it (added outside " \
           "dosecraft, or its entry was deleted)" in problems
    assert any(p.startswith(f"output {bid}/RX004/gcode/gcode/RX004.gcode: recorded at audit "
                            "seq ") and p.endswith("missing from the outputs table (deleted)")
               for p in problems)
    assert len(problems) == 5


def test_anchor_catches_a_recomputed_chain(db: Path) -> None:
    from dosecraft.records.audit import GENESIS_HASH as ZERO
    from dosecraft.records.audit import row_hash

    with RecordStore(db) as store:
        anchor = store.audit_head()
    assert verify_audit(db, anchor=anchor).ok
    # Rewrite history and recompute every hash (and the head): the chain alone cannot tell.
    conn = raw(db)
    conn.row_factory = sqlite3.Row
    drop_triggers(conn)
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 4")
    prev = ZERO
    for row in conn.execute("SELECT * FROM audit ORDER BY seq").fetchall():
        fixed = {**dict(row), "prev_hash": prev}
        fixed["hash"] = row_hash(fixed)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                     (fixed["prev_hash"], fixed["hash"], row["seq"]))
        prev = fixed["hash"]
    conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head_hash'", (prev,))
    conn.close()
    assert chain_problems(verify_audit(db)) == []
    problems = chain_problems(verify_audit(db, anchor=anchor))
    assert problems == [f"entry seq {anchor[0]}: hash {prev} differs from the anchor "
                        f"{anchor[1]} (the log was rewritten after the anchor was taken)"]


def test_verify_refuses_non_records_files(tmp_path: Path) -> None:
    with pytest.raises(RecordsError, match="no records database"):
        verify_audit(tmp_path / "missing.sqlite")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(RecordsError, match="not a dosecraft records database"):
        verify_audit(other)


def test_verify_does_not_modify_the_file(db: Path) -> None:
    before = db.read_bytes()
    verify_audit(db)
    assert db.read_bytes() == before
