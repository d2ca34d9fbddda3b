"""Main window: designer tab (form, 3D preview, dose check, release) and batch tab."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import JobResult, Stage
from dosecraft_gui import __version__, settings, validation
from dosecraft_gui.actions import Actions
from dosecraft_gui.document import Document
from dosecraft_gui.panels.batch import BatchPanel
from dosecraft_gui.panels.dosecheck import DoseCheckPanel
from dosecraft_gui.panels.prescription import PrescriptionPanel
from dosecraft_gui.panels.release import ReleasePanel
from dosecraft_gui.view3d import Preview3D

#: Wait this long after the last keystroke before an automatic recompute.
AUTO_DELAY_MS = 700
#: The prescription shown on first start and in screenshots without --rx. Shape and infill
#: are left to dosecraft (a pre-filled choice would cap every dose the user types).
DEFAULT_RX: dict[str, str] = {
    "rx_id": "RX-DEMO-0001", "patient_ref": "PT-DEMO", "drug": "paracetamol",
    "dose_mg": "60", "formulation": "paracetamol_pva_fdm", "printer": "generic_fdm_175",
    "shape": "", "release": "immediate", "infill": "", "quantity": "10",
}
STAGE_WORDS = {Stage.DESIGN: "designing", Stage.TOOLPATH: "slicing",
               Stage.GCODE: "writing G-code", Stage.RELEASE: "estimating release"}


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(2, 2, 2, 2)
    label = QLabel(f"<b>{title}</b>")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box


class MainWindow(QMainWindow):
    """The dosecraft desktop window; `document` holds the state, panels display it."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"dosecraft {__version__} — tablet designer")
        self.document = Document(self)
        #: Save geometry and the form on close (off for screenshots and tests).
        self.persist = True
        self.form = PrescriptionPanel()
        self.preview = Preview3D()
        self.dose = DoseCheckPanel()
        self.release = ReleasePanel()
        self.batch = BatchPanel()

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(_titled("3D preview — tablet and toolpath", self.preview))
        centre.addWidget(_titled("Release", self.release))
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 2)
        self.designer = QSplitter(Qt.Orientation.Horizontal)
        self.designer.splitterMoved.connect(self._splitter_moved)
        # the form and the dose check keep readable widths; the 3D view and plot give way
        self.form.setMinimumWidth(290)
        self.dose.setMinimumWidth(280)
        self.designer.setChildrenCollapsible(False)
        self.designer.addWidget(_titled("Prescription", self.form))
        self.designer.addWidget(centre)
        self.designer.addWidget(_titled("Dose check", self.dose))
        for index, stretch in enumerate((0, 1, 0)):
            self.designer.setStretchFactor(index, stretch)
        self._sized = False
        self.centre = centre
        self.tabs = QTabWidget()
        self.tabs.addTab(self.designer, "Designer")
        self.tabs.addTab(self.batch, "Batch")
        self.setCentralWidget(self.tabs)

        self.busy_bar = QProgressBar()
        self.busy_bar.setMaximumWidth(180)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.hide()
        self.statusBar().addPermanentWidget(self.busy_bar)

        self.auto_timer = QTimer(self)
        self.auto_timer.setSingleShot(True)
        self.auto_timer.setInterval(AUTO_DELAY_MS)
        self.auto_timer.timeout.connect(self._auto_compute)

        self.actions = Actions(self)
        self.actions.build_menus()
        self._connect()
        self._restore()
        self.result_changed(None)

    # -- wiring -------------------------------------------------------------------------

    def _connect(self) -> None:
        doc = self.document
        doc.busy_changed.connect(self._busy)
        doc.progress.connect(self._progress)
        doc.result_changed.connect(self.result_changed)
        doc.crashed.connect(self._crashed)
        self.form.compute_requested.connect(self.compute)
        self.form.edited.connect(self._edited)
        self.form.auto_update.toggled.connect(self._auto_toggled)
        self.batch.open_in_designer.connect(self.open_from_batch)
        self.actions.compute.setShortcut(QKeySequence("Ctrl+R"))

    def _restore(self) -> None:
        geometry = settings.get("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 1000)
        state = settings.get("window/designer")
        if isinstance(state, QByteArray):
            self._sized = self.designer.restoreState(state)
        self.form.auto_update.setChecked(bool(settings.get("designer/auto", True, bool)))
        last = settings.get("designer/last_rx")
        self.form.set_raw(last if isinstance(last, dict) else DEFAULT_RX)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._sized:
            self.fit_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if not self._sized and self.isVisible():
            self.fit_columns()

    def fit_columns(self) -> None:
        """Share the width: the form and dose check get what their text needs, and the
        3D view and plot the rest (until the user drags a splitter)."""
        width = max(self.designer.width(), 900)
        left = int(min(max(0.29 * width, 330), 480))
        right = int(min(max(0.25 * width, 330), 420))
        self.designer.setSizes([left, width - left - right, right])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.persist:
            settings.put("window/geometry", self.saveGeometry())
            settings.put("window/designer", self.designer.saveState())
            settings.put("designer/last_rx", self.form.raw())
        self.document.cancel()
        self.batch.cancel()
        self.preview.close_plotter()
        super().closeEvent(event)

    def _splitter_moved(self) -> None:
        self._sized = True  # the user's layout wins from now on

    # -- computing ----------------------------------------------------------------------

    def compute(self) -> Stage | None | bool:
        """Validate the form and compute it; False (nothing computed) when invalid.

        Returns
        -------
        The stage the job starts at, None when the cached result answers, False when the
        form is invalid.
        """
        self.auto_timer.stop()
        rx = self.form.prescription()
        if rx is None:
            self.dose.show_invalid()
            self.statusBar().showMessage("The prescription has errors; nothing was computed")
            return False
        stage = self.document.request(rx)
        if stage is Stage.GCODE:
            self.statusBar().showMessage("Only G-code settings changed: re-writing the G-code "
                                         "(design, toolpath and release kept)")
        return stage

    def _edited(self) -> None:
        if self.current_result() is not None:  # edited back to what was computed
            self.dose.show_result(self.document.result)
        elif self.document.result is not None:
            self.dose.show_stale()
        self.actions.update_enabled()
        if self.form.auto_update.isChecked():
            self.auto_timer.start()

    def _auto_toggled(self, on: bool) -> None:
        if self.persist:
            settings.put("designer/auto", on)
        if not on:
            self.auto_timer.stop()

    def _auto_compute(self) -> None:
        if not self.form.auto_update.isChecked():
            return
        if self.form.prescription() is not None:
            self.compute()
        else:
            self.dose.show_invalid()

    def _busy(self, busy: bool) -> None:
        self.actions.update_enabled()
        self.busy_bar.setVisible(busy)
        self.form.compute_button.setText("Computing…" if busy else "Compute")
        if not busy:
            self.statusBar().clearMessage()

    def _progress(self, stage: int, message: str) -> None:
        self.dose.show_busy(STAGE_WORDS.get(Stage(stage), message))
        self.statusBar().showMessage(f"{Stage(stage).name.title()}: {message}")

    def _crashed(self, trace: str) -> None:
        self.dose.show_crash()
        QMessageBox.critical(self, "Internal error", "The computation failed with an "
                             f"internal error. Please report it.\n\n{trace}")

    def current_result(self) -> JobResult | None:
        """The shown result when it is successful, no job runs, and it was computed for
        exactly the prescription in the form; otherwise None."""
        result = self.document.result
        if result is None or not result.ok or self.document.busy:
            return None
        try:  # quietly: the form shows its errors when it is computed, not on each key
            rx = validation.validate(self.form.raw())
        except validation.PrescriptionErrors:
            return None
        return result if rx == result.prescription else None

    def result_changed(self, result: JobResult | None) -> None:
        """Show a result in every panel and enable what it allows."""
        self.actions.update_enabled()
        if result is None:
            return
        self.preview.set_result(result)
        self.dose.show_result(result)
        self.release.set_estimate(result.release, result.rx_id,
                                  result.prescription.formulation)
        self.statusBar().showMessage(
            f"{result.rx_id}: " + ("computed" if result.ok else f"failed — {result.error}"),
            8000)

    # -- opening ------------------------------------------------------------------------

    def open_from_batch(self, rx: Prescription, result: JobResult | None) -> None:
        """Show a batch row in the designer (its computed result when there is one)."""
        self.form.blockSignals(True)
        self.form.set_prescription(rx)
        self.form.blockSignals(False)
        self.tabs.setCurrentWidget(self.designer)
        if result is not None:
            self.document.adopt(result)
        else:
            self.compute()
