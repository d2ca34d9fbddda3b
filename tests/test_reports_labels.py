"""Patient labels: locked template, validation of every field, the PDF and its QR codes."""

import datetime as dt
import re
import shutil
import subprocess

import numpy as np
import pytest

pypdf = pytest.importorskip("pypdf")

from dosecraft.reports import (  # noqa: E402
    LabelData,
    LabelError,
    StorageCondition,
    StrengthUnit,
    labels_from_rows,
    make_label,
    write_labels,
)
from dosecraft.reports import label_layout as L  # noqa: E402
from dosecraft.reports.labels import STORAGE_TEXT, format_strength  # noqa: E402

TODAY = dt.date(2025, 3, 14)


def fields(**over) -> dict:
    base = {"rx_id": "RX-2025-0001", "drug": "Propranolol hydrochloride",
            "strength_value": 12.5, "strength_unit": "mg", "patient_ref": "P-7F3A",
            "lot": "L2309-A", "lot_expiry": dt.date(2025, 12, 31),
            "use_by": dt.date(2025, 9, 10), "storage": "below_25c_dry", "quantity": 30}
    base.update(over)
    return base


def label(**over) -> LabelData:
    return make_label(fields(**over), today=TODAY)


def test_valid_label_derives_strength_and_payload():
    lab = label()
    assert lab.strength == "12.5 mg"
    assert lab.storage is StorageCondition.BELOW_25C_DRY
    assert lab.qr_payload == "RX=RX-2025-0001;LOT=L2309-A"


@pytest.mark.parametrize(("value", "unit", "text"), [
    (12.5, StrengthUnit.MG, "12.5 mg"), (0.5, StrengthUnit.MG, "0.5 mg"),
    (5.0, StrengthUnit.MG, "5 mg"), (62.5, StrengthUnit.MCG, "62.5 mcg"),
    (1000, StrengthUnit.MG, "1000 mg"), (0.125, StrengthUnit.G, "0.125 g"),
])
def test_strength_has_leading_zero_and_no_trailing_zero(value, unit, text):
    assert format_strength(value, unit) == text


@pytest.mark.parametrize(("over", "field"), [
    ({"drug": ""}, "drug"),
    ({"drug": "Propranolol <script>"}, "drug"),
    ({"drug": "Propranolol\nhydrochloride"}, "drug"),
    ({"drug": "Propranolol  HCl"}, "drug"),
    ({"drug": "W" * 40}, "drug"),  # within 48 chars but too wide for the label
    ({"drug": "Propranolol 普萘洛尔"}, "drug"),  # the label font cannot draw it
    ({"strength_value": 0}, "strength_value"),
    ({"strength_value": -5.0}, "strength_value"),
    ({"strength_value": "12.5 mg"}, "strength_value"),  # never free text
    ({"strength_value": True}, "strength_value"),
    ({"strength_value": float("nan")}, "strength_value"),
    ({"strength_value": 12.3456}, "strength_value"),
    ({"strength_unit": "ml"}, "strength_unit"),
    ({"strength_unit": "µg"}, "strength_unit"),
    ({"storage": "Keep in a cool place"}, "storage"),
    ({"patient_ref": ""}, "patient_ref"),
    ({"patient_ref": "P-1; DROP"}, "patient_ref"),
    ({"rx_id": "RX 1"}, "rx_id"),
    ({"rx_id": "../etc"}, "rx_id"),
    ({"rx_id": "RX-" + "9" * 40}, "rx_id"),  # valid ID, too wide to print
    ({"lot": "L1;LOT=X"}, "lot"),
    ({"lot": ""}, "lot"),
    ({"use_by": TODAY}, "use_by"),
    ({"use_by": dt.date(2020, 1, 1)}, "use_by"),
    ({"use_by": dt.date(2026, 1, 1)}, "use_by"),  # beyond the lot's expiry
    ({"quantity": 0}, "quantity"),
    ({"quantity": 2.5}, "quantity"),
    ({"quantity": 501}, "quantity"),
    ({"notes": "free text"}, "notes"),  # no free-text field exists
])
def test_bad_label_data_is_refused_naming_field_and_value(over, field):
    with pytest.raises(LabelError) as exc:
        label(**over)
    message = str(exc.value)
    assert f"{field} = " in message
    value = next(iter(over.values()))
    shown = value.isoformat() if isinstance(value, dt.date) else repr(value)
    assert shown in message or str(value) in message


def test_enum_error_lists_allowed_storage_conditions():
    with pytest.raises(LabelError) as exc:
        label(storage="cool")
    for allowed in StorageCondition:
        assert allowed.value in str(exc.value)


def test_every_storage_text_fits_at_full_size():
    for cond in StorageCondition:
        lab = label(storage=cond.value)
        storage_line = L.bottom_lines(lab)[0]
        assert storage_line.text == STORAGE_TEXT[cond]
        assert storage_line.size() == storage_line.max_pt


def test_labels_pdf_text_and_pages(tmp_path):
    labs = [label(rx_id=f"RX-{i:03d}", patient_ref=f"Zoë {i}",
                  storage=("refrigerated" if i % 2 else "below_30c_dry")) for i in range(1, 31)]
    out = write_labels(tmp_path / "labels.pdf", labs, today=TODAY)
    assert [p.name for p in tmp_path.iterdir()] == ["labels.pdf"]
    reader = pypdf.PdfReader(str(out))
    assert len(reader.pages) == 2  # 24 per sheet
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    for frag in ("Propranolol hydrochloride", "12.5 mg tablets", "Qty 30", "Lot: L2309-A",
                 "Use by: 10 Sep 2025", "Patient: Zoë 7",
                 STORAGE_TEXT[StorageCondition.REFRIGERATED],
                 STORAGE_TEXT[StorageCondition.BELOW_30C_DRY],
                 "Keep out of the sight and reach of children."):
        assert frag in text, frag
    for i in range(1, 31):
        assert f"Rx: RX-{i:03d}" in text


def test_labels_revalidated_at_print_time(tmp_path):
    lab = label(use_by=dt.date(2025, 4, 1))
    with pytest.raises(LabelError, match="use_by"):
        write_labels(tmp_path / "late.pdf", [lab], today=dt.date(2025, 4, 1))
    assert not list(tmp_path.iterdir())  # nothing written


def test_no_labels_is_an_error(tmp_path):
    with pytest.raises(LabelError, match="no labels"):
        write_labels(tmp_path / "none.pdf", [])


def test_labels_from_rows_skips_unreleasable_rows():
    ok = {"rx_id": "RX-1", "status": "ok", "drug": "Propranolol", "patient_ref": "P-1",
          "formulation": "f1", "quantity": 10, "target_dose_mg": 12.3456789,
          "dose_check": {"passed": True}}
    rows = [ok, {**ok, "rx_id": "RX-2", "dose_check": {"passed": False}},
            {"rx_id": "RX-3", "status": "error"}, {**ok, "rx_id": "RX-4", "formulation": "f9"},
            {**ok, "rx_id": "RX-5", "patient_ref": None}]
    labs, skipped = labels_from_rows(rows, {"f1": ("LOT1", dt.date(2026, 1, 1))},
                                     use_by=dt.date(2025, 9, 1),
                                     storage=StorageCondition.BELOW_25C_DRY, today=TODAY)
    assert [lab.rx_id for lab in labs] == ["RX-1"]
    assert labs[0].strength == "12.346 mg"
    assert [s.split(":")[0] for s in skipped] == ["RX-2", "RX-3", "RX-4", "RX-5"]
    assert "patient_ref" in skipped[-1]


def _decode(image) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    return sorted(r.text for r in zxingcpp.read_barcodes(image))


def test_qr_matrix_decodes_to_rx_and_lot():
    from reportlab.graphics.barcode.qr import QrCodeWidget

    payload = label(rx_id="RX-" + "7" * 20, lot="LOT/2025.03").qr_payload
    widget = QrCodeWidget(payload, barLevel=L.QR_LEVEL)
    widget.qr.make()
    modules = np.array([[bool(m) for m in row] for row in widget.qr.modules])
    img = np.pad(~modules, 4, constant_values=True).astype(np.uint8) * 255
    img = np.kron(img, np.ones((8, 8), dtype=np.uint8))
    assert _decode(img) == [payload]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_qr_codes_decode_from_the_printed_page(tmp_path):
    pytest.importorskip("zxingcpp")
    from PIL import Image

    labs = [label(rx_id=f"RX-{i:03d}") for i in range(1, 5)]
    pdf = write_labels(tmp_path / "qr.pdf", labs, today=TODAY)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(pdf),
                    str(tmp_path / "page")], check=True)
    found = _decode(Image.open(tmp_path / "page.png"))
    assert found == [f"RX=RX-{i:03d};LOT=L2309-A" for i in range(1, 5)]


def test_sheet_geometry_fits_a4():
    assert L.MARGIN_LEFT > 5 * 2.83 and L.MARGIN_TOP > 10 * 2.83
    x, y = L.label_origin(L.PER_PAGE - 1)
    assert x + L.LABEL_W <= L.SHEET[0] - L.MARGIN_LEFT + 1e-6
    assert y >= L.MARGIN_TOP - 1e-6
    assert L.label_origin(L.PER_PAGE) == L.label_origin(0)


def test_same_labels_give_identical_bytes():
    from dosecraft.reports import build_labels

    labs = [label(), label(rx_id="RX-2")]
    assert build_labels(labs, today=TODAY) == build_labels(labs, today=TODAY)
