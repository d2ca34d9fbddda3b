"""Dialogs that need no network or GL."""

from __future__ import annotations

import datetime as dt

import pytest

from dosecraft_gui.dialogs import SendDialog, WorksheetDialog

printers = pytest.importorskip("dosecraft.printers")


def test_send_dialog_offers_only_matching_printers(qtbot) -> None:
    registry = {
        "fdm-1": printers.Printer(name="fdm-1", kind="octoprint", url="http://fdm1.local",
                                  profile="generic_fdm_175"),
        "sse-1": printers.Printer(name="sse-1", kind="moonraker", url="http://sse1.local",
                                  profile="generic_sse_syringe"),
        "fdm-2": printers.Printer(name="fdm-2", kind="moonraker", url="http://fdm2.local",
                                  profile="generic_fdm_175", formulations=("other_fdm",)),
    }
    dialog = SendDialog(registry, "generic_fdm_175", "paracetamol_pva_fdm", 2)
    qtbot.addWidget(dialog)
    model = dialog.printer.model()
    enabled = [dialog.printer.itemData(i) for i in range(dialog.printer.count())
               if model.item(i).isEnabled()]
    assert enabled == ["fdm-1"]
    assert dialog.values() == ("fdm-1", False)


def test_worksheet_dialog_needs_an_operator(qtbot) -> None:
    dialog = WorksheetDialog("paracetamol_pva_fdm")
    qtbot.addWidget(dialog)
    dialog.operator.setText("")
    dialog._accept()
    assert dialog.result() == 0  # not accepted
    dialog.operator.setText("A. Pharmacist")
    assert dialog.values()["expiry"] is None  # no date is suggested
    dialog.lot.setText("LOT-7")
    dialog._accept()
    assert dialog.result() == 0  # a lot needs the expiry from its label
    assert "expiry" in dialog.problem.text()
    dialog.expiry.setText("30.06.2027")
    dialog._accept()
    assert dialog.result() == 0 and "YYYY-MM-DD" in dialog.problem.text()
    dialog.expiry.setText("2027-06-30")
    dialog._accept()
    assert dialog.result() == 1
    assert dialog.values()["lot"] == "LOT-7"
    assert dialog.values()["expiry"] == dt.date(2027, 6, 30)


def test_compound_dialog_needs_a_folder_it_can_create(qtbot, tmp_path) -> None:
    from dosecraft_gui.dialogs import CompoundDialog

    dialog = CompoundDialog("rx.csv")
    qtbot.addWidget(dialog)
    dialog.operator.setText("A. Pharmacist")
    dialog.folder.setText(str(tmp_path / "no" / "such" / "place"))
    dialog._accept()
    assert dialog.result() == 0  # a typo'd path must not scatter files
    dialog.folder.setText("relative-run")  # would land in the app's working folder
    dialog._accept()
    assert dialog.result() == 0 and "full path" in dialog.problem.text()
    dialog.folder.setText(str(tmp_path / "run1"))
    dialog._accept()
    assert dialog.result() == 1
    values = dialog.values()
    assert values["out_dir"] == tmp_path / "run1" and values["release"] is True
    assert values["lot"] == "" and values["expiry"] is None
