"""Batch tab: open a prescriptions file, run it row by row with progress and cancel, or
compound it.

Rows are read with `read_prescriptions`. "Run batch" sends each valid one through `run_job`
in a worker thread, one after the other, so every row reports as it finishes and a cancel
stops between rows (a check of the file; nothing is written). "Compound…" runs the file
through the batch runner, exactly as ``dosecraft batch``: G-code per prescription and per
plate, worksheet, labels and the compounding records, in a folder the pharmacist picks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dosecraft.errors import DosecraftError
from dosecraft.io.prescriptions import RowResult, read_prescriptions
from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import JobCancelled, JobResult
from dosecraft.profiles import list_profiles
from dosecraft_gui import settings
from dosecraft_gui.dialogs import CompoundDialog
from dosecraft_gui.jobs import run_prescription
from dosecraft_gui.numbers import signed
from dosecraft_gui.worker import Worker, start

COLUMNS = ("Row", "Rx ID", "Drug", "Target (mg)", "Status", "Dose error (%)", "Dose check",
           "t80 (min)", "Message")
COL = {name: i for i, name in enumerate(COLUMNS)}
FILE_FILTER = "Prescriptions (*.csv *.json);;All files (*)"
GREEN, RED, GREY = QColor("#1b7f3b"), QColor("#b3261e"), QColor("#6b7280")


def _file_sha256(path: str) -> str | None:
    """SHA-256 of the file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class BatchPanel(QWidget):
    """The batch tab.

    Signals
    -------
    open_in_designer(object, object) : (Prescription, JobResult or None) of a double-clicked
        row.
    finished() : a run ended (completed or cancelled).
    """

    open_in_designer = Signal(object, object)
    finished = Signal()

    def __init__(self, parent: QWidget | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.path: str | None = None
        self.opened_sha256: str | None = None
        self.rows: list[RowResult] = []
        self.results: dict[int, JobResult] = {}
        self.worker: Worker | None = None
        #: the summary of the last compounding run (tests and the status line read it)
        self.last_summary: object | None = None

        self.open_button = QPushButton("Open CSV/JSON…")
        self.run_button = QPushButton("Run batch")
        self.run_button.setToolTip("Design and verify every row here (nothing is written)")
        self.compound_button = QPushButton("Compound…")
        self.compound_button.setToolTip(
            "Make the batch as `dosecraft batch` does: G-code per prescription and plates, "
            "worksheet, labels and the compounding records, in a folder you choose")
        self.cancel_button = QPushButton("Cancel")
        self.open_button.clicked.connect(self._ask_open)
        self.run_button.clicked.connect(self.run)
        self.compound_button.clicked.connect(self._ask_compound)
        self.cancel_button.clicked.connect(self.cancel)
        self.file_label = QLabel("No file open")
        # FHIR MedicationRequests rarely name a printer profile: this one prints them (the
        # CLI's --printer); rows of CSV/JSON files name their own
        self.default_printer = QComboBox()
        self.default_printer.addItem("FHIR printer: none", None)
        for profile in list_profiles(strict=False):
            self.default_printer.addItem(f"FHIR printer: {profile.name}", profile.id)
        self.default_printer.setToolTip("Printer profile for FHIR requests that name none")
        self.default_printer.currentIndexChanged.connect(self._printer_changed)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m rows")
        self.summary = QLabel()
        top = QHBoxLayout()
        for w in (self.open_button, self.file_label, self.default_printer):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.run_button, self.compound_button, self.cancel_button):
            top.addWidget(w)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL["Message"], QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.table.setToolTip("Double-click a row to open it in the designer")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self._set_running(False)

    # -- file ---------------------------------------------------------------------------

    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open prescriptions", settings.last_dir(),
                                              FILE_FILTER)
        if path:
            self.open(path)

    def open(self, path: str) -> bool:
        """Read a prescriptions file into the table; False (with a message) if unreadable."""
        if self.worker is not None:
            return False
        try:
            rows = read_prescriptions(path, default_printer=self.default_printer.currentData())
        except Exception as exc:  # PrescriptionFileError and OS errors alike
            QMessageBox.warning(self, "Cannot open the prescriptions file", str(exc))
            return False
        self.path = path
        self.opened_sha256 = _file_sha256(path)
        self.rows = rows
        self.results = {}
        settings.add_recent("batch", path)
        self.file_label.setText(f"<b>{Path(path).name}</b> — {len(rows)} row(s)")
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            rx = r.prescription
            self._set(i, "Row", str(r.row))
            self._set(i, "Rx ID", r.rx_id or "—")
            self._set(i, "Drug", rx.drug if rx else "—")
            self._set(i, "Target (mg)", f"{rx.unit_dose_mg:.3f}" if rx else "—")
            for col in ("Dose error (%)", "Dose check", "t80 (min)"):
                self._set(i, col, "")
            if r.ok:
                self._set(i, "Status", "ready", GREY)
                self._set(i, "Message", "")
            else:
                self._set(i, "Status", "invalid", RED)
                self._set(i, "Message", str(r.error))
        self.progress.setRange(0, sum(1 for r in rows if r.ok))
        self.progress.setValue(0)
        self._summarise()
        self._set_running(False)
        return True

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        """Run every valid row in a worker thread."""
        todo = [(i, r.prescription) for i, r in enumerate(self.rows)
                if r.ok and r.prescription is not None]
        if not todo or self.worker is not None:
            return
        self.results = {}
        self.progress.setRange(0, len(todo))
        self.progress.setValue(0)
        for i, _ in todo:
            self._set(i, "Status", "queued", GREY)

        def task(progress, cancelled):  # type: ignore[no-untyped-def]
            done = 0
            for index, rx in todo:
                if cancelled():
                    break
                progress(index, f"running {rx.rx_id}")
                result = run_prescription(rx, cancel=cancelled)
                worker.emit_item((index, result))
                done += 1
            return done

        worker = Worker(task)
        worker.signals.progress.connect(self._row_started)
        worker.signals.item.connect(self._row_done)
        worker.signals.finished.connect(self._run_finished)
        worker.signals.failed.connect(self._run_crashed)
        self.worker = worker
        self._set_running(True)
        start(worker, self.pool)

    def _printer_changed(self) -> None:
        if self.path is not None and self.worker is None:
            self.open(self.path)  # FHIR rows without a printer now get this one

    def _ask_compound(self) -> None:
        if self.path is None:
            return
        dialog = CompoundDialog(Path(self.path).name, self)
        if dialog.exec():
            self.compound(**dialog.values())

    def compound(self, out_dir: Path, operator: str, lot: str = "",
                 expiry: dt.date | None = None, release: bool = True,
                 records: Path | None = None) -> None:
        """Run the open file as a compounding batch into `out_dir` (in a worker thread);
        `compounded` reports the summary, or the error that stopped the run."""
        if self.path is None or self.worker is not None:
            return
        if _file_sha256(self.path) != self.opened_sha256:
            # the runner reads the file as it is now: show those rows before making them
            self.open(self.path)
            QMessageBox.information(self, "The file changed", "The prescriptions file "
                                    "changed since it was opened; its current rows are "
                                    "shown now. Check them, then press Compound… again.")
            return
        from dosecraft.batch.lots import Lots
        from dosecraft.batch.runner import BatchConfig, run_batch
        from dosecraft.records import default_records_path

        source, printer = Path(self.path), self.default_printer.currentData()

        def task(progress, cancelled):  # type: ignore[no-untyped-def]
            try:
                lots = Lots.parse([lot], [expiry.isoformat()]) if lot and expiry else Lots()
                config = BatchConfig(source=source, out_dir=out_dir, release=release,
                                     records=records or default_records_path(),
                                     operator=operator, lots=lots,
                                     default_printer=printer)
                return run_batch(config, on_progress=lambda phase, done, total: progress(
                    done, f"{phase}: {done} / {total}"))
            except DosecraftError as exc:  # unreadable file, expired lot, locked folder…
                return exc

        worker = Worker(task)
        worker.signals.progress.connect(
            lambda done, message: self.summary.setText(f"Compounding… {message}"))
        worker.signals.finished.connect(self._compound_finished)
        worker.signals.failed.connect(self._run_crashed)
        self.worker = worker
        self._set_running(True)
        self.cancel_button.setEnabled(False)  # a batch run resumes; it is not cancelled
        self.summary.setText("Compounding…")
        start(worker, self.pool)

    def _compound_finished(self, outcome: object) -> None:
        self.worker = None
        self._set_running(False)
        if isinstance(outcome, DosecraftError):
            self.summary.setText("Compounding stopped")
            QMessageBox.warning(self, "The batch could not run", str(outcome))
        else:
            self.last_summary = outcome
            self._show_summary_rows(outcome.rows)
            files = ", ".join(Path(d.path).name for d in outcome.documents) or "no documents"
            text = (f"Batch {outcome.batch_id}: {outcome.ok} ok, {outcome.failed} failed, "
                    f"{len(outcome.plates)} plate(s) in {outcome.out_dir} ({files}); "
                    f"records: {outcome.records_path or 'not recorded'}")
            self.summary.setText(text)
            # what the CLI prints as "note:" (labels refused, no lot, …) must be seen here
            notes = list(dict.fromkeys(outcome.notes))
            if notes:
                shown = notes[:8] + ([f"… and {len(notes) - 8} more"] if len(notes) > 8 else [])
                QMessageBox.warning(self, "Batch compounded, with notes",
                                    text + "\n\n" + "\n".join(f"• {n}" for n in shown))
            else:
                QMessageBox.information(self, "Batch compounded", text)
        self.finished.emit()

    def _show_summary_rows(self, rows: list[dict[str, Any]]) -> None:
        """Fill the table from the batch's rows (as in batch.json)."""
        index = {r.rx_id: i for i, r in enumerate(self.rows) if r.rx_id}
        for row in rows:
            i = index.get(row.get("rx_id") or "")
            if i is None:
                continue
            ok = row.get("status") == "ok"
            self._set(i, "Status", "ok" if ok else "failed", GREEN if ok else RED)
            check = row.get("dose_check") or {}
            if check.get("gcode_mg") is not None:
                self._set(i, "Dose error (%)", signed(100 * check["relative_error"], 3))
                self._set(i, "Dose check", "PASS" if check["passed"] else "FAIL",
                          GREEN if check["passed"] else RED)
            t80 = (row.get("release") or {}).get("t80_min")
            self._set(i, "t80 (min)", "" if t80 is None else f"{t80:.1f}")
            self._set(i, "Message", row.get("error") or "; ".join(row.get("warnings") or []))

    def cancel(self) -> None:
        """Stop after the running row's current stage."""
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.summary.setText("Cancelling after the current step…")

    def _row_started(self, index: int, message: str) -> None:
        self._set(index, "Status", "running…", GREY)

    def _row_done(self, item: tuple[int, JobResult]) -> None:
        index, result = item
        self.results[index] = result
        cancelled = isinstance(result.error, JobCancelled)
        check = result.dose_check
        if cancelled:
            self._set(index, "Status", "cancelled", GREY)
        else:
            self._set(index, "Status", "ok" if result.ok else "failed",
                      GREEN if result.ok else RED)
        if check is not None and check.gcode_mg is not None:
            self._set(index, "Dose error (%)", signed(100 * check.relative_error, 3))
            self._set(index, "Dose check", "PASS" if check.passed else "FAIL",
                      GREEN if check.passed else RED)
        t80 = result.release.t80_min if result.release is not None else None
        self._set(index, "t80 (min)", "" if t80 is None else f"{t80:.1f}")
        message = str(result.error) if result.error else "; ".join(result.warnings)
        self._set(index, "Message", message)
        self.progress.setValue(len(self.results))
        self._summarise()

    def _run_finished(self, _done: int) -> None:
        for i, r in enumerate(self.rows):
            if r.ok and i not in self.results:
                self._set(i, "Status", "cancelled", GREY)
        self.worker = None
        self._set_running(False)
        self._summarise()
        self.finished.emit()

    def _run_crashed(self, trace: str) -> None:
        self.worker = None
        self._set_running(False)
        QMessageBox.critical(self, "Batch stopped by an internal error", trace)
        self.finished.emit()

    # -- table --------------------------------------------------------------------------

    def _set(self, row: int, column: str, text: str, colour: QColor | None = None) -> None:
        item = QTableWidgetItem(text)
        if column in ("Row", "Target (mg)", "Dose error (%)", "t80 (min)"):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if column == "Message":
            item.setToolTip(text)
        if colour is not None:
            item.setForeground(QBrush(colour))
        self.table.setItem(row, COL[column], item)

    def cell(self, row: int, column: str) -> str:
        """The text of a cell (tests read the table through this)."""
        item = self.table.item(row, COL[column])
        return item.text() if item is not None else ""

    def _summarise(self) -> None:
        ok = sum(1 for r in self.results.values() if r.ok)
        failed = len(self.results) - ok
        invalid = sum(1 for r in self.rows if not r.ok)
        self.summary.setText(f"{ok} ok · {failed} failed · {invalid} invalid · "
                             f"{len(self.rows)} rows")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and any(r.ok for r in self.rows))
        self.compound_button.setEnabled(not running and any(r.ok for r in self.rows))
        self.default_printer.setEnabled(not running)  # the run uses the rows shown
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(not running)

    def _double_clicked(self, row: int, _column: int) -> None:
        if row >= len(self.rows):
            return
        r = self.rows[row]
        if r.prescription is None:
            QMessageBox.information(self, "Invalid row",
                                    f"Row {r.row} cannot be opened: {r.error}")
            return
        rx: Prescription = r.prescription
        self.open_in_designer.emit(rx, self.results.get(row))
