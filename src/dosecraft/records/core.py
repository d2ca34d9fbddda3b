"""The part of `RecordStore` every kind of record shares: the connection, clock, actor,
transactions with their audit entry, and the pseudonym key."""

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from dosecraft.errors import RecordsError
from dosecraft.records.audit import AuditEntry, append_entry, read_entries
from dosecraft.records.db import (
    Clock,
    connect,
    default_actor,
    default_records_path,
    utc_iso,
    utc_now,
    write_transaction,
)
from dosecraft.records.pseudonym import CHECK_META, KEY_META, pseudonym_for, setup_key
from dosecraft.records.schema import migrate


def decode_row(row: sqlite3.Row, *json_columns: str) -> dict[str, Any]:
    """Row → dict, decoding the named JSON text columns."""
    out = dict(row)
    for name in json_columns:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    return out


class StoreCore:
    """Connection handling shared by the record mixins; use `RecordStore`, not this.

    Parameters
    ----------
    path
        The SQLite file; default ``platformdirs.user_data_path("dosecraft")/records.sqlite``.
        Created with its folder when missing.
    actor
        Who the audit log names when a method is not given an ``actor``/``operator``;
        default: the login name.
    clock
        Returns the current time as an aware datetime; injectable for tests.
    pseudonym_key
        A key kept outside the database (see `dosecraft.records.pseudonym`); default: the
        key stored in the database, created with it.

    Notes
    -----
    One store (one connection) per thread; open another store for another thread or
    process — SQLite's locking, not a shared object, coordinates them.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, actor: str | None = None,
                 clock: Clock | None = None, pseudonym_key: bytes | None = None) -> None:
        self.path = Path(path) if path is not None else default_records_path()
        self.actor = actor or default_actor()
        self._clock: Clock = clock or utc_now
        self._conn = connect(self.path)
        try:
            migrate(self._conn, ts=self._now(), actor=self.actor)
            self._key, _ = setup_key(self._conn, pseudonym_key, create=False)
            if self._key is None and self._key_missing():
                # First open: create the key under the write lock (another process may be
                # doing the same; setup_key re-reads meta inside the transaction).
                with self._write() as conn:
                    self._key, created = setup_key(conn, pseudonym_key)
                    if created is not None:
                        self._audit(conn, None, "pseudonym_key.create", "meta",
                                    "pseudonym_key", created)
        except BaseException:
            self._conn.close()
            raise

    def _key_missing(self) -> bool:
        return self._one("SELECT 1 FROM meta WHERE key IN (?, ?)",
                         (KEY_META, CHECK_META)) is None

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the last one to close checkpoints the WAL into the file)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # -- helpers for the record mixins --------------------------------------------------

    def _now(self) -> str:
        return utc_iso(self._clock())

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with write_transaction(self._conn) as conn:
                yield conn
        except sqlite3.IntegrityError as exc:
            # Constraints are the last line of defence; the methods check first and give
            # better messages, so reaching here means inconsistent input or a bug.
            raise RecordsError(f"records constraint refused the write: {exc}") from exc

    def _audit(self, conn: sqlite3.Connection, actor: str | None, action: str, entity: str,
               entity_id: str, payload: dict[str, Any]) -> AuditEntry:
        return append_entry(conn, ts=self._now(), actor=actor or self.actor, action=action,
                            entity=entity, entity_id=entity_id, payload=payload)

    def _one(self, sql: str,
             args: tuple[Any, ...] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        return self._conn.execute(sql, args).fetchone()

    def _all(self, sql: str,
             args: tuple[Any, ...] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, args).fetchall()

    # -- public, shared -------------------------------------------------------------------

    def pseudonym(self, patient_ref: str) -> str:
        """The pseudonym recorded for `patient_ref` (16 hex digits; see `pseudonymise`)."""
        if self._key is None:
            raise RecordsError(
                f"records database {self.path} keeps its pseudonym key outside the file and "
                "none was given; pass RecordStore(..., pseudonym_key=KEY)")
        return pseudonym_for(self._key, patient_ref)

    def audit_head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest audit entry, or None for an empty log.

        Printing this on the compounding worksheet anchors the chain outside the file:
        `verify_audit(..., anchor=...)` then also catches a log recomputed from scratch.
        """
        row = self._one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return None if row is None else (int(row["seq"]), str(row["hash"]))

    def audit_entries(self, *, entity: str | None = None,
                      id_prefix: str | None = None) -> list[AuditEntry]:
        """Audit entries in order, optionally filtered (see `audit.read_entries`)."""
        return read_entries(self._conn, entity=entity, id_prefix=id_prefix)

    def audit_count(self) -> int:
        """Number of entries in the audit log."""
        row = self._one("SELECT count(*) AS n FROM audit")
        return int(row["n"]) if row else 0
