"""Run a prescriptions file through the pipeline and write `batch.json`."""

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosecraft import __version__
from dosecraft.batch.atomic import write_atomic
from dosecraft.batch.rows import error_row, result_row
from dosecraft.io.prescriptions import RowResult, read_prescriptions
from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import Job, JobResult, run_job

RowCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class BatchSummary:
    rows: list[dict[str, Any]]
    out_dir: Path

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r["status"] != "ok")

    @property
    def ok(self) -> int:
        return len(self.rows) - self.failed


def gcode_names(rx_id: str, plates: int) -> list[str]:
    """File names of a prescription's plates: `<rx_id>.gcode`, then `<rx_id>.plate2.gcode`…"""
    return [f"{rx_id}.gcode" if k == 1 else f"{rx_id}.plate{k}.gcode"
            for k in range(1, plates + 1)]


def write_outputs(result: JobResult, out_dir: Path, row: dict[str, Any]) -> None:
    """Write a prescription's G-code files atomically and note them in its row."""
    if not result.ok or not result.plates:
        return
    gcode_dir = out_dir / "gcode"
    names = gcode_names(result.rx_id, len(result.plates))
    for name, plate in zip(names, result.plates, strict=True):
        write_atomic(gcode_dir / name, plate.program.text)
    row["gcode"] = f"gcode/{names[0]}"
    row["gcode_files"] = [{"path": f"gcode/{n}", "sha256": p.program.sha256,
                           "tablets": list(p.program.objects)}
                          for n, p in zip(names, result.plates, strict=True)]


def _run_one(item: tuple[int, Prescription, str]) -> dict[str, Any]:
    """Worker: one prescription → its batch row. Never raises (a crash is a row error)."""
    row_number, rx, out_dir = item
    try:
        result: JobResult = run_job(Job(prescription=rx))
        row = result_row(row_number, result)
        write_outputs(result, Path(out_dir), row)
        return row
    except Exception as exc:  # a bug must not stop the other rows; the row says what broke
        return {"row": row_number, "rx_id": rx.rx_id, "status": "error",
                "error": f"internal error ({type(exc).__name__}): {exc}",
                "target_dose_mg": round(rx.unit_dose_mg, 6), "design": None}


def run_batch(path: str | os.PathLike, out_dir: str | os.PathLike, *, workers: int = 1,
              on_row: RowCallback | None = None) -> BatchSummary:
    """Run every row of a prescriptions file; write `out_dir/batch.json` atomically.

    A row that fails is recorded with its error and never stops the others.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_in: list[RowResult] = read_prescriptions(path)
    results: dict[int, dict[str, Any]] = {}
    for r in rows_in:
        if not r.ok:
            results[r.row] = error_row(r)
            if on_row:
                on_row(results[r.row])
    todo = [(r.row, r.prescription, str(out)) for r in rows_in
            if r.ok and r.prescription is not None]
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(_run_one, todo, chunksize=max(1, len(todo) // (4 * workers))):
                results[row["row"]] = row
                if on_row:
                    on_row(row)
    else:
        for item in todo:
            row = _run_one(item)
            results[row["row"]] = row
            if on_row:
                on_row(row)
    ordered = [results[k] for k in sorted(results)]
    document = {"dosecraft_version": __version__, "source": Path(path).name,
                "rows": ordered}
    write_atomic(out / "batch.json", json.dumps(document, indent=2, sort_keys=False) + "\n")
    return BatchSummary(ordered, out)
