"""`dosecraft-gui --screenshot`: the saved PNG shows the 3D view and the plot (needs Xvfb)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtGui import QImage

from dosecraft_gui import app
from dosecraft_gui.screenshot import region_variance, widget_rect

#: A flat region (one background colour) has variance 0; a drawing has far more.
MIN_VARIANCE = 50.0


def test_screenshot_is_not_blank(qtbot, display, small_raw, tmp_path: Path) -> None:
    rx_file = tmp_path / "rx.json"
    rx_file.write_text(json.dumps(small_raw))
    shot = tmp_path / "shot.png"
    args = app.parse_args(["--screenshot", str(shot), "--rx", str(rx_file), "--size",
                           "1400x900"])
    window = app.build_window(args)
    qtbot.addWidget(window)
    try:
        assert app.take_screenshot(window, str(shot)) == 0
        image = QImage(str(shot))
        assert not image.isNull() and image.width() >= 1400
        view = widget_rect(window.preview.plotter, window)
        plot = widget_rect(window.release.canvas, window)
        assert region_variance(image, view) > MIN_VARIANCE
        assert region_variance(image, plot) > MIN_VARIANCE
        assert "PASSED" in window.dose.verdict
    finally:
        window.close()


def test_arguments() -> None:
    args = app.parse_args(["--screenshot", "x.png"])
    assert args.screenshot == "x.png" and args.rx is None and args.size == "1600x1000"


def test_bad_rx_file_exits_without_blocking(qtbot, display, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    shot = tmp_path / "shot.png"
    assert app.main(["--screenshot", str(shot), "--rx", str(bad)]) == 1
    assert not shot.exists()
