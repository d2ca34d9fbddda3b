"""Records of one prescription's G-code written outside a batch (`design -o`, the app).

A G-code file that can be printed must be in the compounding records, whoever wrote it.
Such a file is recorded as a batch of one: the "input" is the prescription itself (its
canonical JSON, hashed), the options say it came from a single design and with which mass
factor, the row is the same one `batch.json` would hold, and each written file is an
output with its SHA-256. Writing the same tablet again resumes that batch, so records are
not duplicated; a new dose, printer or calibration is a new batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from dosecraft import __version__
from dosecraft.batch.recording import Recorder
from dosecraft.batch.rows import result_row
from dosecraft.errors import RecordsError
from dosecraft.pipeline import JobResult
from dosecraft.records import batch_id_for, canonical_json

#: The `kind` option of these batches (calibration plates use "calibration").
SINGLE_KIND = "single"


def record_single(result: JobResult, files: Sequence[Path], records: Path,
                  operator: str, origin: str) -> str:
    """Record `result` and the G-code `files` written for it; returns the batch ID.

    Parameters
    ----------
    result : a successful job whose plates `files` hold, in order.
    files : the G-code files as written (one per plate).
    records : the records database (created if missing).
    operator : who wrote the files.
    origin : what wrote them (``"dosecraft design"``, ``"dosecraft app"``).

    Raises
    ------
    RecordsError
        The records refuse the batch, or `files` do not match the result's plates.
    """
    if not result.ok or len(files) != len(result.plates):
        raise RecordsError(f"{result.rx_id}: only a verified result with one file per plate "
                           "is recorded")
    rx = result.prescription
    source = canonical_json({"prescription": rx.model_dump(mode="json"), "origin": origin})
    source_sha256 = hashlib.sha256(source.encode("utf-8")).hexdigest()
    factor = result.formulation.mass_factor if result.formulation is not None else None
    options = {"kind": SINGLE_KIND, "origin": origin, "mass_factor": factor,
               "dosecraft": __version__}
    batch_id = batch_id_for(source_sha256, options)
    out_dir = Path(files[0]).parent.resolve()
    row = result_row(1, result)
    row["gcode_files"] = []
    for path, plate in zip(files, result.plates, strict=True):
        data = Path(path).read_bytes()
        if hashlib.sha256(data).hexdigest() != plate.program.sha256:
            raise RecordsError(f"{path} is not the verified program of {rx.rx_id}")
        row["gcode_files"].append({"path": Path(path).name, "sha256": plate.program.sha256,
                                   "bytes": len(data)})
    with Recorder(records, operator) as recorder:
        recorder.start(batch_id, Path(f"{rx.rx_id}.json"), source_sha256, options, lot=None,
                       expiry=None, printer=rx.printer, output_dir=out_dir)
        recorder.record_row(rx.rx_id, row)
        recorder.finish()
    return batch_id


def save_and_record(result: JobResult, path: str | Path, records: Path, operator: str,
                    origin: str) -> tuple[list[Path], str]:
    """Write the verified G-code of `result` (see `gcode.job.save_plates`) and record it;
    the files and the batch ID. When the records refuse, the files are removed again: a
    printable file must not exist without its record.

    Raises
    ------
    OSError, ValueError
        The files cannot be written (see `gcode.job.check_gcode_path`).
    RecordsError
        The records cannot take them (nothing is left behind).
    """
    from dosecraft.gcode.job import save_plates

    files = save_plates(result.plates, path)
    try:
        batch_id = record_single(result, files, records, operator, origin)
    except BaseException:
        for f in files:
            f.unlink(missing_ok=True)
        raise
    return files, batch_id
