"""Cross-check the record tables against the audit log.

The audit chain proves the *log* was not changed; these checks prove the *tables* still
say what the log says was written. Each checked row is compared with the newest audit
entry that carries its state (e.g. ``output.record`` / ``output.update``), so editing a
stored hash, a dose or a mass factor directly in SQLite is reported with the field, the
two values and the audit entry it contradicts.
"""

import json
import sqlite3
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from dosecraft.records.audit import output_entity_id, prescription_entity_id

Values = dict[str, Any]


@dataclass(frozen=True)
class _Check:
    """How one table maps to audit entries."""

    what: str  # noun used in problem messages
    table: str
    entity: str
    actions: frozenset[str]  # audit actions whose payload holds the row's state
    rows: Callable[[sqlite3.Connection], Iterator[tuple[str, Values]]]
    expected: Callable[[dict[str, Any]], Values]  # audit payload -> same keys as rows


def _outputs(conn: sqlite3.Connection) -> Iterator[tuple[str, Values]]:
    for r in conn.execute("SELECT * FROM outputs"):
        eid = output_entity_id(r["batch_id"], r["rx_id"] or None, r["kind"], r["path"])
        yield eid, {"sha256": r["sha256"], "bytes": r["bytes"]}


def _prescriptions(conn: sqlite3.Connection) -> Iterator[tuple[str, Values]]:
    designs = {(r["batch_id"], r["rx_id"]): r["design_json"]
               for r in conn.execute("SELECT batch_id, rx_id, design_json FROM designs")}
    for r in conn.execute("SELECT * FROM prescriptions"):
        design = designs.get((r["batch_id"], r["rx_id"]))
        yield prescription_entity_id(r["batch_id"], r["rx_id"]), {
            "row": _loads(r["row_json"]), "design": None if design is None else _loads(design),
            "drug": r["drug"], "dose_mg": r["dose_mg"], "quantity": r["quantity"],
            "status": r["status"], "error": r["error"],
            "patient_pseudonym": r["patient_pseudonym"]}


def _prescription_expected(p: dict[str, Any]) -> Values:
    design = p.get("design")
    return {"row": p, "design": design if isinstance(design, dict) else None,
            "drug": p.get("drug"), "dose_mg": p.get("target_dose_mg"),
            "quantity": p.get("quantity"), "status": str(p.get("status") or "unknown"),
            "error": p.get("error"), "patient_pseudonym": p.get("patient_pseudonym")}


def _qc(conn: sqlite3.Connection) -> Iterator[tuple[str, Values]]:
    for r in conn.execute("SELECT * FROM qc_results"):
        tablet = "-" if r["tablet_index"] is None else str(r["tablet_index"])
        eid = f"{r['batch_id']}/{r['rx_id'] or '-'}/{r['method']}/{tablet}"
        yield eid, {"mass_mg": r["mass_mg"], "content_pct": r["content_pct"],
                    "acceptance_value": r["acceptance_value"], "passed": bool(r["passed"]),
                    "details": _loads(r["details"])}


_CAL_FIELDS = ("printer", "formulation", "old_mass_factor", "new_mass_factor", "n_tablets",
               "data_sha256", "operator", "details")
_BATCH_FIELDS = ("source_name", "source_sha256", "formulation_lot", "formulation_expiry",
                 "printer", "operator")


def _columns(table: str, key: str, fields: tuple[str, ...]) -> Callable[
        [sqlite3.Connection], Iterator[tuple[str, Values]]]:
    def rows(conn: sqlite3.Connection) -> Iterator[tuple[str, Values]]:
        for r in conn.execute(f"SELECT * FROM {table}"):
            # JSON text columns are compared decoded, as the audit payload holds them.
            yield str(r[key]), {f: _loads(r[f]) if f == "details" else r[f] for f in fields}
    return rows


def _print_jobs(conn: sqlite3.Connection) -> Iterator[tuple[str, Values]]:
    for r in conn.execute("SELECT * FROM print_jobs"):
        yield f"{r['printer']}/{r['job_id']}", {"file_sha256": r["file_sha256"],
                                                 "batch_id": r["batch_id"], "rx_id": r["rx_id"]}


def _pick(*fields: str) -> Callable[[dict[str, Any]], Values]:
    return lambda p: {f: p.get(f) for f in fields}


CHECKS: tuple[_Check, ...] = (
    _Check("output", "outputs", "output", frozenset({"output.record", "output.update"}),
           _outputs, _pick("sha256", "bytes")),
    _Check("prescription", "prescriptions", "prescription",
           frozenset({"prescription.record", "prescription.update"}), _prescriptions,
           _prescription_expected),
    _Check("QC result", "qc_results", "qc", frozenset({"qc.record", "qc.update"}), _qc,
           _pick("mass_mg", "content_pct", "acceptance_value", "passed", "details")),
    _Check("calibration", "calibrations", "calibration", frozenset({"calibration.record"}),
           _columns("calibrations", "id", _CAL_FIELDS), _pick(*_CAL_FIELDS)),
    _Check("batch", "batches", "batch", frozenset({"batch.start"}),
           _columns("batches", "id", _BATCH_FIELDS), _pick(*_BATCH_FIELDS)),
    _Check("print job", "print_jobs", "print_job", frozenset({"print_job.send"}),
           _print_jobs, _pick("file_sha256", "batch_id", "rx_id")),
)


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"unparseable": text}


def _describe(field: str, have: Any, want: Any) -> str:
    if isinstance(have, dict) and isinstance(want, dict):
        keys = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        return f"{field} differs in {', '.join(keys)}"
    return f"{field} is {have!r} in the table but {want!r} in the audit"


def cross_check(conn: sqlite3.Connection, entries: list[sqlite3.Row],
                damaged: Collection[int] = ()) -> list[str]:
    """Problems where a table row disagrees with, or is missing from, the audit log.

    Parameters
    ----------
    conn
        Read-only connection to the records file.
    entries
        All audit rows, in seq order.
    damaged
        Seqs whose own hash fails. A row whose newest entry is damaged is not compared:
        that entry is already reported, and comparing with it would only add noise.
    """
    wanted = {(c.entity, a): c for c in CHECKS for a in c.actions}
    recorded: dict[tuple[str, str], tuple[int, Values] | None] = {}
    for e in entries:  # in seq order, so the newest entry for an entity wins
        check = wanted.get((e["entity"], e["action"]))
        if check is not None:
            payload = _loads(e["payload"])
            key = (check.entity, e["entity_id"])
            if e["seq"] in damaged or not isinstance(payload, dict):
                recorded[key] = None  # known, but not trustworthy enough to compare with
            else:
                recorded[key] = (e["seq"], check.expected(payload))
    problems: list[str] = []
    for check in CHECKS:
        seen: set[str] = set()
        for eid, have in check.rows(conn):
            seen.add(eid)
            key = (check.entity, eid)
            found = recorded.get(key)
            if found is None:
                if key in recorded:
                    continue
                problems.append(f"{check.what} {eid}: no audit entry records it "
                                "(added outside dosecraft, or its entry was deleted)")
                continue
            seq, want = found
            diffs = [_describe(f, have[f], want.get(f)) for f in have if have[f] != want.get(f)]
            if diffs:
                problems.append(f"{check.what} {eid}: {'; '.join(diffs)} (audit seq {seq}); "
                                f"the {check.table} row was edited")
        for (entity, eid), entry in recorded.items():
            if entity == check.entity and eid not in seen:
                at = f"at audit seq {entry[0]}" if entry else "in the audit"
                problems.append(f"{check.what} {eid}: recorded {at} but missing from the "
                                f"{check.table} table (deleted)")
    return problems
