"""Fixtures for the desktop-app tests (pytest-qt; 3D tests need an X display: pytest-xvfb).

Settings go to a temporary folder, so tests neither read nor change the user's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

if importlib.util.find_spec("dosecraft_gui") is None:
    # An editable install made before gui/dosecraft_gui existed maps only src/.
    sys.path.insert(0, str(ROOT / "gui"))

_MISSING = [m for m in ("PySide6", "pyvista", "pyvistaqt", "pytestqt")
            if importlib.util.find_spec(m) is None]
if _MISSING:
    collect_ignore_glob = ["test_*.py"]  # the gui extra is not installed: nothing to test

#: A prescription that computes in about two seconds.
SMALL_RX: dict[str, str] = {
    "rx_id": "RX-GUI-0001", "patient_ref": "PT-GUI", "drug": "paracetamol", "dose_mg": "40",
    "formulation": "paracetamol_pva_fdm", "printer": "generic_fdm_175", "shape": "cylinder",
    "release": "immediate", "quantity": "2",
}


def needs_display() -> None:
    """Skip a test that needs OpenGL on an X display (VTK) when there is none."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display: install Xvfb and pytest-xvfb to run the 3D view tests")


@pytest.fixture
def display() -> None:
    """Require an X display (for VTK's OpenGL)."""
    needs_display()


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    if _MISSING:
        return
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    if _MISSING:
        return
    from dosecraft_gui.settings import settings

    settings().clear()


@pytest.fixture(scope="session")
def small_raw() -> dict[str, str]:
    """Form values of `SMALL_RX` (a copy per test)."""
    return dict(SMALL_RX)


@pytest.fixture(scope="session")
def small_rx():
    from dosecraft.io.prescriptions import parse_row

    return parse_row(SMALL_RX)


@pytest.fixture(scope="session")
def small_result(small_rx):
    """One computed job, shared by the tests that only read a result."""
    from dosecraft.pipeline import Job, run_job

    result = run_job(Job(prescription=small_rx))
    assert result.ok, result.error
    return result


@pytest.fixture
def window(qtbot):
    """The main window, shown, with automatic recompute off (tests press Compute)."""
    needs_display()
    from dosecraft_gui.mainwindow import MainWindow

    win = MainWindow()
    win.persist = False
    win.form.auto_update.setChecked(False)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.document.cancel()
    win.batch.cancel()
    win.close()


@pytest.fixture(autouse=True)
def _no_modal_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message box nobody answers would hang the run: each one fails the test instead,
    unless the test replaces it to read what it says."""
    if _MISSING:
        return
    from PySide6.QtWidgets import QMessageBox

    def unexpected(kind: str):  # noqa: ANN202
        def box(*args: object, **kwargs: object) -> None:
            text = args[2] if len(args) > 2 else kwargs
            raise AssertionError(f"unexpected QMessageBox.{kind}: {text}")
        return box

    for kind in ("information", "warning", "critical", "question"):
        monkeypatch.setattr(QMessageBox, kind, unexpected(kind))
