"""The records schema and its migrations, versioned with ``PRAGMA user_version``.

A migration is a list of single SQL statements (never ``executescript``, which would
commit the surrounding transaction): all pending migrations, their audit entries and the
new ``user_version`` commit together or not at all. To change the schema, append a new
list to `MIGRATIONS`; never edit a migration that has shipped.
"""

import sqlite3

from dosecraft.errors import RecordsError
from dosecraft.records.audit import append_entry
from dosecraft.records.db import write_transaction

BATCH_STATUSES: tuple[str, ...] = ("running", "finished", "finished_with_errors", "aborted")
PRINT_JOB_STATES: tuple[str, ...] = ("sent", "printing", "finished", "failed", "cancelled")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_V1: list[str] = [
    """CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        ts        TEXT NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        entity    TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        payload   TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    )""",
    "CREATE INDEX audit_entity ON audit (entity, entity_id)",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END""",
    f"""CREATE TABLE batches (
        id                 TEXT PRIMARY KEY,
        created_at         TEXT NOT NULL,
        updated_at         TEXT NOT NULL,
        finished_at        TEXT,
        operator           TEXT NOT NULL,
        source_name        TEXT NOT NULL,
        source_sha256      TEXT NOT NULL CHECK (length(source_sha256) = 64),
        options            TEXT NOT NULL DEFAULT '{{}}',
        formulation_lot    TEXT,
        formulation_expiry TEXT,
        printer            TEXT,
        status             TEXT NOT NULL CHECK (status IN {_in(BATCH_STATUSES)})
    )""",
    """CREATE TABLE prescriptions (
        id                INTEGER PRIMARY KEY,
        batch_id          TEXT NOT NULL REFERENCES batches (id),
        rx_id             TEXT NOT NULL,
        row_number        INTEGER,
        patient_pseudonym TEXT,
        drug              TEXT,
        dose_mg           REAL,
        quantity          INTEGER,
        formulation       TEXT,
        printer           TEXT,
        status            TEXT NOT NULL,
        error             TEXT,
        row_json          TEXT NOT NULL,
        recorded_at       TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        UNIQUE (batch_id, rx_id)
    )""",
    "CREATE INDEX prescriptions_patient ON prescriptions (patient_pseudonym)",
    """CREATE TABLE designs (
        id            INTEGER PRIMARY KEY,
        batch_id      TEXT NOT NULL,
        rx_id         TEXT NOT NULL,
        design_json   TEXT NOT NULL,
        design_sha256 TEXT NOT NULL,
        recorded_at   TEXT NOT NULL,
        UNIQUE (batch_id, rx_id),
        FOREIGN KEY (batch_id, rx_id) REFERENCES prescriptions (batch_id, rx_id)
    )""",
    # rx_id '' marks a batch-level output (worksheet, labels sheet, batch.json): a NULL
    # would make UNIQUE treat every re-record as a new row.
    """CREATE TABLE outputs (
        id          INTEGER PRIMARY KEY,
        batch_id    TEXT NOT NULL REFERENCES batches (id),
        rx_id       TEXT NOT NULL DEFAULT '',
        kind        TEXT NOT NULL,
        path        TEXT NOT NULL,
        sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
        bytes       INTEGER NOT NULL CHECK (bytes >= 0),
        recorded_at TEXT NOT NULL,
        UNIQUE (batch_id, rx_id, kind, path)
    )""",
    """CREATE TABLE qc_results (
        id               INTEGER PRIMARY KEY,
        batch_id         TEXT NOT NULL REFERENCES batches (id),
        rx_id            TEXT NOT NULL DEFAULT '',
        tablet_index     INTEGER,
        method           TEXT NOT NULL,
        mass_mg          REAL,
        content_pct      REAL,
        acceptance_value REAL,
        passed           INTEGER NOT NULL CHECK (passed IN (0, 1)),
        details          TEXT NOT NULL DEFAULT '{}',
        operator         TEXT NOT NULL,
        recorded_at      TEXT NOT NULL
    )""",
    # NULL tablet_index = a result for the whole prescription (e.g. the USP <905> AV).
    """CREATE UNIQUE INDEX qc_unique
       ON qc_results (batch_id, rx_id, ifnull(tablet_index, -1), method)""",
    """CREATE TABLE calibrations (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        printer         TEXT NOT NULL,
        formulation     TEXT NOT NULL,
        old_mass_factor REAL,
        new_mass_factor REAL NOT NULL CHECK (new_mass_factor > 0),
        n_tablets       INTEGER NOT NULL CHECK (n_tablets > 0),
        data_sha256     TEXT NOT NULL CHECK (length(data_sha256) = 64),
        details         TEXT NOT NULL DEFAULT '{}',
        operator        TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        UNIQUE (printer, formulation, data_sha256)
    )""",
    f"""CREATE TABLE print_jobs (
        id          INTEGER PRIMARY KEY,
        printer     TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        file_sha256 TEXT NOT NULL CHECK (length(file_sha256) = 64),
        batch_id    TEXT REFERENCES batches (id),
        rx_id       TEXT,
        state       TEXT NOT NULL CHECK (state IN {_in(PRINT_JOB_STATES)}),
        message     TEXT,
        sent_at     TEXT NOT NULL,
        started_at  TEXT,
        ended_at    TEXT,
        updated_at  TEXT NOT NULL,
        UNIQUE (printer, job_id)
    )""",
]

#: MIGRATIONS[i] takes the schema from version i to version i + 1.
MIGRATIONS: list[list[str]] = [_V1]
SCHEMA_VERSION = len(MIGRATIONS)

#: Tables every current database has (verification checks for them).
TABLES: tuple[str, ...] = ("meta", "audit", "batches", "prescriptions", "designs", "outputs",
                           "qc_results", "calibrations", "print_jobs")
AUDIT_TRIGGERS: tuple[str, ...] = ("audit_no_update", "audit_no_delete")


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the file header (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(version: int, where: object) -> None:
    """Refuse a file written by a newer dosecraft: guessing at its schema risks the records."""
    if version > SCHEMA_VERSION:
        raise RecordsError(
            f"records database {where} has schema version {version}, but this dosecraft "
            f"knows versions up to {SCHEMA_VERSION}; upgrade dosecraft to open it")


def migrate(conn: sqlite3.Connection, *, ts: str, actor: str) -> int:
    """Bring the schema up to `SCHEMA_VERSION`; each step is logged in the audit.

    Safe when several processes open a new file at once: the version is re-read under
    the write lock, so only the first one migrates.

    Returns
    -------
    int
        The version the file had before (0 when it was just created).
    """
    where = conn.execute("PRAGMA database_list").fetchone()["file"]
    before = user_version(conn)
    check_version(before, where)
    if before == SCHEMA_VERSION:
        return before
    with write_transaction(conn):
        before = user_version(conn)
        check_version(before, where)
        for target in range(before + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target - 1]:
                try:
                    conn.execute(statement)
                except sqlite3.OperationalError as exc:
                    raise RecordsError(
                        f"{where} is not a dosecraft records database (schema version "
                        f"{before}, but creating the schema failed: {exc}); give a new or "
                        "a records file") from exc
            append_entry(conn, ts=ts, actor=actor, action="schema.migrate", entity="schema",
                         entity_id=str(target), payload={"from": target - 1, "to": target})
        # user_version lives in the file header and is part of this transaction.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return before
