"""The compounding worksheet PDF: written for real, its text extracted and checked."""

import datetime as dt
import hashlib
import math
import re

import pytest

pypdf = pytest.importorskip("pypdf")

from dosecraft import __version__  # noqa: E402
from dosecraft.reports import BatchInfo, FormulationLot, build_worksheet, write_worksheet  # noqa: E402
from dosecraft.reports.worksheet_rows import shape_text, split_rows  # noqa: E402

SOURCE_SHA = hashlib.sha256(b"prescriptions").hexdigest()


def release(t80: float) -> dict:
    k = -math.log(0.2) / t80
    ts = [10.0 * i for i in range(25)]
    return {"model": "sav_mdt", "t50_min": math.log(2) / k, "t80_min": t80, "mdt_min": 1 / k,
            "curve": [[t, 1 - math.exp(-k * t)] for t in ts]}


def ok_row(i: int, dose: float = 12.5, err: float = 0.0021, passed: bool = True,
           drug: str = "Propranolol", patient: str | None = None) -> dict:
    gcode = dose * (1 + err)
    return {
        "row": i, "rx_id": f"RX-{i:04d}", "status": "ok", "error": None, "drug": drug,
        "patient_ref": patient or f"P-{i:03d}", "formulation": "propranolol_pva",
        "printer": "mk4", "quantity": 30, "target_dose_mg": dose,
        "design": {"shape": "cylinder", "dimensions_mm": {"diameter": 8.0, "height": 3.2},
                   "infill": {"density": 0.35, "pattern": "gyroid"}},
        "dose_check": {"target_mg": dose, "design_mg": dose, "toolpath_mg": gcode,
                       "gcode_mg": gcode, "relative_error": err, "passed": passed},
        "dose_mg_gcode": gcode, "gcode": f"gcode/RX-{i:04d}.gcode",
        "gcode_sha256": hashlib.sha256(str(i).encode()).hexdigest(),
        "release": release(30.0 + 5 * (i % 4)), "warnings": [],
    }


def error_row(i: int, message: str) -> dict:
    return {"row": i, "rx_id": f"RX-{i:04d}", "status": "error", "error": message,
            "target_dose_mg": 480.0, "design": None, "drug": "Paracetamol"}


@pytest.fixture
def batch() -> BatchInfo:
    return BatchInfo(
        batch_id="B-2025-0042", date=dt.date(2025, 3, 14), operator="Zoë Łukasiewicz",
        source_file="week11.csv", source_sha256=SOURCE_SHA,
        formulations=[FormulationLot(formulation_id="propranolol_pva", name="Propranolol PVA",
                                     lot="L2309-A", expiry=dt.date(2025, 12, 31)),
                      FormulationLot(formulation_id="old_paste", lot="OLD-1",
                                     expiry=dt.date(2025, 1, 31))],
        printers=["mk4"],
    )


def pdf_pages(path) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(str(path)).pages]


def flat(text: str) -> str:
    """Extracted text with line breaks and runs of spaces collapsed (cells wrap)."""
    return re.sub(r"\s+", " ", text)


def test_worksheet_contains_batch_rows_and_signatures(tmp_path, batch):
    rows = [ok_row(1), ok_row(2, dose=6.25, err=-0.004), ok_row(3, err=0.0142, passed=False),
            error_row(4, "InfeasibleDose: 480 mg needs 2 tablets of 240 mg")]
    out = write_worksheet(tmp_path / "ws.pdf", batch, rows)
    assert out == tmp_path / "ws.pdf"
    assert [p.name for p in tmp_path.iterdir()] == ["ws.pdf"]  # no temp file left
    text = flat(" ".join(pdf_pages(out)))
    for fragment in ("B-2025-0042", "2025-03-14", "Zoë Łukasiewicz", "week11.csv", SOURCE_SHA,
                     "L2309-A", "2025-12-31", "EXPIRED", __version__,
                     "RX-0001", "RX-0002", "RX-0003", "RX-0004",
                     "12.500", "12.526", "6.250", "6.225", "+0.21", "-0.40", "+1.42",
                     "PASS", "FAIL", "cylinder D 8.00 × H 3.20 mm", "35 % gyroid",
                     hashlib.sha256(b"1").hexdigest()[:12],
                     "InfeasibleDose: 480 mg needs 2 tablets of 240 mg",
                     "dose check failed", "Signatures", "Prepared by", "Checked by",
                     "Released by", "Signature", "Date", "Predicted release"):
        assert fragment in text, fragment
    assert text.count("PASS") == 2 and text.count("FAIL") == 1
    assert "2 prescription(s) ready for release, 2 failed or unverified" in text


def test_empty_batch(tmp_path, batch):
    text = flat(" ".join(pdf_pages(write_worksheet(tmp_path / "e.pdf", batch, []))))
    assert "No tablets were printed" in text
    assert "No release predictions" in text
    assert "Released by" in text


def test_all_failed_batch(tmp_path, batch):
    rows = [error_row(i, f"row {i}: dose_mg = 'abc': not a number") for i in range(1, 6)]
    text = flat(" ".join(pdf_pages(write_worksheet(tmp_path / "f.pdf", batch, rows))))
    assert "Tablets (0)" in text and "do not release (5)" in text
    for i in range(1, 6):
        assert f"RX-{i:04d}" in text


def test_many_rows_span_pages_with_repeated_header(tmp_path, batch):
    rows = [ok_row(i) for i in range(1, 151)]
    pages = pdf_pages(write_worksheet(tmp_path / "m.pdf", batch, rows))
    assert len(pages) >= 5
    joined = flat(" ".join(pages))
    for i in range(1, 151):
        assert f"RX-{i:04d}" in joined
    table_pages = [p for p in pages if re.search(r"RX-0\d{3}", p)]
    assert all("G-code SHA-256" in flat(p) for p in table_pages)  # header repeated
    assert all(f"of {len(pages)}" in p for p in pages)  # "page X of Y" footer


def test_unicode_markup_and_missing_keys_do_not_crash(tmp_path, batch):
    rows = [
        ok_row(1, drug="Ωmega <b>3</b> & Co", patient="王芳 😀"),
        ok_row(2, drug="x" * 300),
        {"rx_id": "RX-9", "status": "ok"},  # a row with almost nothing in it
        {"status": "error"},
        error_row(5, "E" * 5000),
        {"rx_id": "RX-10", "status": "ok", "design": {"shape": "mesh", "dimensions_mm": "?"},
         "dose_check": {"passed": "yes"}, "target_dose_mg": float("nan"), "quantity": True},
    ]
    text = flat(" ".join(pdf_pages(write_worksheet(tmp_path / "u.pdf", batch, rows))))
    assert "Ωmega <b>3</b> & Co" in text
    # Characters the font lacks stay recoverable as code points (the cell may wrap them).
    assert all(cp in text.replace(" ", "") for cp in ("[U+738B]", "[U+1F600]"))
    assert "RX-9" in text and "RX-10" in text
    assert "no dose check recorded" in text


def test_same_inputs_give_identical_bytes(batch):
    rows = [ok_row(1), ok_row(2)]
    assert build_worksheet(batch, rows) == build_worksheet(batch, rows)


def test_batch_without_lots_warns(tmp_path, batch):
    bare = batch.model_copy(update={"formulations": ()})
    text = flat(" ".join(pdf_pages(write_worksheet(tmp_path / "n.pdf", bare, [ok_row(1)]))))
    assert "No formulation lot recorded" in text


def test_split_rows_lists_unverified_and_failed():
    lines, failed = split_rows([ok_row(1), ok_row(2, passed=False), {"rx_id": "X", "status": "ok"},
                                error_row(4, "boom")])
    assert [ln.rx_id for ln in lines] == ["RX-0001", "RX-0002", "X"]
    assert [f.rx_id for f in failed] == ["RX-0002", "X", "RX-0004"]
    assert lines[0].error_pct == pytest.approx(0.21)


@pytest.mark.parametrize(("design", "text"), [
    ({"shape": "caplet", "dimensions_mm": {"length": 14, "width": 7, "height": 4.1}},
     "caplet L 14.00 × W 7.00 × H 4.10 mm"),
    ({"shape": "torus", "dimensions_mm": {"outer_diameter": 10, "inner_diameter": 3,
                                          "height": 3}}, "torus OD 10.00 × ID 3.00 × H 3.00 mm"),
    ({"shape": "mesh", "dimensions_mm": {"x": 5}}, "mesh x 5.00 mm"),
    (None, "—"),
])
def test_shape_text(design, text):
    assert shape_text(design) == text
