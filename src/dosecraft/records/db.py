"""Opening the records database, clocks, and write transactions that are safe across processes.

Several processes write the same file (batch workers, the CLI, the GUI), so every write
takes SQLite's write lock up front with ``BEGIN IMMEDIATE``: a deferred transaction that
reads first and upgrades later can fail with ``database is locked`` halfway through, after
it has already decided what to write from data that another process has since changed.
"""

import getpass
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import platformdirs

from dosecraft.errors import RecordsError

#: How long one attempt waits for another writer (SQLite's own busy handler), in ms.
BUSY_TIMEOUT_MS = 10_000
#: Extra attempts at ``BEGIN IMMEDIATE`` after the busy timeout ran out.
LOCK_RETRIES = 6

Clock = Callable[[], datetime]
_T = TypeVar("_T")


def default_records_path() -> Path:
    """The per-user records file: ``<user data dir>/dosecraft/records.sqlite``."""
    return platformdirs.user_data_path("dosecraft") / "records.sqlite"


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def utc_iso(moment: datetime) -> str:
    """Format an aware datetime as UTC ISO 8601 with microseconds and a ``Z`` suffix.

    Raises
    ------
    RecordsError
        If `moment` is naive: a record whose time zone is a guess is not a record.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordsError(f"timestamp {moment.isoformat()} has no time zone; the records clock "
                           "must return aware datetimes (e.g. datetime.now(UTC))")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def default_actor() -> str:
    """The login name of the current user, or ``"unknown"`` when it cannot be found."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # getuser raises various errors in containers without a passwd entry
        return "unknown"


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def retry_locked(action: Callable[[], _T], *, what: str) -> _T:
    """Run `action`, retrying with jittered back-off while the database is locked.

    Raises
    ------
    RecordsError
        When the lock is still held after all retries; the message says what was waiting.
    """
    delay = 0.02
    for attempt in range(LOCK_RETRIES + 1):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc):
                raise
            if attempt == LOCK_RETRIES:
                total_s = (LOCK_RETRIES + 1) * BUSY_TIMEOUT_MS / 1000
                raise RecordsError(
                    f"records database stayed locked for about {total_s:.0f} s while trying to "
                    f"{what}; another dosecraft process is holding a long write — retry when it "
                    "has finished") from exc
            # Jitter so that processes that timed out together do not retry together.
            time.sleep(delay * (1.0 + random.random()))
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")  # pragma: no cover


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the records file with the pragmas every connection needs.

    Parameters
    ----------
    path
        The SQLite file. Created (with its folder) unless `readonly`.
    readonly
        Open with ``mode=ro``: verification must never change the file it judges.

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (``isolation_level=None``): transactions are opened explicitly
        by `write_transaction`, never implicitly by the sqlite3 module.
    """
    timeout_s = BUSY_TIMEOUT_MS / 1000
    try:
        if readonly:
            conn = _connect_readonly(path, timeout_s)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=timeout_s)
    except (sqlite3.Error, OSError) as exc:
        raise RecordsError(f"cannot open records database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            # WAL lets readers (a GUI, `records show`) run while a batch writes; it is a
            # property of the file, so setting it again is cheap but may need the lock.
            retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(),
                         what="switch the journal to WAL")
            # Records must survive a power cut: fsync every commit, not only checkpoints.
            conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise RecordsError(f"{path} is not a usable SQLite database: {exc}") from exc
    return conn


def _connect_readonly(path: Path, timeout_s: float) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=timeout_s)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A WAL file in a folder we cannot write (an archive copy, read-only media): SQLite
        # cannot create the shared-memory index. Nobody can be writing such a file either,
        # so reading it as immutable is safe.
        conn.close()
        return sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None,
                               timeout=timeout_s)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write: ``BEGIN IMMEDIATE`` (with retries), commit on success, else roll back.

    Every public write method of the store runs in exactly one of these, together with
    its audit entry, so a crash leaves either both or neither.
    """
    retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"), what="start a write transaction")
    with conn:  # commits when the block ends normally, rolls back on any exception
        yield conn
