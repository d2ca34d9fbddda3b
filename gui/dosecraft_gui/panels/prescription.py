"""Prescription panel: a form for every prescription field, with inline validation.

Numbers are typed as text and handed to the core's `parse_row` unchanged, so the
pharmacist sees the core's own messages (e.g. "'5 mg/kg' is a dose per kg; put the number
in dose_mg_per_kg ...") next to the field that caused them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dosecraft.formulary import list_formulations
from dosecraft.model.enums import ReleaseKind, ShapeKind
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.profiles import list_profiles
from dosecraft_gui import validation
from dosecraft_gui.validation import FORM_FIELDS, GENERAL

#: (group title, [(field, label, unit, placeholder)]) in form order.
LAYOUT: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("Prescription", (
        ("rx_id", "Rx ID", "", "e.g. RX-2026-0001"),
        ("patient_ref", "Patient ref.", "", "pseudonym (optional)"),
        ("quantity", "Quantity", "tablets", "1"),
    )),
    ("Drug and dose", (
        ("formulation", "Formulation", "", ""),
        ("drug", "Drug", "", "e.g. paracetamol"),
        ("dose_mg", "Dose per tablet", "mg", "e.g. 100"),
        ("dose_mg_per_kg", "…or dose per kg", "mg/kg", "instead of mg per tablet"),
        ("weight_kg", "Body weight", "kg", "needed with mg/kg"),
        ("age_years", "Age", "years", "optional"),
    )),
    ("Tablet", (
        ("printer", "Printer", "", ""),
        ("shape", "Shape", "", ""),
        ("mesh_path", "Mesh file", "", "STL or 3MF"),
        ("release", "Release", "", ""),
        ("target_t80_min", "Target t80", "min", "optional (80 % released)"),
        ("infill", "Infill", "0.1–1", "automatic"),
    )),
)
LABEL_WIDTH = 100
UNIT_WIDTH = 44
COMBO_FIELDS = ("formulation", "printer", "shape", "release")
#: Item data role marking a combo entry added only to show a file's unknown value.
PLACEHOLDER_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_STYLE = "color: #b3261e; font-size: 11px;"
INVALID_QSS = ("QLineEdit[invalid=\"true\"], QComboBox[invalid=\"true\"] "
               "{ border: 1px solid #b3261e; background: #fdecea; }")


def _formulation_note(f: Formulation) -> str:
    """One line of formulary facts under the picker (data shown, nothing computed)."""
    tech = f.technology.value.upper()
    note = (f"{tech} · {100 * f.drug_loading:g} % w/w {f.drug} · "
            f"{f.min_dose_per_unit_mg:g}–{f.max_dose_per_unit_mg:g} mg per tablet")
    return note + (" · example data" if f.example else "")


class PrescriptionPanel(QScrollArea):
    """The prescription form.

    Signals
    -------
    edited() : any field changed (the shown result is now stale).
    compute_requested() : the pharmacist pressed Compute.
    """

    edited = Signal()
    compute_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.formulations = {f.id: f for f in list_formulations()}
        self.profiles = {p.id: p for p in list_profiles(strict=False)}
        self.inputs: dict[str, QLineEdit | QComboBox] = {}
        self.errors: dict[str, QLabel] = {}
        self._loading = False

        body = QWidget()
        body.setStyleSheet(INVALID_QSS)
        outer = QVBoxLayout(body)
        self.general_error = self._error_label()
        outer.addWidget(self.general_error)
        for title, rows in LAYOUT:
            outer.addWidget(self._group(title, rows))
        self.formulation_note = QLabel()
        self.formulation_note.setWordWrap(True)
        self.formulation_note.setStyleSheet("color: #555; font-size: 11px;")
        self._insert_after("formulation", self.formulation_note)

        buttons = QHBoxLayout()
        self.compute_button = QPushButton("Compute")
        self.compute_button.setDefault(True)
        self.compute_button.setToolTip("Design, slice and verify this prescription (Ctrl+R)")
        self.compute_button.setStyleSheet("font-weight: bold; padding: 6px 18px;")
        self.compute_button.clicked.connect(self.compute_requested)
        self.auto_update = QCheckBox("Update automatically")
        self.auto_update.setToolTip("Recompute a moment after each change to a valid form")
        buttons.addWidget(self.compute_button)
        buttons.addWidget(self.auto_update)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        outer.addStretch(1)
        self.setWidget(body)
        self._fill_choices()
        self._update_dependent()

    # -- building -----------------------------------------------------------------------

    def _error_label(self) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet(ERROR_STYLE)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.hide()
        return label

    def _group(self, title: str, rows: tuple[tuple[str, str, str, str], ...]) -> QGroupBox:
        box = QGroupBox(title)
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        # fixed label and unit columns line the inputs up across the three groups
        grid.setColumnMinimumWidth(0, LABEL_WIDTH)
        grid.setColumnMinimumWidth(2, UNIT_WIDTH)
        grid.setVerticalSpacing(2)
        self._grids = getattr(self, "_grids", {})
        for i, (name, label, unit, placeholder) in enumerate(rows):
            widget: QLineEdit | QComboBox
            if name in COMBO_FIELDS:
                widget = QComboBox()
                widget.currentIndexChanged.connect(self._changed)
            else:
                widget = QLineEdit()
                widget.setPlaceholderText(placeholder)
                widget.textChanged.connect(self._changed)
                widget.returnPressed.connect(self.compute_requested)  # Enter computes
            widget.setObjectName(name)
            widget.setToolTip(f"{name} column of a prescriptions CSV")
            caption = QLabel(label)
            caption.setBuddy(widget)
            row = 3 * i
            grid.addWidget(caption, row, 0)
            if name == "mesh_path":
                line = QHBoxLayout()
                line.addWidget(widget, 1)
                browse = QToolButton()
                browse.setText("…")
                browse.setToolTip("Choose a mesh file")
                browse.clicked.connect(self._browse_mesh)
                self._mesh_browse = browse
                line.addWidget(browse)
                grid.addLayout(line, row, 1, 1, 2)
            else:
                grid.addWidget(widget, row, 1, 1, 1 if unit else 2)
                if unit:
                    grid.addWidget(QLabel(unit), row, 2)
            error = self._error_label()
            grid.addWidget(error, row + 1, 1, 1, 2)
            self.inputs[name] = widget
            self.errors[name] = error
            self._grids[name] = (grid, row, caption)
        return box

    def _insert_after(self, name: str, widget: QWidget) -> None:
        grid, row, _ = self._grids[name]
        grid.addWidget(widget, row + 2, 1, 1, 2)

    def _fill_choices(self) -> None:
        self._loading = True
        form = self.inputs["formulation"]
        for f in self.formulations.values():
            form.addItem(f.name, f.id)
            form.setItemData(form.count() - 1, f"{f.name} ({f.id})", Qt.ItemDataRole.ToolTipRole)
        printer = self.inputs["printer"]
        for p in self.profiles.values():
            printer.addItem(p.name, p.id)
            printer.setItemData(printer.count() - 1, f"{p.name} ({p.id})",
                                Qt.ItemDataRole.ToolTipRole)
        shape = self.inputs["shape"]
        shape.addItem("automatic (formulation default)", "")
        for kind in ShapeKind:
            shape.addItem(kind.value, kind.value)
        release = self.inputs["release"]
        for kind in ReleaseKind:
            release.addItem(kind.value, kind.value)
        self._loading = False

    def _browse_mesh(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Tablet mesh", "",
                                              "Meshes (*.stl *.3mf *.obj *.ply)")
        if path:
            self.inputs["mesh_path"].setText(path)  # type: ignore[union-attr]

    # -- values -------------------------------------------------------------------------

    def raw(self) -> dict[str, str]:
        """The form as text per field (the same keys as a prescriptions CSV row)."""
        out: dict[str, str] = {}
        for name in FORM_FIELDS:
            widget = self.inputs[name]
            if isinstance(widget, QComboBox):
                data = widget.currentData()
                out[name] = "" if data is None else str(data)
            else:
                out[name] = widget.text().strip()
        if out["shape"] != ShapeKind.MESH.value:
            out["mesh_path"] = ""  # a hidden field must not change the tablet
        return out

    def set_raw(self, raw: Mapping[str, str]) -> None:
        """Fill the form; unknown combo values are kept (the core's error then shows)."""
        self._loading = True
        try:
            for name in FORM_FIELDS:
                value = str(raw.get(name) or "")
                widget = self.inputs[name]
                if isinstance(widget, QComboBox):
                    if name in ("shape", "release"):
                        value = value.lower()  # the model accepts any case here too
                    if name == "release" and not value:
                        value = ReleaseKind.IMMEDIATE.value
                    # a value kept for an earlier file goes: one placeholder at a time
                    for i in reversed(range(widget.count())):
                        if widget.itemData(i, PLACEHOLDER_ROLE):
                            widget.removeItem(i)
                    index = widget.findData(value)
                    if index < 0:
                        missing = "not installed" if name in ("formulation", "printer") \
                            else "unknown"
                        widget.addItem(f"{value} ({missing})", value)
                        index = widget.count() - 1
                        widget.setItemData(index, True, PLACEHOLDER_ROLE)
                    widget.setCurrentIndex(index)
                else:
                    widget.setText(value)
        finally:
            self._loading = False
        self.clear_errors()
        self._update_dependent()
        self.edited.emit()

    def set_prescription(self, rx: Prescription) -> None:
        """Fill the form from a validated prescription."""
        self.set_raw(validation.to_raw(rx))

    def prescription(self) -> Prescription | None:
        """Validate the form; show the errors and return None when it is invalid."""
        try:
            rx = validation.validate(self.raw())
        except validation.PrescriptionErrors as exc:
            self.show_errors(exc.errors)
            return None
        self.clear_errors()
        return rx

    # -- errors -------------------------------------------------------------------------

    def show_errors(self, errors: Mapping[str, str]) -> None:
        """Show each message under its field (general ones at the top)."""
        self.clear_errors()
        for name, message in errors.items():
            if name == GENERAL or name not in self.errors:
                self.general_error.setText(message)
                self.general_error.show()
                # a rule about several fields (mg/kg needs a weight, not both doses…):
                # outline every field it names, so the eye finds where to type
                for field in self.inputs:
                    if re.search(rf"\b{re.escape(field)}\b", message):
                        self._mark(field, True)
                continue
            self.errors[name].setText(message)
            self.errors[name].show()
            self._mark(name, True)

    def clear_errors(self) -> None:
        self.general_error.hide()
        for name, label in self.errors.items():
            label.hide()
            self._mark(name, False)

    def visible_errors(self) -> dict[str, str]:
        """The messages currently shown, by field (`GENERAL` for the top one)."""
        out = {n: lab.text() for n, lab in self.errors.items() if not lab.isHidden()}
        if not self.general_error.isHidden():
            out[GENERAL] = self.general_error.text()
        return out

    def _mark(self, name: str, invalid: bool) -> None:
        widget = self.inputs[name]
        widget.setProperty("invalid", invalid)
        widget.style().unpolish(widget)
        widget.style().polish(widget)

    # -- reactions ----------------------------------------------------------------------

    def _changed(self) -> None:
        if self._loading:
            return
        sender = self.sender()
        if sender is self.inputs["formulation"]:
            self._formulation_changed()
        self._update_dependent()
        self.edited.emit()

    def _formulation_changed(self) -> None:
        """Follow the formulation with its drug and a printer of the same technology."""
        f = self.formulations.get(self.inputs["formulation"].currentData())
        if f is None:
            return
        self.inputs["drug"].setText(f.drug)  # type: ignore[union-attr]
        printer = self.inputs["printer"]
        current = self.profiles.get(printer.currentData())
        if current is not None and current.technology != f.technology:
            for i in range(printer.count()):
                p = self.profiles.get(printer.itemData(i))
                if p is not None and p.technology == f.technology:
                    printer.setCurrentIndex(i)
                    break

    def _update_dependent(self) -> None:
        is_mesh = self.inputs["shape"].currentData() == ShapeKind.MESH.value
        caption = self._grids["mesh_path"][2]
        for w in (caption, self.inputs["mesh_path"], self._mesh_browse):
            w.setVisible(is_mesh)
        f = self.formulations.get(self.inputs["formulation"].currentData())
        self.formulation_note.setText(_formulation_note(f) if f else "")
        self.formulation_note.setVisible(f is not None)
