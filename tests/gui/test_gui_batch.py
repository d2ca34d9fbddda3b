"""Batch tab: progress, per-row results, cancel, open a row in the designer (needs Xvfb)."""

from __future__ import annotations

from pathlib import Path

from dosecraft.model.prescription import PRESCRIPTION_COLUMNS

JOB_TIMEOUT_MS = 90_000


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(PRESCRIPTION_COLUMNS)]
    lines += [",".join(r.get(c, "") for c in PRESCRIPTION_COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_batch_and_open_a_row(qtbot, window, small_raw, tmp_path: Path) -> None:
    rows = [dict(small_raw, rx_id="B-1"), dict(small_raw, rx_id="B-2", dose_mg="abc"),
            dict(small_raw, rx_id="B-3", dose_mg="30", quantity="1")]
    batch = window.batch
    assert batch.open(str(_csv(tmp_path / "b.csv", rows)))
    assert batch.cell(1, "Status") == "invalid"
    assert "'abc' is not a number" in batch.cell(1, "Message")
    assert batch.progress.maximum() == 2

    with qtbot.waitSignal(batch.finished, timeout=JOB_TIMEOUT_MS):
        batch.run()
    assert batch.progress.value() == 2
    for i in (0, 2):
        assert batch.cell(i, "Status") == "ok"
        assert batch.cell(i, "Dose check") == "PASS"
        assert abs(float(batch.cell(i, "Dose error (%)"))) < 1.0
        assert float(batch.cell(i, "t80 (min)")) > 0
    assert "1 invalid" in batch.summary.text()

    batch.table.cellDoubleClicked.emit(2, 0)
    assert window.tabs.currentWidget() is window.designer
    assert window.form.raw()["rx_id"] == "B-3"
    assert window.document.result is batch.results[2]  # shown as computed, not re-run
    assert not window.document.busy
    assert "PASSED" in window.dose.verdict


def test_cancel_stops_between_rows(qtbot, window, small_raw, tmp_path: Path) -> None:
    rows = [dict(small_raw, rx_id=f"C-{i}") for i in range(4)]
    batch = window.batch
    assert batch.open(str(_csv(tmp_path / "c.csv", rows)))
    with qtbot.waitSignal(batch.finished, timeout=JOB_TIMEOUT_MS):
        batch.run()
        batch.cancel()
    statuses = [batch.cell(i, "Status") for i in range(4)]
    assert statuses.count("cancelled") >= 3, statuses
    assert batch.run_button.isEnabled() and not batch.cancel_button.isEnabled()
