"""G-code written outside a batch (`design -o`, the app) is recorded as a batch of one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from dosecraft.cli.main import app
from dosecraft.records import RecordStore, verify_audit

runner = CliRunner()
RX = ["--drug", "paracetamol", "--dose-mg", "60", "--formulation", "paracetamol_pva_fdm",
      "--printer", "generic_fdm_175", "--quantity", "2"]


def _batches(records: Path) -> list[dict]:
    store = RecordStore(records)
    try:
        return [store.batch_report(b["id"]) for b in store.list_batches()]
    finally:
        store.close()


def test_design_gcode_is_recorded_once_with_its_hash(tmp_path: Path) -> None:
    records, out = tmp_path / "records.sqlite", tmp_path / "t.gcode"
    args = ["design", *RX, "-o", str(out), "--records", str(records), "--operator", "A. P."]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, args)  # the same tablet again: the same batch
    assert again.exit_code == 0, again.output
    (report,) = _batches(records)
    assert report["batch"]["operator"] == "A. P."
    assert report["batch"]["options"]["kind"] == "single"
    gcode = [o for rx in report["prescriptions"] for o in rx["outputs"] if o["kind"] == "gcode"]
    assert [o["path"] for o in gcode] == ["t.gcode"]
    assert gcode[0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"batch {report['batch']['id']}" in first.output
    assert verify_audit(records).ok


def test_when_the_records_refuse_no_gcode_is_left(tmp_path: Path) -> None:
    # a records path under a regular file: nothing calibrated to read, nowhere to write
    (tmp_path / "block").write_text("a file, not a folder")
    records, out = tmp_path / "block" / "records.sqlite", tmp_path / "t.gcode"
    run = runner.invoke(app, ["design", *RX, "-o", str(out), "--records", str(records)])
    assert run.exit_code == 1
    assert "records:" in run.output and "no G-code written" in run.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block"]
