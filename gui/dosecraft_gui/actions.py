"""The main window's actions: prescription files, recent files, exports, send to printer."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolBar

from dosecraft.errors import DosecraftError
from dosecraft.pipeline import JobResult
from dosecraft.records import default_records_path
from dosecraft.records.db import default_actor
from dosecraft_gui import __version__, export, settings, validation
from dosecraft_gui.dialogs import SendDialog, WorksheetDialog
from dosecraft_gui.jobs import calibration_changed
from dosecraft_gui.worker import Worker, start

if TYPE_CHECKING:
    from dosecraft_gui.mainwindow import MainWindow

JSON_FILTER = "Prescription (*.json);;All files (*)"

try:  # the printers package is optional until it ships with the core
    from dosecraft.printers import load_registry, send_gcode
except ImportError:  # pragma: no cover - depends on the installed core
    load_registry = send_gcode = None  # type: ignore[assignment]


class Actions:
    """Builds the menus and toolbar of `window` and implements their commands."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.open = QAction("Open prescription…", window, shortcut=QKeySequence.Open)
        self.save = QAction("Save prescription…", window, shortcut=QKeySequence.Save)
        self.compute = QAction("Compute", window)
        self.gcode = QAction("Export G-code…", window)
        self.stl = QAction("Export STL…", window)
        self.threemf = QAction("Export 3MF…", window)
        self.worksheet = QAction("Worksheet PDF…", window)
        self.send = QAction("Send to printer…", window) if send_gcode is not None else None
        self.open_batch = QAction("Open batch file…", window)
        self.quit = QAction("Quit", window, shortcut=QKeySequence.Quit)
        self.open.triggered.connect(self.ask_open)
        self.save.triggered.connect(self.ask_save)
        self.compute.triggered.connect(window.compute)
        self.gcode.triggered.connect(self.export_gcode)
        self.stl.triggered.connect(lambda: self.export_mesh("stl"))
        self.threemf.triggered.connect(lambda: self.export_mesh("3mf"))
        self.worksheet.triggered.connect(self.export_worksheet)
        self.open_batch.triggered.connect(self._open_batch)
        self.quit.triggered.connect(window.close)
        if self.send is not None:
            self.send.triggered.connect(self.send_to_printer)
        self.result_actions = [a for a in (self.gcode, self.stl, self.threemf, self.worksheet,
                                           self.send) if a is not None]
        self.recent_menu = QMenu("Open recent")
        self._send_worker: Worker | None = None

    def build_menus(self) -> None:
        bar = self.w.menuBar()
        file = bar.addMenu("&File")
        file.addAction(self.open)
        file.addMenu(self.recent_menu)
        file.addAction(self.save)
        file.addSeparator()
        for a in self.result_actions:
            file.addAction(a)
        file.addSeparator()
        file.addAction(self.open_batch)
        file.addSeparator()
        file.addAction(self.quit)
        bar.addMenu("&Help").addAction("About dosecraft", self._about)
        tools = QToolBar("Main")
        tools.setObjectName("main_toolbar")
        tools.setMovable(False)
        for a in (self.open, self.save, None, self.compute, None, *self.result_actions):
            tools.addSeparator() if a is None else tools.addAction(a)
        self.w.addToolBar(tools)
        self.recent_menu.aboutToShow.connect(self._fill_recent)

    def update_enabled(self) -> None:
        """Exports need a successful result of exactly the form's prescription, with no
        job running (a file must never hold another dose than the form shows)."""
        ok = self.w.current_result() is not None
        for a in self.result_actions:
            a.setEnabled(ok)

    # -- prescription files -------------------------------------------------------------

    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open prescription", settings.last_dir(),
                                              JSON_FILTER)
        if path:
            self.open_prescription(path)

    def open_prescription(self, path: str, compute: bool = True) -> bool:
        """Fill the form from a JSON file (and compute it, if `compute` and valid)."""
        try:
            raw = validation.load_json(path)
        except ValueError as exc:
            QMessageBox.warning(self.w, "Cannot open the prescription", str(exc))
            return False
        self.w.form.set_raw(raw)
        self.w.document.path = path
        if self.w.persist:
            settings.add_recent("prescription", path)
        self.w.setWindowTitle(f"dosecraft {__version__} — {Path(path).name}")
        if compute:
            self.w.compute()
        return True

    def ask_save(self) -> None:
        rx = self.w.form.prescription()
        if rx is None:
            QMessageBox.warning(self.w, "Cannot save", "The prescription has errors; fix the "
                                "fields marked in red first.")
            return
        start_dir = self.w.document.path or str(Path(settings.last_dir()) / f"{rx.rx_id}.json")
        path, _ = QFileDialog.getSaveFileName(self.w, "Save prescription", start_dir,
                                              JSON_FILTER)
        if path:
            validation.save_json(path, rx)
            self.w.document.path = path
            settings.add_recent("prescription", path)
            self.w.statusBar().showMessage(f"Saved {path}", 5000)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = settings.recent_files("prescription")
        for path in files:
            self.recent_menu.addAction(Path(path).name,
                                       lambda p=path: self.open_prescription(p))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _open_batch(self) -> None:
        self.w.tabs.setCurrentWidget(self.w.batch)
        self.w.batch._ask_open()

    # -- exports ------------------------------------------------------------------------

    def _result(self) -> JobResult | None:
        """The result to export, or None (and why) when it is not the form's."""
        r = self.w.current_result()
        if r is not None and calibration_changed(r, r.prescription):
            QMessageBox.information(
                self.w, "Compute again", "The printer × formulation calibration changed since "
                "this tablet was computed. Press Compute, and export the new tablet.")
            return None
        if r is None and self.w.document.result is not None:
            QMessageBox.information(
                self.w, "Compute first", "The figures shown are not for the prescription in "
                "the form (it changed, is incomplete, or is being computed). Press Compute "
                "and export when the dose check has passed.")
        return r

    def _save_path(self, title: str, name: str, filt: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self.w, title, str(Path(settings.last_dir())
                                                                  / name), filt)
        if path:
            settings.put("last_dir", str(Path(path).parent))
        return path

    def _done(self, paths: list[Path]) -> None:
        self.w.statusBar().showMessage("Wrote " + ", ".join(str(p) for p in paths), 8000)

    def _guard(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            self._done(fn(*args))
        except (export.ExportError, OSError, ValueError) as exc:
            QMessageBox.warning(self.w, "Export failed", str(exc))

    def export_gcode(self) -> None:
        r = self._result()
        if r is None:
            return
        path = self._save_path("Export G-code", f"{r.rx_id}.gcode", "G-code (*.gcode)")
        if path:
            # a printable file goes into the compounding records, as a batch's would
            operator = str(settings.get("worksheet/operator", "")) or default_actor()
            self._guard(export.export_gcode, r, path, default_records_path(), operator)

    def export_mesh(self, kind: str) -> None:
        r = self._result()
        if r is None:
            return
        path = self._save_path(f"Export {kind.upper()}", f"{r.rx_id}.{kind}",
                               f"{kind.upper()} (*.{kind})")
        if path:
            self._guard(lambda: [export.export_mesh(r, path)])

    def export_worksheet(self) -> None:
        r = self._result()
        if r is None:
            return
        dialog = WorksheetDialog(r.prescription.formulation, self.w)
        if not dialog.exec():
            return
        v = dialog.values()
        path = self._save_path("Compounding worksheet", f"{r.rx_id}_worksheet.pdf",
                               "PDF (*.pdf)")
        if not path:
            return
        source = Path(self.w.document.path).name if self.w.document.path else ""

        def write() -> list[Path]:
            info = export.batch_info(r, v["operator"], v["lot"], v["expiry"], source)
            return [export.export_worksheet(r, path, info)]

        self._guard(write)

    # -- printers -----------------------------------------------------------------------

    def send_to_printer(self) -> None:
        r = self._result()
        if r is None or load_registry is None or send_gcode is None:
            return
        try:
            registry = load_registry()
        except Exception as exc:  # RegistryError: a broken printers.toml
            QMessageBox.warning(self.w, "Printers", str(exc))
            return
        if not registry:
            QMessageBox.information(self.w, "No printers registered",
                                    "Register a printer first, with `dosecraft printers add` "
                                    "or in printers.toml in your dosecraft config folder.")
            return
        dialog = SendDialog(registry, r.prescription.printer, r.prescription.formulation,
                            len(r.plates), self.w)
        if not dialog.exec():
            return
        name, start_print = dialog.values()
        printer = registry[name]
        folder = Path(tempfile.mkdtemp(prefix="dosecraft-send-"))

        operator = str(settings.get("worksheet/operator", "")) or default_actor()

        def task(progress, cancelled):  # type: ignore[no-untyped-def]
            # what reaches a printer is in the records first, as an exported file is
            try:
                files = export.export_gcode(r, folder / f"{r.rx_id}.gcode",
                                            default_records_path(), operator)
            except export.ExportError as exc:
                return exc, []
            statuses = []
            for k, f in enumerate(files):
                progress(k, f"uploading {f.name}")
                # Only the first plate can start; the others wait on the printer.
                try:
                    statuses.append(send_gcode(printer, f, start=start_print and k == 0))
                except DosecraftError as exc:  # offline, refused, ...: say so, plainly
                    return exc, statuses
            return None, statuses

        def finished(outcome) -> None:  # type: ignore[no-untyped-def]
            error, st = outcome
            sent = f"Sent {len(st)} plate(s) to {name}" + (f": {st[-1].state}" if st else "")
            if error is None:
                QMessageBox.information(self.w, "Sent", sent)
            else:
                QMessageBox.warning(self.w, "Send failed", str(error)
                                    + (f"\n\n{sent} before this." if st else ""))

        worker = Worker(task)
        worker.signals.finished.connect(finished)
        worker.signals.failed.connect(
            lambda tb: QMessageBox.warning(self.w, "Send failed", tb.strip().splitlines()[-1]))
        self._send_worker = worker
        start(worker)

    def _about(self) -> None:
        QMessageBox.about(self.w, "About dosecraft",
                          f"dosecraft {__version__}\nDesign, slice and verify patient-specific "
                          "3D-printed tablets with the dose exact in the G-code.")
