"""Patient pseudonyms: HMAC-SHA256 of the patient reference under a per-database key.

The records never hold a patient reference in clear. The same patient gets the same
pseudonym within one database (so repeat prescriptions can be linked) and different
pseudonyms in different databases (so two sites' records cannot be joined on it).

Where the key lives matters. By default a random 256-bit key is created with the database
and kept in its ``meta`` table. That stops casual reading, but anyone who holds the file
also holds the key and can test candidate references (hospital numbers are easy to
enumerate). A site that wants the file alone to be non-identifying keeps the key
elsewhere (a secrets manager, a file on another volume) and passes it as
``RecordStore(pseudonym_key=...)``: the database then stores only a check value that
tells a wrong key from the right one, never the key itself.
"""

import hashlib
import hmac
import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

from dosecraft.errors import RecordsError

if TYPE_CHECKING:
    from dosecraft.records.core import StoreCore

KEY_META = "pseudonym_key"
CHECK_META = "pseudonym_key_check"
#: Hex digits kept of the HMAC: 64 bits, collision-free in practice for one pharmacy.
PSEUDONYM_HEX = 16
_CHECK_MESSAGE = b"dosecraft pseudonym key check v1"


def normalise_ref(patient_ref: str) -> str:
    """Trim and collapse whitespace, so ``" 943 476  5919"`` and ``"943 476 5919"`` match.

    Case is kept: some identifier schemes are case-sensitive.
    """
    text = " ".join(str(patient_ref).split())
    if not text:
        raise RecordsError(f"patient reference {patient_ref!r} is empty; give the patient's "
                           "reference (it is stored only as a pseudonym)")
    return text


def pseudonym_for(key: bytes, patient_ref: str) -> str:
    """The pseudonym of `patient_ref` under `key`: truncated HMAC-SHA256, lowercase hex."""
    digest = hmac.new(key, normalise_ref(patient_ref).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:PSEUDONYM_HEX]


def key_check(key: bytes) -> str:
    """A value that identifies `key` without revealing it (HMAC of a fixed message)."""
    return hmac.new(key, _CHECK_MESSAGE, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])


def setup_key(conn: sqlite3.Connection, external: bytes | None, *,
              create: bool = True) -> tuple[bytes | None, dict[str, Any] | None]:
    """Find (or, on first use, create) the key; create only inside a write transaction.

    Parameters
    ----------
    conn
        Connection inside `write_transaction`.
    external
        A key kept outside the database, or None to use (or create) the stored one.
    create
        When False and the database has no key yet, return ``(None, None)`` untouched.

    Returns
    -------
    tuple
        The key to use (None when the database's key is kept elsewhere and none was given;
        pseudonymising then fails with a message saying so), and an audit payload when a
        key was set up now (None when it already existed).

    Raises
    ------
    RecordsError
        If `external` is not the key this database's pseudonyms were made with.
    """
    if external is not None and len(external) < 16:
        raise RecordsError(f"pseudonym key is {len(external)} bytes; use at least 16 random "
                           "bytes (32 recommended, e.g. secrets.token_bytes(32))")
    stored = _meta(conn, KEY_META)
    check = _meta(conn, CHECK_META)
    if stored is None and check is None:
        if not create:
            return None, None
        key = external if external is not None else secrets.token_bytes(32)
        rows = [(CHECK_META, key_check(key))]
        if external is None:
            rows.append((KEY_META, key.hex()))
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows)
        where = "outside the database" if external is not None else "in the meta table"
        return key, {"key_check": key_check(key), "kept": where}
    key = bytes.fromhex(stored) if stored is not None else None
    if external is not None:
        if check is not None and key_check(external) != check:
            raise RecordsError(
                "the pseudonym key given is not the one this records database was created "
                "with (its check value differs); pseudonyms made with it would not match "
                "earlier ones — use the site's original key")
        key = external
    return key, None


def scrub(value: Any, patient_ref: str, replacement: str) -> Any:
    """Replace the clear patient reference inside every string of `value` (recursively).

    Error messages and warnings may quote input fields; a reference that slipped into one
    must not reach the database. References shorter than 3 characters are left alone:
    replacing "12" would corrupt unrelated text, and such a reference identifies no one.
    """
    ref = normalise_ref(patient_ref)
    if len(ref) < 3:
        return value
    if isinstance(value, str):
        return value.replace(ref, replacement)
    if isinstance(value, dict):
        return {k: scrub(v, ref, replacement) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, ref, replacement) for v in value]
    return value


def pseudonymise(store: "StoreCore", patient_ref: str) -> str:
    """The pseudonym `store` records for `patient_ref` (same patient → same pseudonym).

    Parameters
    ----------
    store
        An open `RecordStore`.
    patient_ref
        The patient's reference in clear (never stored).

    Returns
    -------
    str
        16 lowercase hex digits.
    """
    return store.pseudonym(patient_ref)
