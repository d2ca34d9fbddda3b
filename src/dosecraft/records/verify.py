"""Verify a records file: the audit hash chain, its recorded head, and the tables against it.

Verification opens the file read-only and reports every problem it finds as one sentence
that starts with what it concerns (``entry seq N: …``, ``output …: …``), instead of
stopping at the first: an inspector wants the whole picture.
"""

import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from dosecraft.errors import RecordsError
from dosecraft.records.audit import GENESIS_HASH, HEAD_HASH_KEY, HEAD_SEQ_KEY, row_hash
from dosecraft.records.crosscheck import cross_check
from dosecraft.records.db import connect
from dosecraft.records.schema import AUDIT_TRIGGERS, MIGRATIONS, TABLES, check_version, user_version

#: How far from its position an entry's content is searched for when its hash fails.
_REORDER_WINDOW = 64
#: Beyond this many failing entries, stop searching (a wholesale rewrite is already clear).
_REORDER_SEARCH_LIMIT = 1000


@dataclass(frozen=True)
class AuditReport:
    """Outcome of `verify_audit`.

    Attributes
    ----------
    path
        The file verified.
    entries
        Number of audit entries found.
    problems
        One sentence per problem; empty when the records are intact.
    head
        ``(seq, hash)`` of the newest entry, or None for an empty log.
    """

    path: Path
    entries: int
    problems: list[str] = field(default_factory=list)
    head: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            head = f", head seq {self.head[0]} {self.head[1]}" if self.head else ""
            return f"{self.path}: audit log intact ({self.entries} entries{head})"
        lines = [f"{self.path}: {len(self.problems)} problem(s) in {self.entries} entries"]
        return "\n".join(lines + [f"  - {p}" for p in self.problems])


def _normalise_sql(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip().lower()


def _check_triggers(conn: sqlite3.Connection) -> list[str]:
    expected = {name: _normalise_sql(stmt) for stmt in MIGRATIONS[0]
                for name in AUDIT_TRIGGERS if f"TRIGGER {name} " in stmt}
    found = {r["name"]: _normalise_sql(r["sql"]) for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")}
    problems = []
    for name, sql in expected.items():
        if name not in found:
            verb = "UPDATE" if "update" in name else "DELETE"
            problems.append(f"audit trigger {name} is missing: {verb} on the audit log is no "
                            "longer refused (dropped outside dosecraft)")
        elif found[name] != sql:
            problems.append(f"audit trigger {name} was replaced by a different definition")
    return problems


def _moved_from(row: sqlite3.Row, first: int, last: int) -> int | None:
    """The seq whose content `row` holds, if its hash verifies at a nearby seq."""
    seq = row["seq"]
    for offset in range(1, _REORDER_WINDOW + 1):
        for candidate in (seq - offset, seq + offset):
            if first <= candidate <= last and row_hash(row, seq=candidate) == row["hash"]:
                return candidate
    return None


def _check_chain(rows: list[sqlite3.Row]) -> tuple[list[str], set[int]]:
    """Problems of the chain, and the seqs whose own hash fails (edited or moved)."""
    problems: list[str] = []
    damaged: set[int] = set()
    if not rows:
        return problems, damaged
    first, last = rows[0]["seq"], rows[-1]["seq"]
    failing = 0
    prev: sqlite3.Row | None = None
    for row in rows:
        seq = row["seq"]
        moved = None
        if row_hash(row) != row["hash"]:
            failing += 1
            damaged.add(seq)
            if failing <= _REORDER_SEARCH_LIMIT:
                moved = _moved_from(row, min(first, 1), last)
            if moved is not None:
                problems.append(f"entry seq {seq}: holds the content of entry seq {moved} "
                                "(reordered)")
            else:
                problems.append(f"entry seq {seq}: stored hash does not match its content "
                                "(edited; which field was changed cannot be told)")
        prev_seq = prev["seq"] if prev is not None else 0
        prev_hash = prev["hash"] if prev is not None else GENESIS_HASH
        if seq > prev_seq + 1:
            gap = (f"seq {prev_seq + 1}" if seq == prev_seq + 2
                   else f"seq {prev_seq + 1}–{seq - 1}")
            problems.append(f"entry seq {seq}: previous entry missing or reordered "
                            f"({gap} absent)")
        elif seq <= prev_seq:
            problems.append(f"entry seq {seq}: not a valid sequence number (inserted outside "
                            "dosecraft)")
        elif moved is None and row["prev_hash"] != prev_hash:
            what = f"entry seq {prev_seq}" if prev is not None else "the start of the log"
            problems.append(f"entry seq {seq}: previous entry missing or reordered (its "
                            f"prev_hash does not match the hash of {what})")
        prev = row
    return problems, damaged


def _check_head(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[str]:
    meta = {r["key"]: r["value"] for r in conn.execute(
        "SELECT key, value FROM meta WHERE key IN (?, ?)", (HEAD_SEQ_KEY, HEAD_HASH_KEY))}
    if HEAD_SEQ_KEY not in meta or HEAD_HASH_KEY not in meta:
        return ["meta: the recorded audit head is missing (removed outside dosecraft)"] \
            if rows else []
    try:
        head_seq = int(meta[HEAD_SEQ_KEY])
    except ValueError:
        return [f"meta: the recorded audit head seq {meta[HEAD_SEQ_KEY]!r} is not a number"]
    last = rows[-1] if rows else None
    last_seq = last["seq"] if last is not None else 0
    if head_seq > last_seq:
        span = f"seq {head_seq}" if head_seq == last_seq + 1 else \
            f"seq {last_seq + 1}–{head_seq}"
        return [f"audit log ends at seq {last_seq} but its recorded head is seq {head_seq}: "
                f"the newest entries ({span}) were deleted"]
    if head_seq < last_seq:
        return [f"entries after seq {head_seq} (up to seq {last_seq}) were appended without "
                "updating the recorded head (written outside dosecraft)"]
    if last is not None and last["hash"] != meta[HEAD_HASH_KEY]:
        return [f"entry seq {last_seq}: its hash differs from the recorded head (the newest "
                "entry was replaced)"]
    return []


def _check_anchor(rows: list[sqlite3.Row], anchor: tuple[int, str]) -> list[str]:
    seq, digest = anchor
    row = next((r for r in rows if r["seq"] == seq), None)
    if row is None:
        return [f"anchor seq {seq}: no such entry (deleted, or the anchor is from another file)"]
    if row["hash"] != digest:
        return [f"entry seq {seq}: hash {row['hash']} differs from the anchor {digest} (the "
                "log was rewritten after the anchor was taken)"]
    return []


def verify_audit(path: str | os.PathLike[str], *,
                 anchor: tuple[int, str] | None = None) -> AuditReport:
    """Check a records file for edited, deleted or reordered history.

    Parameters
    ----------
    path
        The records SQLite file (opened read-only).
    anchor
        ``(seq, hash)`` kept outside the file (e.g. printed on a worksheet by
        `RecordStore.audit_head`); catches a chain recomputed from scratch, which the chain
        alone cannot.

    Returns
    -------
    AuditReport
        ``ok``, ``problems`` (one sentence each) and ``entries``.

    Raises
    ------
    RecordsError
        If the file does not exist, is not a dosecraft records database, or has a newer
        schema than this dosecraft knows.
    """
    file = Path(path)
    if not file.is_file():
        raise RecordsError(f"no records database at {file}")
    conn = connect(file, readonly=True)
    try:
        try:
            version = user_version(conn)
        except sqlite3.DatabaseError as exc:
            raise RecordsError(f"{file} is not an SQLite database: {exc}") from exc
        if version == 0:
            raise RecordsError(f"{file} is not a dosecraft records database (no schema version)")
        check_version(version, file)
        tables = {r["name"] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in TABLES if t not in tables]
        problems = [f"table {t} is missing (dropped outside dosecraft)" for t in missing]
        if "audit" in missing:
            return AuditReport(file, 0, problems)
        # One read transaction = one snapshot: a batch writing meanwhile must not make a
        # fresh output row look unaudited because the log was read a moment earlier.
        conn.execute("BEGIN")
        rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        problems += _check_triggers(conn)
        chain_problems, damaged = _check_chain(rows)
        problems += chain_problems
        if "meta" not in missing:
            problems += _check_head(conn, rows)
        if anchor is not None:
            problems += _check_anchor(rows, anchor)
        if not missing:
            problems += cross_check(conn, rows, damaged)
        head = (int(rows[-1]["seq"]), str(rows[-1]["hash"])) if rows else None
        return AuditReport(file, len(rows), problems, head)
    finally:
        conn.close()  # also ends the read transaction; nothing was written
