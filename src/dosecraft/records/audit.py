"""The append-only audit log: canonical payloads, the hash chain, and appending entries.

Each entry's ``hash`` is SHA-256 over the canonical JSON of its own fields *including*
``prev_hash``, the hash of the entry before it (64 zeros for the first). Editing, deleting
or reordering any entry therefore breaks the chain at a place `dosecraft.records.verify`
can name. SQLite triggers refuse UPDATE and DELETE on the table so that no ordinary code
path can rewrite history; a determined tamperer can drop the triggers, which is exactly
why the chain, not the triggers, is what verification trusts.
"""

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from dosecraft.errors import RecordsError

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64

#: The fields covered by an entry's hash, in the order the docs list them.
HASHED_FIELDS: tuple[str, ...] = (
    "seq", "ts", "actor", "action", "entity", "entity_id", "payload", "prev_hash",
)

#: meta keys that remember the last entry written, so that deleting the newest entries
#: (which leaves no gap in the chain) is still noticed.
HEAD_SEQ_KEY = "audit_head_seq"
HEAD_HASH_KEY = "audit_head_hash"


def canonical_json(value: Any) -> str:
    """Serialise `value` the one way the audit hashes it: sorted keys, no spaces, ASCII.

    Raises
    ------
    RecordsError
        If `value` holds something JSON cannot represent exactly (NaN, infinity, objects).
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RecordsError(f"cannot record {value!r:.120}: {exc}; records hold JSON values "
                           "only (str, finite numbers, bool, None, lists, dicts)") from exc


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 bytes of `text`, as 64 lowercase hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(seq: int, ts: str, actor: str, action: str, entity: str, entity_id: str,
               payload: str, prev_hash: str) -> str:
    """Hash of one audit entry.

    `payload` is the canonical JSON *text* as stored, not the decoded object, so that
    verification never depends on a JSON round trip reproducing the same bytes.
    """
    fields = {"seq": seq, "ts": ts, "actor": actor, "action": action, "entity": entity,
              "entity_id": entity_id, "payload": payload, "prev_hash": prev_hash}
    return sha256_hex(canonical_json(fields))


def row_hash(row: sqlite3.Row | dict[str, Any], *, seq: int | None = None) -> str:
    """Recompute the hash of a stored audit row, optionally as if it had sequence `seq`."""
    return entry_hash(row["seq"] if seq is None else seq, row["ts"], row["actor"],
                      row["action"], row["entity"], row["entity_id"], row["payload"],
                      row["prev_hash"])


def output_entity_id(batch_id: str, rx_id: str | None, kind: str, path: str) -> str:
    """Audit ``entity_id`` of an output file (batch-level outputs have no rx_id: ``-``)."""
    return f"{batch_id}/{rx_id or '-'}/{kind}/{path}"


def prescription_entity_id(batch_id: str, rx_id: str) -> str:
    """Audit ``entity_id`` of a prescription row of a batch."""
    return f"{batch_id}/{rx_id}"


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log, as stored; `payload` is decoded for convenience."""

    seq: int
    ts: str
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "AuditEntry":
        try:
            payload = json.loads(row["payload"])
        except json.JSONDecodeError:  # a tampered payload is still shown, not hidden
            payload = {"unparseable": row["payload"]}
        return cls(seq=row["seq"], ts=row["ts"], actor=row["actor"], action=row["action"],
                   entity=row["entity"], entity_id=row["entity_id"], payload=payload,
                   prev_hash=row["prev_hash"], hash=row["hash"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``records show`` and reports)."""
        return {"seq": self.seq, "ts": self.ts, "actor": self.actor, "action": self.action,
                "entity": self.entity, "entity_id": self.entity_id, "payload": self.payload,
                "prev_hash": self.prev_hash, "hash": self.hash}


def append_entry(conn: sqlite3.Connection, *, ts: str, actor: str, action: str, entity: str,
                 entity_id: str, payload: dict[str, Any]) -> AuditEntry:
    """Append one entry to the chain. Call only inside `write_transaction`.

    The write lock held by ``BEGIN IMMEDIATE`` is what makes "read the head, then append
    after it" safe against other processes doing the same.
    """
    if not conn.in_transaction:
        raise RecordsError("audit entries are written only inside a write transaction "
                           "(dosecraft.records.db.write_transaction)")
    if not actor or not actor.strip():
        raise RecordsError(f"audit entry for {action} has no actor; name the operator")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    # AUTOINCREMENT's counter survives deletion of the newest rows, so a deleted tail
    # shows up as a gap before the next entry instead of being silently reused.
    counter = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    seq = max(last["seq"] if last else 0, counter["seq"] if counter else 0) + 1
    prev_hash = last["hash"] if last else GENESIS_HASH
    payload_text = canonical_json(payload)
    digest = entry_hash(seq, ts, actor, action, entity, entity_id, payload_text, prev_hash)
    conn.execute(
        "INSERT INTO audit (seq, ts, actor, action, entity, entity_id, payload, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, ts, actor, action, entity, entity_id, payload_text, prev_hash, digest))
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(HEAD_SEQ_KEY, str(seq)), (HEAD_HASH_KEY, digest)])
    return AuditEntry(seq=seq, ts=ts, actor=actor, action=action, entity=entity,
                      entity_id=entity_id, payload=payload, prev_hash=prev_hash, hash=digest)


def read_entries(conn: sqlite3.Connection, *, entity: str | None = None,
                 id_prefix: str | None = None) -> list[AuditEntry]:
    """Audit entries in chain order, optionally for one entity type and/or id prefix.

    `id_prefix` selects entity ids equal to it or starting with ``id_prefix + "/"``
    (a batch and everything recorded under it).
    """
    sql = "SELECT * FROM audit"
    where: list[str] = []
    args: list[Any] = []
    if entity is not None:
        where.append("entity = ?")
        args.append(entity)
    if id_prefix is not None:
        where.append("(entity_id = ? OR substr(entity_id, 1, ?) = ?)")
        args.extend([id_prefix, len(id_prefix) + 1, id_prefix + "/"])
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [AuditEntry.from_row(r) for r in conn.execute(sql + " ORDER BY seq", args)]
