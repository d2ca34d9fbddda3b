"""3D preview: the tablet solid and its toolpath by role, a layer slider and a legend.

The pyvista data come from `scene.build_scene`; this widget only owns the actors. The
legend doubles as the role filter (a tick per role), as in slicer previews.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from pyvistaqt import QtInteractor

from dosecraft.model.enums import ToolRole
from dosecraft.model.toolpath import ToolpathArrays
from dosecraft.pipeline import JobResult
from dosecraft_gui import settings
from dosecraft_gui.scene import ROLE_STYLES, SOLID_COLOUR, Scene, build_scene

BACKGROUND = "#f4f6f8"
#: Roles hidden until ticked: travel moves clutter the view and carry no drug.
HIDDEN_BY_DEFAULT = frozenset({ToolRole.TRAVEL})


def _swatch(colour: str) -> QPixmap:
    pix = QPixmap(14, 14)
    pix.fill(QColor(colour))
    return pix


class Preview3D(QWidget):
    """Interactive 3D preview of a job result.

    Signals
    -------
    layer_changed(int) : the slider moved to this layer index.
    """

    layer_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: JobResult | None = None
        self.arrays: ToolpathArrays | None = None
        self.scene: Scene | None = None
        self.plotter = QtInteractor(self)
        self.plotter.set_background(BACKGROUND)
        self.plotter.add_axes(line_width=2, labels_off=False)

        self.slider = QSlider(Qt.Orientation.Vertical)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Show the toolpath up to this layer")
        self.slider.valueChanged.connect(self._slider_moved)
        self.layer_label = QLabel("layer —")
        self.layer_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.layer_label.setMinimumWidth(96)

        self.role_boxes: dict[ToolRole, QCheckBox] = {}
        legend = QGridLayout()
        legend.setVerticalSpacing(2)
        title = QLabel("<b>Toolpath</b>")
        legend.addWidget(title, 0, 0, 1, 2)
        for row, role in enumerate(ToolRole, start=1):
            style = ROLE_STYLES[role]
            swatch = QLabel()
            swatch.setPixmap(_swatch(style.colour))
            box = QCheckBox(style.label)
            default = role not in HIDDEN_BY_DEFAULT
            box.setChecked(bool(settings.get(f"preview/role/{role.value}", default, bool)))
            box.toggled.connect(self._roles_toggled)
            legend.addWidget(swatch, row, 0)
            legend.addWidget(box, row, 1)
            self.role_boxes[role] = box
        self.solid_box = QCheckBox("tablet solid")
        self.solid_box.setChecked(bool(settings.get("preview/solid", True, bool)))
        self.solid_box.toggled.connect(self._roles_toggled)
        solid_swatch = QLabel()
        solid_swatch.setPixmap(_swatch(SOLID_COLOUR))
        legend.addWidget(solid_swatch, len(ToolRole) + 1, 0)
        legend.addWidget(self.solid_box, len(ToolRole) + 1, 1)

        side = QVBoxLayout()
        side.addLayout(legend)
        side.addSpacing(8)
        side.addWidget(QLabel("<b>Layer</b>"))
        side.addWidget(self.slider, 1, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.layer_label)
        self.size_label = QLabel()
        self.size_label.setWordWrap(True)
        side.addWidget(self.size_label)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter, 1)
        layout.addLayout(side)
        self._empty("No tablet yet — enter a prescription and press Compute")

    # -- public -------------------------------------------------------------------------

    def set_result(self, result: JobResult | None) -> None:
        """Show a result's tablet and toolpath (keeps the camera when the tablet is the
        same object, e.g. after a G-code-only re-run)."""
        same = (result is not None and self.result is not None
                and result.toolpath is self.result.toolpath and result.mesh is self.result.mesh)
        self.result = result
        if result is None or (result.mesh is None and result.toolpath is None):
            self.arrays = None
            self.scene = None
            self._empty("No tablet" if result is None else "No tablet: the job failed")
            return
        if same:
            return
        self.arrays = result.toolpath.to_arrays() if result.toolpath is not None else None
        layers = result.toolpath.layer_count if result.toolpath is not None else 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, layers - 1))
        self.slider.setValue(max(0, layers - 1))
        self.slider.setEnabled(layers > 0)
        self.slider.blockSignals(False)
        if result.mesh is not None:
            lo, hi = result.mesh.bounds
            x, y, z = hi - lo
            self.size_label.setText(f"<b>Size</b><br>{x:.2f} × {y:.2f} × {z:.2f} mm")
        self.redraw(reset_camera=True)

    def set_layer(self, layer: int) -> None:
        """Move the slider (and the view) to `layer` (0-based, clipped)."""
        self.slider.setValue(int(layer))

    @property
    def layer(self) -> int:
        return int(self.slider.value())

    def visible_roles(self) -> set[ToolRole]:
        return {r for r, box in self.role_boxes.items() if box.isChecked()}

    def redraw(self, reset_camera: bool = False) -> None:
        """Rebuild the actors for the current layer and role filter."""
        r = self.result
        if r is None:
            return
        self.scene = build_scene(r.mesh if self.solid_box.isChecked() else None, self.arrays,
                                 max_layer=self.layer, roles=self.visible_roles())
        self.plotter.clear_actors()
        self.plotter.remove_actor("empty")
        if self.scene.solid is not None:
            self.plotter.add_mesh(self.scene.solid, color=SOLID_COLOUR, opacity=0.22,
                                  name="solid", smooth_shading=True, show_scalar_bar=False)
        for role, poly in self.scene.lines.items():
            self.plotter.add_mesh(poly, color=self.scene.colours[role],
                                  line_width=ROLE_STYLES[role].width, name=role.value,
                                  show_scalar_bar=False, lighting=False)
        self._update_layer_label()
        if reset_camera:
            self.plotter.view_isometric()
            self.plotter.reset_camera()
            self.plotter.camera.zoom(1.15)
        self.plotter.render()

    def render_image(self) -> QImage:
        """The 3D view rendered off the Qt paint path (for screenshots where a grab of
        the GL widget comes back black)."""
        rgb = np.ascontiguousarray(self.plotter.screenshot(return_img=True))
        h, w, _ = rgb.shape
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        return image.copy()  # detach from the numpy buffer

    def close_plotter(self) -> None:
        """Release VTK resources (call before the window is destroyed)."""
        self.plotter.close()

    # -- internals ----------------------------------------------------------------------

    def _empty(self, message: str) -> None:
        self.plotter.clear_actors()
        self.plotter.add_text(message, position="upper_left", font_size=10,
                              color="#555555", name="empty")
        self.slider.setEnabled(False)
        self.layer_label.setText("layer —")
        self.size_label.setText("")
        self.plotter.render()

    def _update_layer_label(self) -> None:
        s = self.scene
        if s is None or s.layer_count == 0 or s.max_layer is None:
            self.layer_label.setText("layer —")
            return
        z = s.layer_z_mm[s.max_layer]
        self.layer_label.setText(f"{s.max_layer + 1} / {s.layer_count}\nz {z:.2f} mm")

    def _slider_moved(self, value: int) -> None:
        self.redraw()
        self.layer_changed.emit(value)

    def _roles_toggled(self) -> None:
        for role, box in self.role_boxes.items():
            settings.put(f"preview/role/{role.value}", box.isChecked())
        settings.put("preview/solid", self.solid_box.isChecked())
        self.redraw()
