"""Entry point: ``dosecraft-gui [--rx FILE.json] [--batch FILE] [--screenshot PATH]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from dosecraft_gui import __version__
from dosecraft_gui.settings import APPLICATION, ORGANISATION

if TYPE_CHECKING:
    from dosecraft_gui.mainwindow import MainWindow

#: Give up on a screenshot whose computation has not finished by then (seconds).
SCREENSHOT_TIMEOUT_S = 180
#: Let the last paint and VTK render land before grabbing (ms).
SETTLE_MS = 400
#: In screenshots, show the toolpath up to this fraction of the height, so the walls and
#: infill inside the tablet are visible rather than only its top skin.
SCREENSHOT_LAYER_FRACTION = 0.6


def _size(text: str) -> str:
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) >= 400 and int(h) >= 300):
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 1600x1000 "
                                         "(at least 400x300)")
    return f"{int(w)}x{int(h)}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dosecraft-gui",
                                     description="dosecraft tablet designer (desktop app)")
    parser.add_argument("--rx", metavar="FILE.json", help="open this prescription")
    parser.add_argument("--batch", metavar="FILE", help="open this CSV/JSON in the batch tab")
    parser.add_argument("--measured", metavar="CSV",
                        help="overlay this dissolution profile (time_min,percent_released)")
    parser.add_argument("--screenshot", metavar="PATH",
                        help="compute the prescription (--rx, or a default one), save a PNG "
                             "of the window to PATH and exit (0 when saved and computed)")
    parser.add_argument("--size", default="1600x1000", metavar="WxH", type=_size,
                        help="window size for --screenshot (default 1600x1000)")
    parser.add_argument("--version", action="version", version=f"dosecraft {__version__}")
    return parser.parse_args(argv)


def application() -> QApplication:
    """The running QApplication, created (with the settings' names) if needed."""
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "dosecraft"])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    return app  # type: ignore[return-value]


def take_screenshot(window: MainWindow, path: str,
                    timeout_s: float = SCREENSHOT_TIMEOUT_S) -> int:
    """Compute the window's prescription, save a PNG of the window, return an exit code.

    0: saved and computed; 1: saved but the computation failed (or the form is invalid);
    2: timed out or could not save.
    """
    from dosecraft_gui.screenshot import grab_window

    app = application()
    code = {"value": 2}
    # An owned timer, stopped on finish: a stray exit() would end a later event loop.
    deadline = QTimer()
    deadline.setSingleShot(True)

    def finish() -> None:
        if not deadline.isActive():
            return  # already finished (or timed out)
        deadline.stop()
        result = window.document.result
        preview = window.preview
        if preview.scene is not None and preview.scene.layer_count:
            preview.set_layer(int(SCREENSHOT_LAYER_FRACTION * (preview.scene.layer_count - 1)))
        window.release.canvas.draw()
        app.processEvents()
        preview.plotter.render()
        image = grab_window(window, preview.plotter, preview.render_image())
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        saved = image.save(path, "PNG")
        code["value"] = 2 if not saved else (0 if result is not None and result.ok else 1)
        print(f"screenshot: {path} ({'saved' if saved else 'NOT saved'}; "
              f"{'computed' if code['value'] == 0 else 'computation failed'})",
              file=sys.stderr if code["value"] else sys.stdout)
        app.exit(code["value"])

    def on_result(_result: object) -> None:
        QTimer.singleShot(SETTLE_MS, finish)

    def on_timeout() -> None:
        print(f"screenshot: timed out after {timeout_s:g} s", file=sys.stderr)
        app.exit(2)

    window.document.result_changed.connect(on_result)
    deadline.timeout.connect(on_timeout)
    deadline.start(int(timeout_s * 1000))
    if window.compute() is False:
        QTimer.singleShot(SETTLE_MS, finish)  # an invalid form: show its messages
    exit_code = app.exec()
    deadline.stop()
    window.document.result_changed.disconnect(on_result)
    return exit_code


def build_window(args: argparse.Namespace) -> MainWindow:
    """The main window set up as the arguments ask (shown; not yet computing).

    For ``--screenshot`` the window has the requested size, does not persist settings,
    and holds the ``--rx`` prescription or the default one.
    """
    application()
    from dosecraft_gui.mainwindow import DEFAULT_RX, MainWindow

    window = MainWindow()
    if args.screenshot:
        w, _, h = args.size.partition("x")  # checked by parse_args
        window.persist = False  # a screenshot must not change the user's settings
        window.form.auto_update.setChecked(False)
        window.resize(int(w), int(h))
        window.form.set_raw(DEFAULT_RX)
    window.show()
    if args.rx and args.screenshot:
        # no dialog may block an unattended screenshot: a bad file is an exit code
        from dosecraft_gui.validation import load_json

        try:
            window.form.set_raw(load_json(args.rx))
        except ValueError:
            window.close()
            raise
        window.document.path = args.rx
    elif args.rx:
        window.actions.open_prescription(args.rx)
    if args.batch:
        window.batch.open(args.batch)
    if args.measured:
        try:
            window.release.load_profile("measured", args.measured)
        except ValueError as exc:
            print(f"--measured: {exc}", file=sys.stderr)
    return window


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = application()
    try:
        window = build_window(args)
    except ValueError as exc:
        print(f"dosecraft-gui: {exc}", file=sys.stderr)
        return 1
    try:
        if args.screenshot:
            return take_screenshot(window, args.screenshot)
        return app.exec()
    finally:
        window.close()
        # A cancelled job finishes its current stage; let it end before Python does.
        QThreadPool.globalInstance().waitForDone(60_000)
        window.deleteLater()
        app.processEvents()
