"""Window screenshots that include the VTK render, and pixel checks for tests.

`QWidget.grab()` of a window copies each `QOpenGLWidget`'s framebuffer; with some GL
drivers that copy comes back black. `grab_window` then paints the plotter's own off-Qt
render (`Plotter.screenshot`) into the 3D view's rectangle.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

#: Below this pixel variance a region counts as blank (a flat fill, e.g. black GL).
BLANK_VARIANCE = 1.0


def image_array(image: QImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a QImage."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=h * bpl).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def region_variance(image: QImage, rect: QRect) -> float:
    """Pixel variance (over all channels) of `image` inside `rect`."""
    arr = image_array(image)
    r = rect.intersected(QRect(0, 0, image.width(), image.height()))
    if r.isEmpty():
        return 0.0
    return float(arr[r.top(): r.bottom() + 1, r.left(): r.right() + 1].var())


def widget_rect(widget: QWidget, window: QWidget) -> QRect:
    """`widget`'s rectangle in `window` coordinates (device-independent pixels)."""
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def grab_window(window: QWidget, gl_view: QWidget | None = None,
                render: QImage | None = None) -> QImage:
    """An image of `window`, with the GL view's render composited in if the grab lost it.

    Parameters
    ----------
    window : the top-level window.
    gl_view : the OpenGL widget inside it (the pyvista interactor), if any.
    render : that view rendered off the Qt path, used when its grabbed area is blank.
    """
    image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    if gl_view is None or render is None:
        return image
    ratio = image.devicePixelRatio() or 1.0
    rect = widget_rect(gl_view, window)
    device = QRect(int(rect.x() * ratio), int(rect.y() * ratio),
                   int(rect.width() * ratio), int(rect.height() * ratio))
    image.setDevicePixelRatio(1.0)
    if region_variance(image, device) >= BLANK_VARIANCE:
        return image
    painter = QPainter(image)
    painter.drawImage(device, render)
    painter.end()
    return image
