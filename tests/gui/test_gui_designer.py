"""The designer end to end: type a prescription, compute, read the panels (needs Xvfb)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit

from dosecraft.model.enums import ToolRole
from dosecraft.pipeline import Stage
from dosecraft_gui.validation import GENERAL

#: A job takes a few seconds; a slow CI machine gets a margin.
JOB_TIMEOUT_MS = 60_000


def _type(qtbot, window, field: str, text: str) -> None:
    widget = window.form.inputs[field]
    assert isinstance(widget, QLineEdit)
    widget.clear()
    qtbot.keyClicks(widget, text)


def _choose(window, field: str, value: str) -> None:
    combo = window.form.inputs[field]
    assert isinstance(combo, QComboBox)
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)


def _fill(qtbot, window, raw: dict[str, str]) -> None:
    for field in ("formulation", "printer", "shape", "release"):
        _choose(window, field, raw.get(field, ""))
    for field in ("rx_id", "patient_ref", "drug", "dose_mg", "dose_mg_per_kg", "weight_kg",
                  "age_years", "target_t80_min", "infill", "quantity"):
        _type(qtbot, window, field, raw.get(field, ""))


def _compute(qtbot, window) -> Stage | None:
    with qtbot.waitSignal(window.document.result_changed, timeout=JOB_TIMEOUT_MS):
        qtbot.mouseClick(window.form.compute_button, Qt.MouseButton.LeftButton)
    return window.document.last_start


def test_type_compute_and_see_the_dose_check(qtbot, window, small_raw) -> None:
    _fill(qtbot, window, small_raw)
    assert _compute(qtbot, window) == Stage.DESIGN
    result = window.document.result
    assert result is not None and result.ok, result.error

    assert "PASSED" in window.dose.verdict
    for key in ("design", "toolpath", "gcode"):
        mg, err, check = window.dose.figure_cells[key]
        assert check.text() == "PASS"
        assert abs(float(mg.text()) - 40.0) < 0.4
    assert window.dose.fact_cells["mass"].text().endswith(" mg")
    assert "mm⁻¹" in window.dose.fact_cells["sav"].text()
    assert "min" in window.dose.fact_cells["print_time"].text()

    assert window.release.has_curve
    assert "t80" in window.release.readout.text()

    scene = window.preview.scene
    assert scene is not None and ToolRole.OUTER_WALL in scene.lines
    assert ToolRole.TRAVEL not in scene.lines  # hidden until ticked
    assert window.actions.gcode.isEnabled()


def test_measured_profile_shows_f2(qtbot, window, small_raw, samples_dir) -> None:
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)
    window.release.load_profile(
        "measured", str(samples_dir / "dissolution" / "paracetamol_pva_weibull.csv"))
    assert window.release.similarity is not None
    assert "f2 vs measured" in window.release.readout.text()
    labels = window.release.axes.get_legend_handles_labels()[1]
    assert any(label.startswith("measured") for label in labels)

    # the same formulation keeps its overlay; another product's prediction drops it
    estimate = window.release.estimate
    window.release.set_estimate(estimate, "again", small_raw["formulation"])
    assert window.release.measured is not None
    window.release.set_estimate(estimate, "other", "some_other_formulation")
    assert window.release.measured is None and window.release.similarity is None


def test_automatic_update_after_an_edit(qtbot, window, small_raw) -> None:
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)
    window.form.auto_update.setChecked(True)
    with qtbot.waitSignal(window.document.result_changed, timeout=JOB_TIMEOUT_MS):
        _type(qtbot, window, "quantity", "4")
    assert window.document.last_start == Stage.GCODE
    assert window.document.result.prescription.quantity == 4


def test_send_action_only_with_the_printers_package(window) -> None:
    try:
        from dosecraft.printers import send_gcode  # noqa: F401
    except ImportError:
        assert window.actions.send is None
    else:
        assert window.actions.send is not None


def test_quantity_and_ids_do_not_reslice(qtbot, window, small_raw) -> None:
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)
    first = window.document.result

    _type(qtbot, window, "quantity", "3")
    assert _compute(qtbot, window) == Stage.GCODE
    second = window.document.result
    assert second.toolpath is first.toolpath and second.release is first.release
    assert sum(len(p.program.objects) for p in second.plates) == 3
    assert "PASSED" in window.dose.verdict

    _type(qtbot, window, "rx_id", "RX-GUI-0009")
    assert _compute(qtbot, window) == Stage.GCODE
    assert "RX-GUI-0009" in window.document.result.plates[0].program.text

    # unchanged inputs: the cached result answers at once, nothing runs
    window.form.compute_button.click()
    assert not window.document.busy

    _type(qtbot, window, "dose_mg", "45")
    assert _compute(qtbot, window) == Stage.DESIGN
    assert window.document.result.toolpath is not first.toolpath


def test_bad_input_shows_the_message_and_computes_nothing(qtbot, window, small_raw) -> None:
    _fill(qtbot, window, dict(small_raw, dose_mg="5 mg/kg", rx_id="RX 1"))
    window.form.compute_button.click()
    shown = window.form.visible_errors()
    assert "dose_mg_per_kg" in shown["dose_mg"]
    assert "no spaces" in shown["rx_id"]
    assert window.form.inputs["dose_mg"].property("invalid") is True
    assert not window.document.busy
    assert window.document.result is None and window.document.last_start is None
    assert "Fix the prescription" in window.dose.verdict
    assert not window.actions.gcode.isEnabled()

    # whole-prescription rules run once every field is valid on its own
    _type(qtbot, window, "rx_id", "RX-1")
    _type(qtbot, window, "dose_mg", "")
    window.form.compute_button.click()
    assert window.form.visible_errors() == {GENERAL: "no dose: give dose_mg, or "
                                                     "dose_mg_per_kg with weight_kg"}
    assert window.document.result is None
    # the fields the rule names are outlined
    for field in ("dose_mg", "dose_mg_per_kg", "weight_kg"):
        assert window.form.inputs[field].property("invalid") is True
    assert window.form.inputs["drug"].property("invalid") is False

    _type(qtbot, window, "dose_mg", "40")
    assert _compute(qtbot, window) == Stage.DESIGN
    assert window.form.visible_errors() == {}


def test_layer_slider_and_role_legend(qtbot, window, small_raw) -> None:
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)
    preview = window.preview
    top = preview.scene.segment_count
    preview.set_layer(0)
    assert preview.scene.max_layer == 0 and preview.scene.segment_count < top
    assert preview.layer_label.text().startswith(f"1 / {preview.scene.layer_count}")
    preview.role_boxes[ToolRole.TRAVEL].setChecked(True)
    assert ToolRole.TRAVEL in preview.scene.lines
    preview.role_boxes[ToolRole.OUTER_WALL].setChecked(False)
    assert ToolRole.OUTER_WALL not in preview.scene.lines


def test_json_open_and_save(qtbot, window, small_rx, tmp_path) -> None:
    from dosecraft_gui import settings, validation

    path = validation.save_json(tmp_path / "rx.json", small_rx)
    window.persist = True  # record recent files (the settings are a test folder)
    with qtbot.waitSignal(window.document.result_changed, timeout=JOB_TIMEOUT_MS):
        assert window.actions.open_prescription(str(path))
    assert window.form.raw()["dose_mg"] == "40"
    assert window.document.result.prescription == small_rx
    assert settings.recent_files("prescription") == [str(path.resolve())]


def test_exports_only_for_the_prescription_in_the_form(qtbot, window, small_raw,
                                                       monkeypatch) -> None:
    # a file must never hold another dose than the form: after an edit, with an invalid
    # form, or while a new job runs, the exports are off and the old figures greyed out
    from PySide6.QtWidgets import QMessageBox

    window.form.auto_update.setChecked(False)
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)
    assert window.actions.gcode.isEnabled() and not window.dose.dimmed

    _type(qtbot, window, "dose_mg", "45")
    assert not window.actions.gcode.isEnabled()
    assert window.dose.dimmed and "previous input" in window.dose.figures.title()
    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: told.append(a[2]))
    window.actions.export_gcode()  # a shortcut or menu could still reach it
    assert told and "not for the prescription in the form" in told[0]

    _type(qtbot, window, "dose_mg", "-50")
    assert not window.actions.gcode.isEnabled()

    _type(qtbot, window, "dose_mg", small_raw["dose_mg"])  # back to what was computed
    assert window.actions.gcode.isEnabled()
    assert not window.dose.dimmed and "PASSED" in window.dose.verdict

    _type(qtbot, window, "dose_mg", "45")
    with qtbot.waitSignal(window.document.busy_changed, timeout=JOB_TIMEOUT_MS):
        window.compute()
    assert window.document.busy and not window.actions.gcode.isEnabled()
    qtbot.waitUntil(lambda: not window.document.busy, timeout=JOB_TIMEOUT_MS)
    assert window.actions.gcode.isEnabled() and not window.dose.dimmed
    assert abs(float(window.dose.figure_cells["gcode"][0].text()) - 45.0) < 0.45


def test_enter_in_a_field_computes_and_narrow_windows_keep_the_form(qtbot, window,
                                                                    small_raw) -> None:
    window.form.auto_update.setChecked(False)
    _fill(qtbot, window, small_raw)
    with qtbot.waitSignal(window.document.result_changed, timeout=JOB_TIMEOUT_MS):
        qtbot.keyClick(window.form.inputs["dose_mg"], Qt.Key.Key_Return)
    assert window.document.result is not None and window.document.result.ok
    window.show()
    window.resize(760, 700)
    qtbot.wait(50)
    assert window.form.width() >= 290 and window.dose.width() >= 280


def test_unknown_values_from_files_do_not_pile_up(window, small_raw) -> None:
    combo = window.form.inputs["printer"]
    before = combo.count()
    for name in ("prusa_mk4", "ender_3", "prusa_mk4"):
        window.form.set_raw(dict(small_raw, printer=name))
        assert combo.currentText() == f"{name} (not installed)"
    assert combo.count() == before + 1  # only the file's current unknown value
    window.form.set_raw(small_raw)
    assert combo.count() == before


def test_a_dose_no_tablet_holds_fails_plainly_and_shows_what_was_asked(qtbot, window,
                                                                       small_raw) -> None:
    window.form.auto_update.setChecked(False)
    _fill(qtbot, window, dict(small_raw, dose_mg="3000"))
    _compute(qtbot, window)
    result = window.document.result
    assert result is not None and not result.ok
    assert "FAILED" in window.dose.verdict
    assert window.dose.figure_cells["target"][0].text() == "3000.000"
    assert window.dose.figure_cells["gcode"][0].text() == "—"
    assert not window.actions.gcode.isEnabled()


def test_a_new_calibration_recomputes_and_blocks_the_old_export(qtbot, window, small_raw,
                                                                monkeypatch) -> None:
    import hashlib

    from PySide6.QtWidgets import QMessageBox

    from dosecraft.records import RecordStore, default_records_path

    window.form.auto_update.setChecked(False)
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)
    first = window.document.result
    store = RecordStore(default_records_path())
    try:
        store.record_calibration(small_raw["printer"], small_raw["formulation"],
                                 new_mass_factor=1.04, n_tablets=10,
                                 data_sha256=hashlib.sha256(b"cal").hexdigest())
    finally:
        store.close()
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: told.append(a[2]))
    window.actions.export_gcode()
    assert told and "calibration changed" in told[0]
    assert _compute(qtbot, window) == Stage.DESIGN  # not the cached tablet
    assert window.document.result is not first
    assert window.document.result.formulation.mass_factor == 1.04


def test_a_printer_that_cannot_be_reached_is_reported_plainly(qtbot, window, small_raw,
                                                               monkeypatch) -> None:
    import pytest
    from PySide6.QtWidgets import QMessageBox

    from dosecraft_gui import actions

    if window.actions.send is None:
        pytest.skip("the printers package is not installed")
    from dosecraft.printers.errors import PrinterOffline

    window.form.auto_update.setChecked(False)
    _fill(qtbot, window, small_raw)
    _compute(qtbot, window)

    def offline(printer, path, start=False):  # noqa: ANN001, ARG001
        raise PrinterOffline("printer 'fdm-1' is not reachable at http://127.0.0.1:9; check "
                             "that the print server is running")

    warned: list[str] = []
    monkeypatch.setattr(actions, "load_registry", lambda: {"fdm-1": object()})
    monkeypatch.setattr(actions, "send_gcode", offline)


    class Answered:  # the dialog, answered: printer fdm-1, do not start
        def __init__(self, *args: object) -> None:
            pass

        def exec(self) -> bool:
            return True

        def values(self) -> tuple[str, bool]:
            return "fdm-1", False

    monkeypatch.setattr(actions, "SendDialog", Answered)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a[2]))
    window.actions.send_to_printer()
    qtbot.waitUntil(lambda: bool(warned), timeout=JOB_TIMEOUT_MS)
    assert warned[0].startswith("printer 'fdm-1' is not reachable")
    assert "PrinterOffline" not in warned[0] and "dosecraft." not in warned[0]
    # what was sent (or tried) is in the records first, as an exported file is
    from dosecraft.records import RecordStore, default_records_path

    store = RecordStore(default_records_path())
    try:
        assert [b["options"]["origin"] for b in store.list_batches()] == ["dosecraft app"]
    finally:
        store.close()
