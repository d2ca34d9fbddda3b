"""The batch's side of the compounding records: what it writes to `RecordStore`, and when.

Every write is one of the store's idempotent upserts, so a resumed run records what is new
and adds no audit entry for what was already recorded (the records of a batch killed and
re-run read as if it had run once, plus one ``batch.resume`` entry per re-run).

The worksheet is anchored to the audit log by the last entry that records this batch's
data (prescriptions and outputs, not the documents themselves nor resume/finish entries):
on a re-run that changes nothing the anchor, and so the worksheet, stays byte-identical;
``dosecraft audit verify --anchor SEQ:HASH`` checks a printed anchor.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dosecraft.records import RecordStore, default_records_path

#: Output kinds of the documents (excluded from the worksheet's anchor).
DOCUMENT_KINDS = ("worksheet", "labels")
_NOT_ANCHORS = ("batch.resume", "batch.finish")


class Recorder:
    """Records one batch; a no-op stand-in when the batch runs without records.

    Parameters
    ----------
    path : records file (None: no records, e.g. a benchmark or a library call).
    operator : the responsible operator (also the audit actor).
    """

    def __init__(self, path: str | os.PathLike[str] | None, operator: str) -> None:
        self.operator = operator
        self.store = RecordStore(path, actor=operator) if path is not None else None
        self.batch_id: str | None = None

    @classmethod
    def default_path(cls) -> Path:
        return default_records_path()

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- before the work -------------------------------------------------------------

    def mass_factor(self, printer: str, formulation: str) -> float | None:
        """The calibrated mass factor for a printer × formulation, or None.

        Raises
        ------
        RecordsError
            It was measured under other printer settings (see `checked_factor`).
        """
        if self.store is None:
            return None
        from dosecraft.errors import ProfileError
        from dosecraft.profiles import load_profile
        from dosecraft.records.calibrated import checked_factor

        try:
            profile = load_profile(printer)
        except ProfileError:
            profile = None  # the rows name the unknown printer
        return checked_factor(self.store.latest_calibration(printer, formulation), profile)

    def start(self, batch_id: str, source: Path, source_sha256: str,
              options: Mapping[str, Any], *, lot: str | None, expiry: dt.date | None,
              printer: str | None, output_dir: Path | None = None) -> None:
        """Open (or resume) the batch; `output_dir` goes into the audit log."""
        self.batch_id = batch_id
        if self.store is not None:
            self.store.start_batch(source, operator=self.operator, options=options,
                                   source_sha256=source_sha256, formulation_lot=lot,
                                   formulation_expiry=expiry, printer=printer,
                                   batch_id=batch_id,
                                   output_dir=str(output_dir) if output_dir else None)

    def batch_operator(self) -> str:
        """The operator the batch was started by (a re-run by someone else keeps it)."""
        if self.store is None or self.batch_id is None:
            return self.operator
        return str(self.store.batch(self.batch_id)["operator"])

    def batch_date(self, today: dt.date) -> dt.date:
        """The compounding date: when the batch was first started (stable across re-runs,
        so that documents do not change with the day a crashed batch is resumed)."""
        if self.store is None or self.batch_id is None:
            return today
        created = str(self.store.batch(self.batch_id)["created_at"]).replace("Z", "+00:00")
        return dt.datetime.fromisoformat(created).astimezone().date()

    # -- as the work completes ---------------------------------------------------------

    def record_row(self, key: str, row: Mapping[str, Any]) -> None:
        """Record one prescription row (under `key`) and the G-code files it names."""
        if self.store is None or self.batch_id is None:
            return
        data = dict(row)
        if key != row.get("rx_id"):
            # a duplicate or malformed rx_id is kept for the reader, not used as the key
            data["input_rx_id"] = row.get("rx_id")
            data["rx_id"] = key
        self.store.record_prescription(self.batch_id, data,
                                       patient_ref=row.get("patient_ref") or None)
        if row.get("status") == "ok":
            for f in row.get("gcode_files") or []:
                self.store.record_output(self.batch_id, key, "gcode", f["path"], f["sha256"],
                                         int(f["bytes"]))

    def record_output(self, kind: str, path: str, sha256: str, size: int,
                      rx_id: str | None = None) -> None:
        """Record a batch-level file (plate, batch.json, worksheet, labels)."""
        if self.store is not None and self.batch_id is not None:
            self.store.record_output(self.batch_id, rx_id, kind, path, sha256, size)

    def record_print_job(self, printer: str, job_id: str, file_sha256: str,
                         state: str) -> None:
        if self.store is not None and self.batch_id is not None:
            self.store.record_print_job(printer, job_id, file_sha256, batch_id=self.batch_id,
                                        state=state)

    # -- at the end ------------------------------------------------------------------

    def anchor(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest audit entry of this batch's data (module doc)."""
        if self.store is None or self.batch_id is None:
            return None
        for entry in reversed(self.store.audit_entries(id_prefix=self.batch_id)):
            if entry.action in _NOT_ANCHORS:
                continue
            if entry.entity == "output" and entry.payload.get("kind") in DOCUMENT_KINDS:
                continue
            return entry.seq, entry.hash
        return None

    def finish(self) -> str | None:
        """Close the batch; its status says whether any prescription failed."""
        if self.store is None or self.batch_id is None:
            return None
        return self.store.finish_batch(self.batch_id)
