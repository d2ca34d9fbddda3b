"""Compounding records: a SQLite store with a hash-chained, append-only audit log.

>>> from dosecraft.records import RecordStore, verify_audit  # doctest: +SKIP
>>> store = RecordStore(path)                                   # doctest: +SKIP
>>> report = verify_audit(path); report.ok, report.problems     # doctest: +SKIP
"""

from dosecraft.records.audit import GENESIS_HASH, AuditEntry, canonical_json, entry_hash
from dosecraft.records.batches import batch_id_for, design_sha256, file_sha256
from dosecraft.records.db import default_records_path
from dosecraft.records.pseudonym import pseudonymise
from dosecraft.records.schema import BATCH_STATUSES, PRINT_JOB_STATES, SCHEMA_VERSION
from dosecraft.records.store import RecordStore
from dosecraft.records.verify import AuditReport, verify_audit

__all__ = [
    "BATCH_STATUSES",
    "GENESIS_HASH",
    "PRINT_JOB_STATES",
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditReport",
    "RecordStore",
    "batch_id_for",
    "canonical_json",
    "default_records_path",
    "design_sha256",
    "entry_hash",
    "file_sha256",
    "pseudonymise",
    "verify_audit",
]
