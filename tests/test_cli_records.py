"""``dosecraft records list|show`` and ``dosecraft audit verify`` on a real SQLite file,
including a log tampered with raw sqlite3 (trigger dropped, entry edited or deleted)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dosecraft.cli import app
from dosecraft.records import RecordStore

runner = CliRunner()


@pytest.fixture
def records(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "records.sqlite"
    with RecordStore(path, actor="tester") as store:
        bid = store.start_batch("rx.csv", operator="tester", source_sha256="a" * 64,
                                formulation_lot="L9", options={"release": False})
        for i in (1, 2):
            store.record_prescription(bid, {
                "row": i, "rx_id": f"RX-{i}", "status": "ok", "drug": "paracetamol",
                "target_dose_mg": 100.0, "quantity": 10, "formulation": "paracetamol_pva_fdm",
                "printer": "generic_fdm_175", "design": {"shape": "cylinder", "mass_mg": 1000.0}},
                patient_ref=f"MRN-{i}")
            store.record_output(bid, f"RX-{i}", "gcode", f"gcode/RX-{i}.gcode",
                                hashlib.sha256(str(i).encode()).hexdigest(), 1234)
        store.record_qc(bid, method="USP905", rx_id="RX-1", acceptance_value=3.2, passed=True)
        store.finish_batch(bid)
    return path, bid


def test_list_and_show(records: tuple[Path, str]) -> None:
    path, bid = records
    listed = runner.invoke(app, ["records", "list", "--records", str(path)])
    assert listed.exit_code == 0 and bid in listed.output and "L9" in listed.output
    as_json = runner.invoke(app, ["records", "list", "--records", str(path), "--json"])
    assert json.loads(as_json.output)[0]["id"] == bid
    shown = runner.invoke(app, ["records", "show", bid[:6], "--records", str(path)])
    assert shown.exit_code == 0, shown.output
    for needle in ("RX-1", "RX-2", "gcode/RX-1.gcode", "USP905", "audit head"):
        assert needle in shown.output
    data = json.loads(runner.invoke(app, ["records", "show", bid, "--records", str(path),
                                          "--json"]).output)
    assert [p["rx_id"] for p in data["prescriptions"]] == ["RX-1", "RX-2"]
    assert data["prescriptions"][0]["qc"][0]["acceptance_value"] == 3.2
    assert "MRN-1" not in json.dumps(data)  # only the pseudonym is stored
    unknown = runner.invoke(app, ["records", "show", "ffff", "--records", str(path)])
    assert unknown.exit_code == 2 and "no batch 'ffff'" in unknown.output
    missing = runner.invoke(app, ["records", "list", "--records", str(path.with_name("x"))])
    assert missing.exit_code == 2 and "no records database" in missing.output


def test_verify_clean_and_with_anchor(records: tuple[Path, str]) -> None:
    path, _ = records
    ok = runner.invoke(app, ["audit", "verify", "--records", str(path)])
    assert ok.exit_code == 0 and "intact" in ok.output
    with RecordStore(path) as store:
        seq, digest = store.audit_head()
    anchored = runner.invoke(app, ["audit", "verify", "--records", str(path), "--anchor",
                                   f"{seq}:{digest}"])
    assert anchored.exit_code == 0, anchored.output
    wrong = runner.invoke(app, ["audit", "verify", "--records", str(path), "--anchor",
                                f"{seq}:{'0' * 64}"])
    assert wrong.exit_code == 1 and f"entry seq {seq}" in wrong.output


def _tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        for sql in statements:
            conn.execute(sql)
    conn.close()


def test_edited_entry_is_named(records: tuple[Path, str]) -> None:
    path, bid = records
    with RecordStore(path) as store:
        seq = next(e.seq for e in store.audit_entries(id_prefix=bid)
                   if e.entity_id == f"{bid}/RX-2" and e.action == "prescription.record")
    _tamper(path, "UPDATE audit SET payload = replace(payload, 'paracetamol', 'ibuprofen')"
                  f" WHERE seq = {seq}")
    result = runner.invoke(app, ["audit", "verify", "--records", str(path)])
    assert result.exit_code == 1
    assert f"entry seq {seq}: stored hash does not match its content" in result.output
    assert "trigger audit_no_update is missing" in result.output


def test_deleted_and_reordered_entries_are_named(records: tuple[Path, str],
                                                 tmp_path: Path) -> None:
    path, _ = records
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(path.read_bytes())
    _tamper(path, "DELETE FROM audit WHERE seq = 4")
    result = runner.invoke(app, ["audit", "verify", "--records", str(path)])
    assert result.exit_code == 1 and "seq 4 absent" in result.output
    _tamper(copy, "UPDATE audit SET seq = -seq WHERE seq IN (4, 5)",
            "UPDATE audit SET seq = 5 WHERE seq = -4", "UPDATE audit SET seq = 4 WHERE seq = -5")
    swapped = runner.invoke(app, ["audit", "verify", "--records", str(copy)])
    assert swapped.exit_code == 1 and "reordered" in swapped.output
