"""Crash safety: a batch killed with SIGKILL mid-run and started again finishes every
prescription exactly once, keeps what was finished, leaves no temp file, and its records
and audit log stay consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from dosecraft.model.prescription import PRESCRIPTION_COLUMNS

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
N = 24
CLI = [sys.executable, "-c", "from dosecraft.cli import app; app()"]


def _csv(path: Path) -> Path:
    rows = []
    for i in range(N):
        if i % 2:
            rows.append(f"K-{i:02d},PK-{i:02d},hydrocortisone,{2.0 + 0.1 * i:.1f},,,11,"
                        "hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,2")
        else:
            rows.append(f"K-{i:02d},PK-{i:02d},propranolol,{4.0 + 0.1 * i:.1f},,,9,"
                        "propranolol_gel_sse,generic_sse_syringe,caplet,,,,2")
    path.write_text(",".join(PRESCRIPTION_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    return path


def _state(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (out / "rows").glob("*.json")} | {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (out / "gcode").glob("*.gcode")}


def test_sigkill_then_rerun_completes_exactly_once(tmp_path: Path) -> None:
    src, out, records = _csv(tmp_path / "rx.csv"), tmp_path / "out", tmp_path / "rec.sqlite"
    args = [*CLI, "batch", str(src), "--out", str(out), "--records", str(records),
            "--workers", "1", "--no-release", "--quiet", "--operator", "tester"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(list((out / "rows").glob("*.json"))) < 4:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "batch made no progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {k: v for k, v in _state(out).items() if k.startswith("rows/")}
    done_before = {Path(k).stem for k in before}
    assert 4 <= len(done_before) < N, "the kill came too late to test anything"
    kept = {k: v for k, v in _state(out).items()
            if Path(k).stem in done_before}  # their row files and G-code

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr

    gcode = sorted(p.name for p in (out / "gcode").iterdir())
    assert gcode == [f"K-{i:02d}.gcode" for i in range(N)]
    assert len(list((out / "rows").glob("*.json"))) == N
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    after = _state(out)
    assert {k: after[k] for k in kept} == kept, "finished prescriptions were redone"
    assert (out / "worksheet.pdf").is_file() and (out / "batch.json").is_file()

    with sqlite3.connect(records) as conn:
        actions = conn.execute("SELECT action, entity_id FROM audit").fetchall()
        rows = conn.execute("SELECT rx_id, status FROM prescriptions").fetchall()
    recorded = Counter(eid.split("/", 1)[1] for action, eid in actions
                       if action == "prescription.record")
    assert recorded == Counter({f"K-{i:02d}": 1 for i in range(N)})
    assert not [a for a, _ in actions if a in ("prescription.update", "output.update")]
    outputs = Counter(eid for action, eid in actions if action.startswith("output."))
    assert max(outputs.values()) == 1
    assert sorted(rows) == [(f"K-{i:02d}", "ok") for i in range(N)]
    verify = subprocess.run([*CLI, "audit", "verify", "--records", str(records)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
