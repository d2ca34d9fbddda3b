"""Small dialogs: worksheet facts (operator, lot, expiry), a compounding run's options and
sending G-code to a printer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from dosecraft_gui import settings


class WorksheetDialog(QDialog):
    """Ask for what the worksheet needs beyond the result: who, which lot, its expiry."""

    def __init__(self, formulation: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compounding worksheet")
        form = QFormLayout(self)
        self.operator = QLineEdit(str(settings.get("worksheet/operator", "")))
        self.operator.setPlaceholderText("your name (required)")
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("lot of the loaded material (recommended)")
        # No suggested date: the expiry is typed off the lot's label, never invented
        self.expiry = QLineEdit()
        self.expiry.setPlaceholderText("YYYY-MM-DD, from the lot label (with a lot)")
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #b3261e;")
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.form = form
        self.heading = QLabel(f"Formulation <b>{formulation}</b>")
        form.addRow(self.heading)
        form.addRow("Operator", self.operator)
        form.addRow("Formulation lot", self.lot)
        form.addRow("Lot expiry", self.expiry)
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _refuse(self, field: QWidget, reason: str) -> None:
        field.setFocus()
        field.setStyleSheet("border: 1px solid #b3261e;")
        self.problem.setText(reason)
        self.problem.show()

    def _accept(self) -> None:
        if not self.operator.text().strip():
            self._refuse(self.operator, "Enter the operator's name.")
            return
        text = self.expiry.text().strip()
        if text and self._expiry() is None:
            self._refuse(self.expiry, f"'{text}' is not a date; write it as YYYY-MM-DD.")
            return
        if self.lot.text().strip() and self._expiry() is None:
            # a lot without its expiry would print as "in date"
            self._refuse(self.expiry, "Enter the lot's expiry from its label (YYYY-MM-DD).")
            return
        settings.put("worksheet/operator", self.operator.text().strip())
        self.accept()

    def _expiry(self) -> dt.date | None:
        try:
            return dt.date.fromisoformat(self.expiry.text().strip())
        except ValueError:
            return None

    def values(self) -> dict[str, Any]:
        """operator, lot and expiry (a `datetime.date`, None when not entered)."""
        return {"operator": self.operator.text().strip(), "lot": self.lot.text().strip(),
                "expiry": self._expiry()}


class CompoundDialog(WorksheetDialog):
    """A compounding run of a prescriptions file: output folder, operator, lot and expiry
    (one lot for every formulation, as ``dosecraft batch --lot``), release curves."""

    def __init__(self, source: str, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.setWindowTitle("Compound the batch")
        self.heading.setText(f"Prescriptions <b>{source}</b>: G-code, plates, worksheet, "
                             "labels (with a lot) and records")
        self.setMinimumWidth(560)
        self.folder = QLineEdit(str(settings.get("compound/folder", "")))
        self.folder.setPlaceholderText("output folder (created if missing, inside an "
                                       "existing one)")
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        line = QHBoxLayout()
        line.addWidget(self.folder, 1)
        line.addWidget(browse)
        self.form.insertRow(1, "Output folder", line)
        self.release = QCheckBox("Estimate release curves (slower)")
        self.release.setChecked(True)
        self.form.insertRow(self.form.rowCount() - 1, self.release)
        self.lot.setToolTip("One lot for every formulation of the file; for a lot per "
                            "formulation use `dosecraft batch --lot FORMULATION=LOT`")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", settings.last_dir())
        if folder:
            self.folder.setText(folder)

    def _accept(self) -> None:
        out = Path(self.folder.text().strip()).expanduser()
        # a relative path would land in the app's working folder, which nobody sees
        if (not self.folder.text().strip() or not out.is_absolute()
                or not out.parent.is_dir() or out.is_file()):
            # a typo'd path must not scatter files somewhere else
            self._refuse(self.folder, "Choose a folder as a full path, or a new one inside "
                                      "an existing folder.")
            return
        settings.put("compound/folder", str(out))
        super()._accept()

    def values(self) -> dict[str, Any]:
        """operator, lot, expiry (see `WorksheetDialog`), out_dir (a Path) and release."""
        return {**super().values(), "out_dir": Path(self.folder.text().strip()).expanduser(),
                "release": self.release.isChecked()}


class SendDialog(QDialog):
    """Pick a registered printer (sliced for this profile) and whether to start printing."""

    def __init__(self, printers: Mapping[str, Any], profile: str, formulation: str,
                 plates: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to printer")
        form = QFormLayout(self)
        self.printer = QComboBox()
        for name, p in printers.items():
            fits = p.profile == profile and p.may_print(formulation)
            self.printer.addItem(f"{name} ({p.kind}, {p.url})" + ("" if fits else
                                 " — not set up for this profile/formulation"), name)
            if not fits:
                # A plate sliced for another profile would print the wrong dose.
                self.printer.model().item(self.printer.count() - 1).setEnabled(False)
        self.start = QCheckBox("Start printing after the upload")
        form.addRow(QLabel(f"{plates} plate(s) sliced for <b>{profile}</b>"))
        form.addRow("Printer", self.printer)
        form.addRow(self.start)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        enabled = [i for i in range(self.printer.count())
                   if self.printer.model().item(i).isEnabled()]
        if enabled:
            self.printer.setCurrentIndex(enabled[0])
        buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(enabled))

    def values(self) -> tuple[str, bool]:
        """(printer name, start)."""
        return str(self.printer.currentData()), self.start.isChecked()
