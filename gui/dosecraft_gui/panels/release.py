"""Release panel: the predicted curve with t50/t80, an optional target or measured profile,
and f2 — drawn by the core's `draw_release` on an embedded matplotlib canvas."""

from __future__ import annotations

import html

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dosecraft.model.results import ReleaseEstimate
from dosecraft.release import Similarity
from dosecraft.reports.plots import Profile, ReleaseCurve, draw_release
from dosecraft_gui import settings
from dosecraft_gui.release_data import compare, read_profile_csv

CSV_FILTER = "Dissolution CSV (time_min,percent_released) (*.csv);;All files (*)"


def _minutes(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f} min"


class ReleasePanel(QWidget):
    """The release plot and its read-out.

    Signals
    -------
    profile_loaded(str, str) : ("measured" | "target", path) after a file was read.
    """

    profile_loaded = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.estimate: ReleaseEstimate | None = None
        self.label = ""
        self.measured: Profile | None = None
        self.target: Profile | None = None
        #: formulation of the shown prediction, and the one the overlays were loaded for
        self.product: str | None = None
        self.overlay_product: str | None = None
        self.similarity: Similarity | None = None

        self.figure = Figure(figsize=(5.0, 3.0), dpi=100, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(200)
        self.axes = self.figure.add_subplot(1, 1, 1)

        buttons = QHBoxLayout()
        self.load_measured_button = QPushButton("Measured CSV…")
        self.load_measured_button.setToolTip(
            "Overlay measured dissolution data (time_min,percent_released[,replicate]) "
            "and compare it with the prediction (f2)")
        self.load_target_button = QPushButton("Target profile…")
        self.load_target_button.setToolTip("Overlay a target release profile (same columns)")
        self.clear_button = QPushButton("Clear overlays")
        self.load_measured_button.clicked.connect(lambda: self._ask("measured"))
        self.load_target_button.clicked.connect(lambda: self._ask("target"))
        self.clear_button.clicked.connect(self.clear_profiles)
        for b in (self.load_measured_button, self.load_target_button, self.clear_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.readout = QLabel()
        self.readout.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.readout)
        self.redraw()

    # -- data ---------------------------------------------------------------------------

    def set_estimate(self, estimate: ReleaseEstimate | None, label: str = "",
                     product: str | None = None) -> None:
        """Show a new prediction (None clears it).

        `product` (the formulation) scopes the overlays: measured or target data loaded
        for one formulation are dropped when the prediction is another's, so f2 never
        compares two products.
        """
        if (product is not None and self.overlay_product is not None
                and product != self.overlay_product):
            self.measured = self.target = None
            self.overlay_product = None
        self.product = product
        self.estimate = estimate
        self.label = label
        self.redraw()

    def load_profile(self, kind: str, path: str) -> None:
        """Read a measured or target profile CSV and overlay it.

        Raises
        ------
        ValueError
            The file cannot be read as a profile.
        """
        profile = read_profile_csv(path, label=f"{kind}: {path.rsplit('/', 1)[-1]}")
        if kind == "measured":
            self.measured = profile
        else:
            self.target = profile
        self.overlay_product = self.product
        self.redraw()
        self.profile_loaded.emit(kind, path)

    def clear_profiles(self) -> None:
        self.measured = None
        self.target = None
        self.overlay_product = None
        self.redraw()

    def _ask(self, kind: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open {kind} profile",
                                              settings.last_dir(), CSV_FILTER)
        if not path:
            return
        try:
            self.load_profile(kind, path)
        except ValueError as exc:
            QMessageBox.warning(self, f"Cannot read the {kind} profile", str(exc))

    # -- drawing ------------------------------------------------------------------------

    def redraw(self) -> None:
        """Redraw the plot and the read-out from the current data."""
        # f2 compares against measured data when there is some, else against the target.
        reference = self.measured or self.target
        self.similarity = (compare(self.estimate, reference)
                           if self.estimate is not None and reference is not None else None)
        curves = [] if self.estimate is None else [
            ReleaseCurve.from_estimate(self.estimate, f"predicted ({self.estimate.model})")]
        draw_release(self.axes, curves,
                     target=self.target, measured=self.measured,
                     similarity=self.similarity,
                     title="Predicted release" + (f" — {self.label}" if self.label else ""))
        self.canvas.draw_idle()
        self.readout.setText(self._readout_text())

    def _readout_text(self) -> str:
        e = self.estimate
        if e is None:
            return "No prediction yet."
        parts = [f"<b>t50</b> {_minutes(e.t50_min)}", f"<b>t80</b> {_minutes(e.t80_min)}",
                 f"<b>MDT</b> {_minutes(e.mdt_min)}", f"model: {html.escape(e.model)}"]
        text = " · ".join(parts)
        s = self.similarity
        if s is not None and s.f2 is not None:
            against = "measured" if self.measured is not None else "target"
            colour = "#1b7f3b" if s.similar else "#b3261e"
            verdict = {True: "similar", False: "not similar", None: "no decision"}[s.similar]
            f1 = "" if s.f1 is None else f", f1 = {s.f1:.1f}"
            text += (f"<br><b>f2 vs {against}</b> = <span style='color:{colour}'>"
                     f"<b>{s.f2:.1f}</b>{f1} ({verdict})</span> over {s.n_points} time points")
        self.readout.setToolTip("" if s is None else s.reason)
        return text

    @property
    def has_curve(self) -> bool:
        """True when a predicted curve is drawn."""
        return self.estimate is not None and len(self.axes.get_lines()) > 0
