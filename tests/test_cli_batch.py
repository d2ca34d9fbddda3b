"""``dosecraft batch`` on bad input: per-row errors and a non-zero exit, never a traceback,
and the good rows still produced; whole-file problems exit 2 with one clear message."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dosecraft.cli import app
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HEADER = ",".join(PRESCRIPTION_COLUMNS)
GOOD = "G-01,PT-01,hydrocortisone,2.5,,,11,hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,2"
SSE = "hydrocortisone_gel_sse,generic_sse_syringe"
BAD_ROWS = {
    "wrong type": f"W-01,PT-02,hydrocortisone,abc,,,11,{SSE},,,,,2",
    "wrong quantity": f"W-02,PT-03,hydrocortisone,2.5,,,11,{SSE},,,,,two",
    "duplicate": f"G-01,PT-04,hydrocortisone,2.0,,,11,{SSE},,,,,2",
    "case duplicate": f"g-01,PT-05,hydrocortisone,2.0,,,11,{SSE},,,,,2",
    "path-like": f"../../etc/passwd,PT-06,hydrocortisone,2.0,,,11,{SSE},,,,,2",
    "reserved": f"G-01.plate2,PT-07,hydrocortisone,2.0,,,11,{SSE},,,,,2",
    "huge dose": f"H-01,PT-08,hydrocortisone,1e308,,,11,{SSE},,,,,2",
    "huge quantity": f"H-02,PT-09,hydrocortisone,2.5,,,11,{SSE},,,,,99999999999999999999",
    "unicode drug": f"U-01,PT-10,hydrocortisoné,2.5,,,11,{SSE},,,,,2",
    "unicode patient": f"U-02,Пациент,hydrocortisone,2.5,,,11,{SSE},,,,,2",
    "unicode rx_id": f"RX-é,PT-11,hydrocortisone,2.5,,,11,{SSE},,,,,2",
    "short row": "S-01,PT-12,hydrocortisone",
}

runner = CliRunner()


def invoke(*args: str | Path):  # noqa: ANN201 (click's Result)
    result = runner.invoke(app, [str(a) for a in args])
    # typer.Exit surfaces as SystemExit; anything else would be a traceback for the user
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.output
    assert "Traceback" not in result.output
    return result


def batch(src: Path, tmp_path: Path, *extra: str):  # noqa: ANN201
    return invoke("batch", src, "--out", tmp_path / "out", "--records",
                  tmp_path / "rec.sqlite", "--workers", "1", "--no-release", "--quiet",
                  *extra)


def test_malformed_rows_are_row_errors_and_the_good_row_is_made(tmp_path: Path) -> None:
    src = tmp_path / "rx.csv"
    src.write_text("\n".join([HEADER, GOOD, *BAD_ROWS.values()]) + "\n", encoding="utf-8")
    result = batch(src, tmp_path)
    assert result.exit_code == 1, result.output
    assert (tmp_path / "out/gcode/G-01.gcode").is_file()
    assert sorted(p.name for p in (tmp_path / "out/gcode").iterdir()) == ["G-01.gcode"]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "out/etc").exists()
    doc = json.loads((tmp_path / "out/batch.json").read_text())
    rows = {r["row"]: r for r in doc["rows"]}
    assert len(rows) == 1 + len(BAD_ROWS)
    assert rows[1]["status"] == "ok"
    errors = [rows[n]["error"] for n in range(2, 2 + len(BAD_ROWS))]
    expected = ["'abc' is not a number", "'two' is not a number", "duplicate of row 1",
                "only in letter case", "rx_id", "'.plate<N>' is reserved", "dose_mg",
                "quantity", "does not match formulation", "patient_ref", "rx_id",
                "cells but the header has"]
    for name, message, error in zip(BAD_ROWS, expected, errors, strict=True):
        assert error and message in error, (name, error)
    assert "no labels printed: no formulation lot given" in result.output
    assert f"1 ok, {len(BAD_ROWS)} failed" in result.output


@pytest.mark.parametrize(("name", "content", "message"), [
    ("rx.csv", b"", "the file is empty"),
    ("rx.csv", b"rx_id,drug\nX,paracetamol\n", "missing column(s) formulation, printer"),
    ("rx.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file"),
    ("rx.csv", b"rx_id,drug,formulation,printer\n\xff\xfe caf\xe9\n", "not UTF-8"),
    ("rx.json", b'{"resourceType": "Bundle", "entry": 3}', "no 'entry' list"),
    ("rx.json", b'{"resourceType": "Bundle", "entry": [', "not valid JSON"),
])
def test_unreadable_files_exit_2_with_one_message(tmp_path: Path, name: str, content: bytes,
                                                  message: str) -> None:
    src = tmp_path / name
    src.write_bytes(content)
    result = batch(src, tmp_path)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out/batch.json").exists()


def test_fhir_bundle_with_bad_entries(tmp_path: Path) -> None:
    result = batch(SAMPLES / "fhir/bad_bundle.json", tmp_path, "--printer", "generic_fdm_175")
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in (tmp_path / "out/gcode").iterdir()) == ["FHIR-GOOD-01.gcode"]
    doc = json.loads((tmp_path / "out/batch.json").read_text())
    assert sum(r["status"] == "ok" for r in doc["rows"]) == 1 and len(doc["rows"]) == 13


def test_option_errors(tmp_path: Path) -> None:
    src = tmp_path / "rx.csv"
    src.write_text(f"{HEADER}\n{GOOD}\n")
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    expired = batch(src, tmp_path, "--lot", "L1", "--lot-expiry", yesterday)
    assert expired.exit_code == 2 and "expired on" in expired.output
    assert batch(src, tmp_path, "--lot", "L1").exit_code == 2
    assert "need --send" in batch(src, tmp_path, "--start").output
    assert "--start" in batch(src, tmp_path, "--send", "--wait").output
    assert batch(src, tmp_path, "--use-by", "soon").exit_code == 2
    assert not (tmp_path / "out").exists()


def test_storage_choices_match_the_label_enum() -> None:
    from dosecraft.cli.batch_cmd import Storage
    from dosecraft.reports import StorageCondition

    assert [s.value for s in Storage] == [s.value for s in StorageCondition]
