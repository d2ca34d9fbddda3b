"""`RecordStore`: the compounding record of dosecraft, one SQLite file.

What is in it and why:

- ``batches``, ``prescriptions``, ``designs``, ``outputs``: what was asked for, what was
  designed, and which files (with SHA-256) were written — the compounding worksheet's data.
- ``qc_results``, ``calibrations``: measurements that back the dose (QC weights, the
  USP <905> acceptance value, the mass factor a printer × formulation was calibrated to).
- ``print_jobs``: which file went to which printer, and how it ended.
- ``audit``: an append-only, hash-chained log with one entry per change, written in the
  same transaction as the change; `dosecraft.records.verify.verify_audit` checks it.
- ``meta``: the pseudonym key (see `dosecraft.records.pseudonym`) and the audit head.

Patient references are stored only as pseudonyms.
"""

from typing import Any

from dosecraft.records.core import decode_row
from dosecraft.records.lab import LabRecords


class RecordStore(LabRecords):
    """The compounding record (see the module docstring).

    Parameters
    ----------
    path
        The SQLite file; default ``platformdirs.user_data_path("dosecraft")/records.sqlite``.
        Created, with its folder and schema, when missing; migrated when older.
    actor
        Default audit actor when a method is given no ``actor``/``operator``
        (default: the login name). Batch-scoped writes default to the batch operator.
    clock
        Callable returning an aware datetime; default ``datetime.now(UTC)``.
    pseudonym_key
        Pseudonym key kept outside the database (default: the one stored in it).

    Notes
    -----
    Each public write method is one transaction together with its audit entry, taken with
    ``BEGIN IMMEDIATE`` and retried while another process holds the lock, so several
    processes can write one file. Use one store per thread.

    Examples
    --------
    >>> with RecordStore(tmp / "records.sqlite", actor="jdoe") as store:  # doctest: +SKIP
    ...     bid = store.start_batch("rx.csv", operator="jdoe", formulation_lot="L42")
    ...     store.record_prescription(bid, row, patient_ref="MRN-00123")
    ...     store.record_output(bid, "RX001", "gcode", "gcode/RX001.gcode", digest, 48213)
    ...     store.finish_batch(bid)
    """

    def batch_report(self, batch_id: str) -> dict[str, Any]:
        """Everything ``dosecraft records show BATCH`` prints, as one JSON-ready dict.

        Returns
        -------
        dict
            ``batch`` (the batch row with ``options`` and ``counts``), ``prescriptions``
            (each with its recorded ``row`` and ``design`` decoded, and its ``outputs`` and
            ``qc``), ``outputs`` (batch-level files, ``rx_id`` None), ``qc`` (batch-level
            results), ``print_jobs``, ``audit`` (this batch's entries, oldest first) and
            ``audit_head`` (``[seq, hash]`` of the whole log, to print as an anchor).
        """
        batch = self.batch(batch_id)
        designs = {r["rx_id"]: decode_row(r, "design_json")
                   for r in self._all("SELECT rx_id, design_json, design_sha256 FROM designs"
                                      " WHERE batch_id = ?", (batch_id,))}
        outputs: dict[str, list[dict[str, Any]]] = {}
        for r in self._all("SELECT rx_id, kind, path, sha256, bytes, recorded_at FROM outputs"
                           " WHERE batch_id = ? ORDER BY rx_id, kind, path", (batch_id,)):
            outputs.setdefault(r["rx_id"], []).append(
                {**dict(r), "rx_id": r["rx_id"] or None})
        qc: dict[str, list[dict[str, Any]]] = {}
        for item in self.qc_results(batch_id):
            qc.setdefault(item["rx_id"] or "", []).append(item)
        prescriptions = []
        for r in self._all("SELECT * FROM prescriptions WHERE batch_id = ?"
                           " ORDER BY ifnull(row_number, 1e18), rx_id", (batch_id,)):
            item = decode_row(r, "row_json")
            item["row"] = item.pop("row_json")
            design = designs.get(r["rx_id"])
            item["design"] = design["design_json"] if design else None
            item["design_sha256"] = design["design_sha256"] if design else None
            item["outputs"] = outputs.get(r["rx_id"], [])
            item["qc"] = qc.get(r["rx_id"], [])
            prescriptions.append(item)
        # Files and results not tied to a recorded prescription stay visible at batch level.
        known = {p["rx_id"] for p in prescriptions}
        loose_outputs = [o for rx, items in outputs.items() if rx not in known for o in items]
        loose_qc = [q for rx, items in qc.items() if rx not in known for q in items]
        head = self.audit_head()
        return {
            "batch": batch,
            "prescriptions": prescriptions,
            "outputs": loose_outputs,
            "qc": loose_qc,
            "print_jobs": self.print_jobs(batch_id=batch_id),
            "audit": [e.to_dict() for e in self.audit_entries(id_prefix=batch_id)],
            "audit_head": list(head) if head else None,
        }
