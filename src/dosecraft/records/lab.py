"""QC results, mass-factor calibrations and print jobs (mixed into `RecordStore`)."""

import math
import sqlite3
from collections.abc import Mapping
from typing import Any

from dosecraft.errors import RecordsError
from dosecraft.records.audit import canonical_json
from dosecraft.records.batches import BatchRecords, check_sha256
from dosecraft.records.core import decode_row
from dosecraft.records.schema import PRINT_JOB_STATES

#: Allowed print-job state changes. Printers are polled, so a job may jump from ``sent``
#: straight to an end state; an end state is final.
_NEXT_STATES: dict[str, frozenset[str]] = {
    "sent": frozenset({"printing", "finished", "failed", "cancelled"}),
    "printing": frozenset({"finished", "failed", "cancelled"}),
    "finished": frozenset(), "failed": frozenset(), "cancelled": frozenset(),
}


def _finite(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordsError(f"{name} {value!r} is not a finite number")
    return float(value)


def _check_state(state: str) -> str:
    if state not in PRINT_JOB_STATES:
        raise RecordsError(f"print job state {state!r} is not one of "
                           f"{', '.join(PRINT_JOB_STATES)}")
    return state


def latest_calibration(conn: sqlite3.Connection, printer: str,
                       formulation: str) -> dict[str, Any] | None:
    """The newest calibration row of this pair (details decoded), or None."""
    # By id, not created_at: ids only grow, a wall clock can step back.
    row = conn.execute("SELECT * FROM calibrations WHERE printer = ? AND formulation = ?"
                       " ORDER BY id DESC LIMIT 1", (printer, formulation)).fetchone()
    return None if row is None else decode_row(row, "details")


class LabRecords(BatchRecords):
    """QC, calibration and print-job records."""

    # -- QC -----------------------------------------------------------------------------

    def record_qc(self, batch_id: str, *, method: str, passed: bool, rx_id: str | None = None,
                  tablet_index: int | None = None, mass_mg: float | None = None,
                  content_pct: float | None = None, acceptance_value: float | None = None,
                  details: Mapping[str, Any] | None = None, actor: str | None = None) -> bool:
        """Record one QC result; idempotent on (batch, rx_id, tablet_index, method).

        Parameters
        ----------
        batch_id
            A started batch.
        method
            The test, e.g. ``USP905`` (uniformity of dosage units), ``PhEur2.9.40``,
            ``weight``.
        passed
            The verdict of this result.
        rx_id
            The prescription tested, or None for a batch-level result.
        tablet_index
            The tablet (0-based, as labelled on the plate), or None for a result over all
            tablets (e.g. the acceptance value).
        mass_mg, content_pct, acceptance_value
            What was measured or computed (any may be None).
        details
            Extra JSON data (balance id, raw readings, limits used).
        actor
            Who measured; default the store's actor.

        Returns
        -------
        bool
            True if written, False if this exact result was already recorded.
        """
        if tablet_index is not None and (isinstance(tablet_index, bool)
                                         or not isinstance(tablet_index, int)
                                         or tablet_index < 0):
            raise RecordsError(f"tablet_index {tablet_index!r} must be an int >= 0 or None")
        if not method or not str(method).strip():
            raise RecordsError("QC method is empty; name it, e.g. 'USP905'")
        values = {"batch_id": batch_id, "rx_id": rx_id or "", "tablet_index": tablet_index,
                  "method": str(method), "mass_mg": _finite(mass_mg, "mass_mg"),
                  "content_pct": _finite(content_pct, "content_pct"),
                  "acceptance_value": _finite(acceptance_value, "acceptance_value"),
                  "passed": 1 if passed else 0, "details": canonical_json(dict(details or {})),
                  "operator": actor or self.actor}
        compared = ("mass_mg", "content_pct", "acceptance_value", "passed", "details",
                    "operator")
        with self._write() as conn:
            self._batch_operator(conn, batch_id)  # the batch must exist
            old = conn.execute(
                "SELECT * FROM qc_results WHERE batch_id = ? AND rx_id = ? AND"
                " ifnull(tablet_index, -1) = ? AND method = ?",
                (batch_id, values["rx_id"], -1 if tablet_index is None else tablet_index,
                 values["method"])).fetchone()
            if old is not None and all(old[k] == values[k] for k in compared):
                return False
            values["now"] = self._now()
            if old is None:
                conn.execute(
                    "INSERT INTO qc_results (batch_id, rx_id, tablet_index, method, mass_mg,"
                    " content_pct, acceptance_value, passed, details, operator, recorded_at)"
                    " VALUES (:batch_id, :rx_id, :tablet_index, :method, :mass_mg,"
                    " :content_pct, :acceptance_value, :passed, :details, :operator, :now)",
                    values)
            else:
                conn.execute(
                    "UPDATE qc_results SET mass_mg = :mass_mg, content_pct = :content_pct,"
                    " acceptance_value = :acceptance_value, passed = :passed,"
                    " details = :details, operator = :operator, recorded_at = :now"
                    " WHERE id = :id", {**values, "id": old["id"]})
            tablet = "-" if tablet_index is None else str(tablet_index)
            payload = {k: values[k] for k in ("rx_id", "tablet_index", "method", "mass_mg",
                                              "content_pct", "acceptance_value")}
            payload.update(batch_id=batch_id, passed=bool(passed), details=dict(details or {}))
            self._audit(conn, values["operator"], "qc.record" if old is None else "qc.update",
                        "qc", f"{batch_id}/{rx_id or '-'}/{values['method']}/{tablet}", payload)
        return True

    def qc_results(self, batch_id: str) -> list[dict[str, Any]]:
        """QC results of a batch, by prescription, method and tablet."""
        rows = self._all("SELECT * FROM qc_results WHERE batch_id = ? ORDER BY rx_id, method,"
                         " ifnull(tablet_index, -1)", (batch_id,))
        out = []
        for r in rows:
            item = decode_row(r, "details")
            item["passed"] = bool(item["passed"])
            item["rx_id"] = item["rx_id"] or None
            out.append(item)
        return out

    # -- calibration --------------------------------------------------------------------

    def record_calibration(self, printer: str, formulation: str, *, new_mass_factor: float,
                           n_tablets: int, data_sha256: str,
                           old_mass_factor: float | None = None,
                           details: Mapping[str, Any] | None = None,
                           actor: str | None = None) -> int:
        """Record a measured mass factor for a printer × formulation.

        Idempotent on (printer, formulation, data_sha256): the same weighing data recorded
        again returns the existing calibration's id without a new row.

        Parameters
        ----------
        printer, formulation
            Profile and formulation ids.
        new_mass_factor
            Measured mass / predicted mass (> 0); becomes `latest_mass_factor`.
        n_tablets
            Calibration tablets weighed (> 0).
        data_sha256
            SHA-256 of the weighing data file.
        old_mass_factor
            The factor in use before, if any.
        details
            Extra JSON data, e.g. ``CalibrationResult.to_dict()`` (ratios, CV, interval).
        actor
            The operator; default the store's actor.

        Returns
        -------
        int
            The calibration id.
        """
        new = _finite(new_mass_factor, "new_mass_factor")
        if new is None or new <= 0:
            raise RecordsError(f"new_mass_factor {new_mass_factor!r} must be > 0 (measured "
                               "mass / predicted mass, typically 0.8–1.2)")
        if isinstance(n_tablets, bool) or not isinstance(n_tablets, int) or n_tablets < 1:
            raise RecordsError(f"n_tablets {n_tablets!r} must be an int >= 1")
        check_sha256(data_sha256, "data_sha256")
        operator = actor or self.actor
        with self._write() as conn:
            old = conn.execute("SELECT id FROM calibrations WHERE printer = ? AND"
                               " formulation = ? AND data_sha256 = ?",
                               (printer, formulation, data_sha256)).fetchone()
            if old is not None:
                return int(old["id"])
            fields = {"printer": printer, "formulation": formulation,
                      "old_mass_factor": _finite(old_mass_factor, "old_mass_factor"),
                      "new_mass_factor": new, "n_tablets": n_tablets,
                      "data_sha256": data_sha256, "operator": operator,
                      "details": dict(details or {})}
            cur = conn.execute(
                "INSERT INTO calibrations (printer, formulation, old_mass_factor,"
                " new_mass_factor, n_tablets, data_sha256, details, operator, created_at)"
                " VALUES (:printer, :formulation, :old_mass_factor, :new_mass_factor,"
                " :n_tablets, :data_sha256, :details, :operator, :now)",
                {**fields, "details": canonical_json(fields["details"]), "now": self._now()})
            cal_id = int(cur.lastrowid or 0)
            self._audit(conn, operator, "calibration.record", "calibration", str(cal_id),
                        fields)
        return cal_id

    def latest_calibration(self, printer: str, formulation: str) -> dict[str, Any] | None:
        """The newest calibration of this pair (a dict with decoded details), or None."""
        return latest_calibration(self._conn, printer, formulation)

    def latest_mass_factor(self, printer: str, formulation: str) -> float | None:
        """The most recently recorded mass factor for this pair, or None if never calibrated."""
        row = latest_calibration(self._conn, printer, formulation)
        return None if row is None else float(row["new_mass_factor"])

    def calibrations(self, printer: str | None = None,
                     formulation: str | None = None) -> list[dict[str, Any]]:
        """Calibration history, newest first, optionally for one printer and/or formulation."""
        rows = self._all(
            "SELECT * FROM calibrations WHERE (:p IS NULL OR printer = :p) AND"
            " (:f IS NULL OR formulation = :f) ORDER BY id DESC",
            {"p": printer, "f": formulation})
        return [decode_row(r, "details") for r in rows]

    # -- print jobs -----------------------------------------------------------------------

    def record_print_job(self, printer: str, job_id: str, file_sha256: str, *,
                         batch_id: str | None = None, rx_id: str | None = None,
                         state: str = "sent", actor: str | None = None) -> bool:
        """Record a job sent to a printer; idempotent on (printer, job_id).

        Returns
        -------
        bool
            True if written, False if this job was already recorded with this file.

        Raises
        ------
        RecordsError
            If the job id is already recorded with a different file.
        """
        check_sha256(file_sha256, "file_sha256")
        _check_state(state)
        with self._write() as conn:
            if batch_id is not None:
                self._batch_operator(conn, batch_id)
            old = conn.execute("SELECT * FROM print_jobs WHERE printer = ? AND job_id = ?",
                               (printer, str(job_id))).fetchone()
            if old is not None:
                if old["file_sha256"] != file_sha256:
                    raise RecordsError(
                        f"print job {job_id!r} on {printer!r} is recorded with file "
                        f"{old['file_sha256'][:12]}…, not {file_sha256[:12]}…; a printer job "
                        "id names one file — record the new file under its own job id")
                return False
            now = self._now()
            started = now if state == "printing" else None
            ended = now if state in ("finished", "failed", "cancelled") else None
            conn.execute(
                "INSERT INTO print_jobs (printer, job_id, file_sha256, batch_id, rx_id, state,"
                " sent_at, started_at, ended_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)", (printer, str(job_id), file_sha256, batch_id, rx_id, state, now,
                           started, ended, now))
            self._audit(conn, actor, "print_job.send", "print_job", f"{printer}/{job_id}",
                        {"printer": printer, "job_id": str(job_id), "file_sha256": file_sha256,
                         "batch_id": batch_id, "rx_id": rx_id, "state": state})
        return True

    def update_print_job(self, printer: str, job_id: str, state: str, *,
                         message: str | None = None, actor: str | None = None) -> bool:
        """Move a print job to `state` (``printing``, ``finished``, ``failed``, ``cancelled``).

        Returns
        -------
        bool
            True if the state changed, False if the job already was in `state`.

        Raises
        ------
        RecordsError
            For an unknown job, or a change out of an end state (a finished job cannot
            become printing again).
        """
        _check_state(state)
        with self._write() as conn:
            old = conn.execute("SELECT * FROM print_jobs WHERE printer = ? AND job_id = ?",
                               (printer, str(job_id))).fetchone()
            if old is None:
                raise RecordsError(f"no print job {job_id!r} on printer {printer!r} in "
                                   f"{self.path}; record_print_job first")
            if old["state"] == state:
                return False
            if state not in _NEXT_STATES[old["state"]]:
                allowed = sorted(_NEXT_STATES[old["state"]]) or ["none (it has ended)"]
                raise RecordsError(f"print job {job_id!r} on {printer!r} is {old['state']!r}; "
                                   f"it cannot become {state!r} (allowed: {', '.join(allowed)})")
            now = self._now()
            conn.execute(
                "UPDATE print_jobs SET state = :state, message = coalesce(:message, message),"
                " started_at = CASE WHEN :state = 'printing' THEN :now ELSE started_at END,"
                " ended_at = CASE WHEN :state IN ('finished', 'failed', 'cancelled')"
                " THEN :now ELSE ended_at END, updated_at = :now WHERE id = :id",
                {"state": state, "message": message, "now": now, "id": old["id"]})
            self._audit(conn, actor, "print_job.update", "print_job", f"{printer}/{job_id}",
                        {"from": old["state"], "to": state, "message": message})
        return True

    def print_jobs(self, *, batch_id: str | None = None,
                   printer: str | None = None) -> list[dict[str, Any]]:
        """Print jobs, oldest first, optionally for one batch and/or printer."""
        rows = self._all(
            "SELECT * FROM print_jobs WHERE (:b IS NULL OR batch_id = :b) AND"
            " (:p IS NULL OR printer = :p) ORDER BY id", {"b": batch_id, "p": printer})
        return [dict(r) for r in rows]
