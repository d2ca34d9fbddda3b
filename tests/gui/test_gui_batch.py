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


def test_compound_writes_gcode_documents_and_records(qtbot, window, small_raw,
                                                     tmp_path: Path, monkeypatch) -> None:
    import datetime as dt

    from PySide6.QtWidgets import QMessageBox

    from dosecraft.records import RecordStore

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: shown.append(a[2]))
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))  # with notes
    rows = [dict(small_raw, rx_id="K-1", quantity="2"), dict(small_raw, rx_id="K-2",
                                                             dose_mg="abc")]
    batch = window.batch
    assert batch.open(str(_csv(tmp_path / "k.csv", rows)))
    out, records = tmp_path / "run", tmp_path / "records.sqlite"
    with qtbot.waitSignal(batch.finished, timeout=JOB_TIMEOUT_MS):
        batch.compound(out, "A. Pharmacist", "LOT-9", dt.date(2030, 1, 31), release=False,
                       records=records)
    summary = batch.last_summary
    assert summary is not None and summary.ok == 1 and summary.failed == 1
    assert (out / "gcode" / "K-1.gcode").is_file() and (out / "batch.json").is_file()
    assert (out / "worksheet.pdf").is_file() and (out / "labels.pdf").is_file()
    assert batch.cell(0, "Status") == "ok" and batch.cell(0, "Dose check") == "PASS"
    assert shown and summary.batch_id in shown[0] and str(records) in shown[0]
    store = RecordStore(records)
    try:
        assert store.batch(summary.batch_id)["operator"] == "A. Pharmacist"
    finally:
        store.close()


def test_compound_reports_what_stops_a_run(qtbot, window, small_raw, tmp_path: Path,
                                           monkeypatch) -> None:
    import datetime as dt

    from PySide6.QtWidgets import QMessageBox

    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a[2]))
    batch = window.batch
    assert batch.open(str(_csv(tmp_path / "e.csv", [dict(small_raw, rx_id="E-1")])))
    with qtbot.waitSignal(batch.finished, timeout=JOB_TIMEOUT_MS):
        batch.compound(tmp_path / "run", "A. Pharmacist", "LOT-1", dt.date(2020, 1, 1),
                       release=False, records=tmp_path / "r.sqlite")
    assert warned and "expired" in warned[0]
    assert not (tmp_path / "run").exists()


def test_fhir_requests_print_on_the_chosen_printer(qtbot, window, samples_dir) -> None:
    batch = window.batch
    bundle = str(samples_dir / "fhir" / "good_bundle.json")
    assert batch.open(bundle)
    without = [batch.cell(i, "Status") for i in range(batch.table.rowCount())]
    assert "invalid" in without
    assert "no printer" in " ".join(batch.cell(i, "Message") for i in range(len(without)))
    batch.default_printer.setCurrentIndex(batch.default_printer.findData("generic_fdm_175"))
    with_printer = [batch.cell(i, "Status") for i in range(batch.table.rowCount())]
    assert with_printer.count("invalid") < without.count("invalid")
    assert all(r.prescription.printer == "generic_fdm_175" for r in batch.rows
               if r.prescription is not None and r.prescription.formulation.endswith("fdm"))


def test_compound_rereads_a_file_that_changed_since_it_was_opened(qtbot, window, small_raw,
                                                                  tmp_path: Path,
                                                                  monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: told.append(a[2]))
    batch = window.batch
    path = _csv(tmp_path / "f.csv", [dict(small_raw, rx_id="F-1")])
    assert batch.open(str(path))
    _csv(path, [dict(small_raw, rx_id="F-1", dose_mg="55"), dict(small_raw, rx_id="F-2")])
    batch.compound(tmp_path / "run", "A. Pharmacist", release=False,
                   records=tmp_path / "r.sqlite")
    assert told and "changed since it was opened" in told[0]
    assert batch.worker is None and not (tmp_path / "run").exists()
    assert batch.table.rowCount() == 2 and batch.cell(0, "Target (mg)") == "55.000"


def test_compound_shows_the_batch_notes(qtbot, window, small_raw, tmp_path: Path,
                                        monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a[2]))
    batch = window.batch
    assert batch.open(str(_csv(tmp_path / "n.csv", [dict(small_raw, rx_id="N-1")])))
    with qtbot.waitSignal(batch.finished, timeout=JOB_TIMEOUT_MS):
        batch.compound(tmp_path / "run", "A. Pharmacist", release=False,
                       records=tmp_path / "r.sqlite")  # no lot: no labels
    assert warned and "no formulation lot" in warned[0]
    assert batch.default_printer.isEnabled()  # disabled only while the run goes
