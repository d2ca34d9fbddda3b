"""Dose check panel: the three dose figures with pass/fail, and the tablet's facts.

Every number comes from the `JobResult`; a figure's own pass/fail and error are the
core's `DoseCheck` rule applied to that one figure.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from dosecraft.model.results import DoseCheck
from dosecraft.pipeline import JobResult
from dosecraft_gui.numbers import signed

PASS_GREEN = "#1b7f3b"
FAIL_RED = "#b3261e"
BANNER_QSS = ("QLabel {{ background: {bg}; color: white; font-size: 18px; font-weight: bold;"
              " padding: 8px; border-radius: 4px; }}")
DASH = "—"
#: (key, label) of the facts grid.
FACTS: tuple[tuple[str, str], ...] = (
    ("shape", "Shape"), ("dimensions", "Dimensions"), ("mass", "Tablet mass"),
    ("volume", "Volume (envelope)"), ("sav", "SA/V"), ("infill", "Infill"),
    ("layers", "Layers"), ("print_time", "Print time"),
)


def format_minutes(seconds: float) -> str:
    """'1 h 12 min' or '7.1 min'."""
    minutes = seconds / 60.0
    if minutes < 60:
        return f"{minutes:.1f} min"
    return f"{int(minutes // 60)} h {minutes % 60:.0f} min"


def dimensions_text(dims: dict[str, float]) -> str:
    """'diameter 12.82 × height 6.20 mm'."""
    return " × ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in dims.items()) + " mm"


class DoseCheckPanel(QWidget):
    """Shows a `JobResult`'s dose check (banner + three figures) and the tablet's facts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.banner = QLabel("Not computed yet")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setObjectName("dose_banner")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.banner)
        layout.addWidget(self.summary)

        figures = QGroupBox("Dose per tablet")
        grid = QGridLayout(figures)
        for col, head in enumerate(("", "mg", "error", "check")):
            h = QLabel(f"<b>{head}</b>")
            h.setAlignment(Qt.AlignmentFlag.AlignRight if col else Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(h, 0, col)
        self.figure_cells: dict[str, tuple[QLabel, QLabel, QLabel]] = {}
        for row, (key, label) in enumerate((("target", "Prescribed"),
                                            ("design", "Design (solver)"),
                                            ("toolpath", "Toolpath (beads)"),
                                            ("gcode", "G-code (re-read)")), start=1):
            grid.addWidget(QLabel(label), row, 0)
            cells = tuple(QLabel(DASH) for _ in range(3))
            for col, cell in enumerate(cells, start=1):
                cell.setAlignment(Qt.AlignmentFlag.AlignRight)
                grid.addWidget(cell, row, col)
            self.figure_cells[key] = cells  # type: ignore[assignment]
        layout.addWidget(figures)
        self.figures = figures

        facts = QGroupBox("Tablet")
        fgrid = QGridLayout(facts)
        fgrid.setColumnStretch(1, 1)
        self.fact_cells: dict[str, QLabel] = {}
        for row, (key, label) in enumerate(FACTS):
            fgrid.addWidget(QLabel(label), row, 0, Qt.AlignmentFlag.AlignTop)
            cell = QLabel(DASH)
            cell.setWordWrap(True)
            cell.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            fgrid.addWidget(cell, row, 1)
            self.fact_cells[key] = cell
        layout.addWidget(facts)
        self.facts = facts

        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setFrameShape(QFrame.Shape.StyledPanel)
        self.notes.setStyleSheet("background: #fff6d6; color: #5c4400; padding: 4px;")
        self.notes.hide()
        layout.addWidget(self.notes)
        layout.addStretch(1)
        self._set_banner("Not computed yet", "#6b7280")

    # -- states -------------------------------------------------------------------------

    def _set_banner(self, text: str, colour: str) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet(BANNER_QSS.format(bg=colour))

    def _dim(self, previous: bool) -> None:
        """Grey the figures out when they belong to another input than the form's (a
        PASS of the previous prescription must not read as this one's)."""
        for widget in (self.summary, self.figures, self.facts, self.notes):
            widget.setEnabled(not previous)
        self.figures.setTitle("Dose per tablet" + (" — previous input" if previous else ""))
        self.facts.setTitle("Tablet" + (" — previous input" if previous else ""))

    @property
    def dimmed(self) -> bool:
        """True while the figures shown are not the form's."""
        return not self.figures.isEnabled()

    def show_busy(self, message: str) -> None:
        """A job is running; the figures below are the previous ones."""
        self._set_banner(f"Computing… {message}", "#6b7280")
        self._dim(True)

    def show_stale(self) -> None:
        """The form changed since these figures were computed."""
        self._set_banner("Inputs changed — press Compute", "#6b7280")
        self._dim(True)

    def show_invalid(self) -> None:
        """The form does not validate; nothing was computed."""
        self._set_banner("Fix the prescription (see the form)", FAIL_RED)
        self._dim(True)

    def show_crash(self) -> None:
        """The job raised an internal error (a bug); nothing is verified."""
        self._set_banner("✘  Internal error — nothing verified", FAIL_RED)
        self._dim(True)

    @property
    def verdict(self) -> str:
        """The banner text (tests and the screenshot check read it)."""
        return self.banner.text()

    def show_result(self, result: JobResult) -> None:
        """Fill every figure from `result` (an error result shows its message)."""
        check = result.dose_check
        passed = result.ok and check is not None and check.passed \
            and check.gcode_mg is not None
        if passed:
            self._set_banner("✔  DOSE CHECK PASSED", PASS_GREEN)
        elif result.ok:
            self._set_banner("✘  DOSE NOT VERIFIED", FAIL_RED)
        else:
            self._set_banner("✘  FAILED — do not print", FAIL_RED)
        self.summary.setText(self._summary(result))
        self._figures(check, result.prescription.unit_dose_mg)
        self._facts(result)
        notes = [f"⚠ {w}" for w in result.warnings]
        self.notes.setText("\n".join(notes))
        self.notes.setVisible(bool(notes))
        self._dim(False)

    # -- filling ------------------------------------------------------------------------

    @staticmethod
    def _summary(result: JobResult) -> str:
        if not result.ok:
            return f"<span style='color:{FAIL_RED}'>{html.escape(str(result.error))}</span>"
        check = result.dose_check
        if check is None or check.gcode_mg is None:
            return "The G-code dose was not re-read."
        err = DoseCheck(check.target_mg, check.gcode_mg, tolerance=check.tolerance)
        qty = result.prescription.quantity
        return (f"<b>{result.rx_id}</b>: the G-code holds <b>{check.gcode_mg:.3f} mg</b> "
                f"per tablet for <b>{check.target_mg:.3f} mg</b> prescribed "
                f"({signed(100 * err.relative_error, 2)} %, "
                f"tolerance ±{100 * check.tolerance:g} %),"
                f" × {qty} tablet{'s' if qty != 1 else ''}.")

    def _figures(self, check: DoseCheck | None, prescribed_mg: float | None = None) -> None:
        for cells in self.figure_cells.values():
            for cell in cells:
                cell.setText(DASH)
                cell.setStyleSheet("")
        if check is None:
            if prescribed_mg is not None:  # a failed job still shows what was asked for
                self.figure_cells["target"][0].setText(f"{prescribed_mg:.3f}")
            return
        self.figure_cells["target"][0].setText(f"{check.target_mg:.3f}")
        for key, value in (("design", check.design_mg), ("toolpath", check.toolpath_mg),
                           ("gcode", check.gcode_mg)):
            if value is None:
                continue
            one = DoseCheck(check.target_mg, value, tolerance=check.tolerance)
            mg, err, ok = self.figure_cells[key]
            mg.setText(f"{value:.3f}")
            err.setText(f"{signed(100 * one.relative_error, 2)} %")
            ok.setText("PASS" if one.passed else "FAIL")
            ok.setStyleSheet(f"color: {PASS_GREEN if one.passed else FAIL_RED};"
                             " font-weight: bold;")

    def _facts(self, result: JobResult) -> None:
        d = result.design
        values = dict.fromkeys(self.fact_cells, DASH)
        if d is not None:
            values.update(
                shape=d.shape.value,
                dimensions=dimensions_text(dict(d.dimensions_mm)),
                mass=f"{d.mass_mg:.1f} mg",
                volume=f"{d.volume_mm3:.1f} mm³",
                sav=f"{d.sa_v_per_mm:.3f} mm⁻¹",
                infill=(f"{100 * d.infill.density:.0f} % {d.infill.pattern.value}"
                        + (f" — {d.infill.reason}" if d.infill.reason else "")),
            )
        if result.toolpath is not None:
            values["layers"] = (f"{result.toolpath.layer_count} × "
                                f"{d.layer_height_mm if d else 0:g} mm")
        if result.plates:
            total = sum(p.readout.print_time_s for p in result.plates)
            n = len(result.plates)
            values["print_time"] = (f"{format_minutes(total)} for "
                                    f"{result.prescription.quantity} tablet(s) on {n} "
                                    f"plate{'s' if n != 1 else ''}")
        for key, text in values.items():
            self.fact_cells[key].setText(text)
