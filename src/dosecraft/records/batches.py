"""Batches, their prescription rows and designs, and output files.

Every "record" method is an idempotent upsert: recording what is already recorded changes
nothing and adds no audit entry (returns False), so re-running a batch after a crash
neither duplicates rows nor floods the audit log; recording something *different* updates
the row and the audit entry carries the new state (the previous state is in the entity's
earlier entry).
"""

import hashlib
import os
import re
import sqlite3
from collections.abc import Mapping
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from dosecraft.errors import RecordsError
from dosecraft.records.audit import (
    canonical_json,
    output_entity_id,
    prescription_entity_id,
    sha256_hex,
)
from dosecraft.records.core import StoreCore, decode_row
from dosecraft.records.pseudonym import scrub
from dosecraft.records.schema import BATCH_STATUSES

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise RecordsError(f"cannot hash {path}: {exc}") from exc
    return digest.hexdigest()


def batch_id_for(source_sha256: str, options: Mapping[str, Any] | None = None) -> str:
    """Deterministic batch id (16 hex digits) from the input file's hash and the options.

    Include only options that change what is made (formulation lot, printer, overrides),
    not how (worker count): a re-run after a crash must find the same batch.
    """
    check_sha256(source_sha256, "source_sha256")
    key = canonical_json({"source_sha256": source_sha256, "options": dict(options or {})})
    return sha256_hex(key)[:16]


def design_sha256(design: Mapping[str, Any]) -> str:
    """SHA-256 of a design dict's canonical JSON (as stored in the ``designs`` table)."""
    return sha256_hex(canonical_json(dict(design)))


def check_sha256(value: object, name: str) -> str:
    """Return `value` if it is 64 lowercase hex digits, else raise a `RecordsError`."""
    if not isinstance(value, str) or not _SHA256_RE.match(value):
        raise RecordsError(f"{name} {value!r} is not a SHA-256 digest; give 64 lowercase hex "
                           "digits (hashlib.sha256(data).hexdigest())")
    return value


def _relative_posix(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path).replace("\\", "/")
    pure = PurePosixPath(text)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", text) or ".." in pure.parts:
        raise RecordsError(f"output path {text!r} must be relative to the batch output folder "
                           "(e.g. 'gcode/RX001.gcode'), without '..'")
    return pure.as_posix()


class BatchRecords(StoreCore):
    """Batch, prescription and output records (mixed into `RecordStore`)."""

    def start_batch(self, source: str | os.PathLike[str], *, operator: str,
                    options: Mapping[str, Any] | None = None, source_sha256: str | None = None,
                    formulation_lot: str | None = None,
                    formulation_expiry: str | date | None = None, printer: str | None = None,
                    batch_id: str | None = None, output_dir: str | None = None) -> str:
        """Open a batch, or resume it when the same input and options ran before.

        Parameters
        ----------
        source
            The prescriptions file; only its name is stored. Hashed unless `source_sha256`.
        operator
            The pharmacist or technician responsible (also the audit actor).
        options
            The options that define the batch; part of the id (see `batch_id_for`).
        source_sha256
            The file's SHA-256 if already known (then the file need not exist).
        formulation_lot, formulation_expiry, printer
            Material and machine of the batch (expiry as ISO date).
        batch_id
            Override the deterministic id (tests, imports).
        output_dir
            Where this run writes (absolute); logged with every start and resume. The
            batch id does not depend on it, so a run of the same input and options into
            another folder resumes the same batch, and the audit log says which folders.

        Returns
        -------
        str
            The batch id.

        Raises
        ------
        RecordsError
            If the batch exists with a different input, lot, expiry or printer.
        """
        sha = check_sha256(source_sha256, "source_sha256") if source_sha256 else \
            file_sha256(source)
        opts = dict(options or {})
        bid = batch_id or batch_id_for(sha, opts)
        expiry = formulation_expiry.isoformat() if isinstance(formulation_expiry, date) \
            else formulation_expiry
        fields = {"source_name": Path(source).name, "source_sha256": sha,
                  "options": canonical_json(opts), "formulation_lot": formulation_lot,
                  "formulation_expiry": expiry, "printer": printer}
        with self._write() as conn:
            now = self._now()
            old = conn.execute("SELECT * FROM batches WHERE id = ?", (bid,)).fetchone()
            if old is None:
                conn.execute(
                    "INSERT INTO batches (id, created_at, updated_at, operator, source_name,"
                    " source_sha256, options, formulation_lot, formulation_expiry, printer,"
                    " status) VALUES (:id, :now, :now, :operator, :source_name, :source_sha256,"
                    " :options, :formulation_lot, :formulation_expiry, :printer, 'running')",
                    {"id": bid, "now": now, "operator": operator, **fields})
                self._audit(conn, operator, "batch.start", "batch", bid,
                            {**fields, "options": opts, "operator": operator,
                             **({"output_dir": output_dir} if output_dir else {})})
                return bid
            for name in ("source_sha256", "options", "formulation_lot", "formulation_expiry",
                         "printer"):
                if fields[name] is not None and old[name] is not None \
                        and fields[name] != old[name]:
                    raise RecordsError(
                        f"batch {bid} was started with {name} {old[name]!r}; this run has "
                        f"{fields[name]!r}. Make it a new batch (include the difference in "
                        "the options) or re-run with the original value")
            if old["status"] != "running":
                conn.execute("UPDATE batches SET status = 'running', finished_at = NULL,"
                             " updated_at = ? WHERE id = ?", (now, bid))
            self._audit(conn, operator, "batch.resume", "batch", bid,
                        {"previous_status": old["status"],
                         **({"output_dir": output_dir} if output_dir else {})})
        return bid

    def record_prescription(self, batch_id: str, row: Mapping[str, Any], *,
                            patient_ref: str | None = None, actor: str | None = None) -> bool:
        """Record one batch.json row (see `dosecraft.batch.rows`); idempotent.

        Parameters
        ----------
        batch_id
            A started batch.
        row
            The row dict. ``rx_id`` (or, for unreadable input rows, ``row``) identifies it;
            a ``design`` dict is also stored in ``designs``.
        patient_ref
            The patient reference in clear (or ``row["patient_ref"]``); only its
            pseudonym is stored, and the clear text is scrubbed from the row's strings.
        actor
            Audit actor; default the batch operator.

        Returns
        -------
        bool
            True if something was written, False if this exact row was already recorded.
        """
        data = {k: v for k, v in row.items() if k != "patient_ref"}
        rx_id = data.get("rx_id") or (f"row-{data['row']}" if data.get("row") is not None
                                      else None)
        if not rx_id:
            raise RecordsError(f"prescription row has neither rx_id nor row number: {row!r:.200}")
        rx_id = str(rx_id)
        ref = patient_ref if patient_ref is not None else row.get("patient_ref")
        pseudonym = self.pseudonym(ref) if ref else None
        if ref and pseudonym:
            data = scrub(data, ref, f"<patient {pseudonym}>")
            # rx_id is the key outputs are recorded under; it must stay what the caller uses.
            if "rx_id" in row:
                data["rx_id"] = row["rx_id"]
            data["patient_pseudonym"] = pseudonym
        row_json = canonical_json(data)
        design = data.get("design")
        with self._write() as conn:
            operator = self._batch_operator(conn, batch_id)
            old = conn.execute("SELECT row_json FROM prescriptions WHERE batch_id = ? AND"
                               " rx_id = ?", (batch_id, rx_id)).fetchone()
            if old is not None and old["row_json"] == row_json:
                return False
            now = self._now()
            values = {"batch_id": batch_id, "rx_id": rx_id, "row_number": data.get("row"),
                      "patient_pseudonym": pseudonym, "drug": data.get("drug"),
                      "dose_mg": data.get("target_dose_mg"), "quantity": data.get("quantity"),
                      "formulation": data.get("formulation"), "printer": data.get("printer"),
                      "status": str(data.get("status") or "unknown"),
                      "error": data.get("error"), "row_json": row_json, "now": now}
            conn.execute(
                "INSERT INTO prescriptions (batch_id, rx_id, row_number, patient_pseudonym,"
                " drug, dose_mg, quantity, formulation, printer, status, error, row_json,"
                " recorded_at, updated_at) VALUES (:batch_id, :rx_id, :row_number,"
                " :patient_pseudonym, :drug, :dose_mg, :quantity, :formulation, :printer,"
                " :status, :error, :row_json, :now, :now)"
                " ON CONFLICT (batch_id, rx_id) DO UPDATE SET row_number = excluded.row_number,"
                " patient_pseudonym = excluded.patient_pseudonym, drug = excluded.drug,"
                " dose_mg = excluded.dose_mg, quantity = excluded.quantity,"
                " formulation = excluded.formulation, printer = excluded.printer,"
                " status = excluded.status, error = excluded.error,"
                " row_json = excluded.row_json, updated_at = excluded.updated_at", values)
            if isinstance(design, Mapping):
                conn.execute(
                    "INSERT INTO designs (batch_id, rx_id, design_json, design_sha256,"
                    " recorded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (batch_id, rx_id)"
                    " DO UPDATE SET design_json = excluded.design_json,"
                    " design_sha256 = excluded.design_sha256, recorded_at = excluded.recorded_at",
                    (batch_id, rx_id, canonical_json(design), design_sha256(design), now))
            else:
                # A re-run that now fails must not leave the earlier run's design behind.
                conn.execute("DELETE FROM designs WHERE batch_id = ? AND rx_id = ?",
                             (batch_id, rx_id))
            action = "prescription.record" if old is None else "prescription.update"
            self._audit(conn, actor or operator, action, "prescription",
                        prescription_entity_id(batch_id, rx_id), data)
        return True

    def record_output(self, batch_id: str, rx_id: str | None, kind: str,
                      path: str | os.PathLike[str], sha256: str, size: int, *,
                      actor: str | None = None) -> bool:
        """Record a file the batch wrote; idempotent on (batch, rx_id, kind, path).

        Parameters
        ----------
        batch_id
            A started batch.
        rx_id
            The prescription the file belongs to, or None for batch-level files.
        kind
            ``gcode``, ``pdf``, ``labels``, ``worksheet``, ``batch_json``, ``3mf``, …
            (lowercase, up to 32 characters).
        path
            Relative to the batch output folder, stored with ``/`` separators.
        sha256, size
            The file's SHA-256 (hex) and size in bytes.

        Returns
        -------
        bool
            True if written, False if the same file was already recorded.
        """
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise RecordsError(f"output kind {kind!r} is not a short lowercase name; use e.g. "
                               "'gcode', 'pdf', 'labels', 'worksheet', 'batch_json'")
        check_sha256(sha256, "output sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise RecordsError(f"output size {size!r} is not a byte count (int >= 0)")
        rel = _relative_posix(path)
        rx = rx_id or ""
        with self._write() as conn:
            operator = self._batch_operator(conn, batch_id)
            old = conn.execute("SELECT sha256, bytes FROM outputs WHERE batch_id = ? AND"
                               " rx_id = ? AND kind = ? AND path = ?",
                               (batch_id, rx, kind, rel)).fetchone()
            if old is not None and (old["sha256"], old["bytes"]) == (sha256, size):
                return False
            conn.execute(
                "INSERT INTO outputs (batch_id, rx_id, kind, path, sha256, bytes, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id, rx_id, kind, path)"
                " DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes,"
                " recorded_at = excluded.recorded_at",
                (batch_id, rx, kind, rel, sha256, size, self._now()))
            action = "output.record" if old is None else "output.update"
            self._audit(conn, actor or operator, action, "output",
                        output_entity_id(batch_id, rx_id, kind, rel),
                        {"batch_id": batch_id, "rx_id": rx_id, "kind": kind, "path": rel,
                         "sha256": sha256, "bytes": size})
        return True

    def finish_batch(self, batch_id: str, *, status: str | None = None,
                     actor: str | None = None) -> str:
        """Close a batch. Default status: ``finished``, or ``finished_with_errors`` when any
        prescription row is not ``ok``. Returns the status; idempotent."""
        if status is not None and status not in BATCH_STATUSES[1:]:
            raise RecordsError(f"batch status {status!r} is not one of "
                               f"{', '.join(BATCH_STATUSES[1:])}")
        with self._write() as conn:
            operator = self._batch_operator(conn, batch_id)
            counts = self._counts(conn, batch_id)
            final = status or ("finished_with_errors" if counts["failed"] else "finished")
            old = conn.execute("SELECT status FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if old["status"] == final:
                return final
            now = self._now()
            conn.execute("UPDATE batches SET status = ?, finished_at = ?, updated_at = ?"
                         " WHERE id = ?", (final, now, now, batch_id))
            self._audit(conn, actor or operator, "batch.finish", "batch", batch_id,
                        {"status": final, **counts})
        return final

    # -- reading ----------------------------------------------------------------------------

    def _batch_operator(self, conn: sqlite3.Connection, batch_id: str) -> str:
        row = conn.execute("SELECT operator FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise RecordsError(self._unknown_batch(batch_id))
        return str(row["operator"])

    def _unknown_batch(self, batch_id: str) -> str:
        recent = [r["id"] for r in self._all(
            "SELECT id FROM batches ORDER BY created_at DESC LIMIT 5")]
        known = f"recent batches: {', '.join(recent)}" if recent else "it has no batches yet"
        return f"no batch {batch_id!r} in {self.path}; {known}"

    @staticmethod
    def _counts(conn: sqlite3.Connection, batch_id: str) -> dict[str, int]:
        row = conn.execute(
            "SELECT count(*) AS n, coalesce(sum(status != 'ok'), 0) AS failed,"
            " (SELECT count(*) FROM outputs WHERE batch_id = :b) AS outputs"
            " FROM prescriptions WHERE batch_id = :b", {"b": batch_id}).fetchone()
        return {"prescriptions": int(row["n"]), "ok": int(row["n"]) - int(row["failed"]),
                "failed": int(row["failed"]), "outputs": int(row["outputs"])}

    def resolve_batch_id(self, prefix: str) -> str:
        """The full id of the one batch whose id starts with `prefix` (for the CLI)."""
        rows = self._all("SELECT id FROM batches WHERE substr(id, 1, ?) = ? ORDER BY id",
                         (len(prefix), prefix))
        if len(rows) == 1:
            return str(rows[0]["id"])
        if not rows:
            raise RecordsError(self._unknown_batch(prefix))
        raise RecordsError(f"batch id prefix {prefix!r} matches {len(rows)} batches "
                           f"({', '.join(r['id'] for r in rows[:5])}); give more digits")

    def batch(self, batch_id: str) -> dict[str, Any]:
        """The batch row as a dict (``options`` decoded) plus its row counts."""
        row = self._one("SELECT * FROM batches WHERE id = ?", (batch_id,))
        if row is None:
            raise RecordsError(self._unknown_batch(batch_id))
        out = decode_row(row, "options")
        out["counts"] = self._counts(self._conn, batch_id)
        return out

    def list_batches(self) -> list[dict[str, Any]]:
        """All batches, newest first, each with its counts."""
        rows = self._all("SELECT * FROM batches ORDER BY created_at DESC, id")
        return [{**decode_row(r, "options"), "counts": self._counts(self._conn, r["id"])}
                for r in rows]
