"""The decision audit log: append-only, hash-chained records of every decided request.

Layer: audit (an adapter of ``kms.ports.AuditLog``). ``open_audit_log(path)`` is what the
composition root calls; ``verify(path, key=...)`` recomputes the chain and reports modified,
removed, inserted, reordered or (with the audit key, ``open_audit_key``) forged records.
Record format and redaction rules: ``kmspolicy.audit.chain`` and ``docs/store.md``.
"""

from __future__ import annotations

import os

from kmspolicy.audit.chain import GENESIS, context_value_digest, redact_context
from kmspolicy.audit.file import FileAuditLog, Tampered
from kmspolicy.audit.key import AUDIT_KEY_NAME, open_audit_key, read_audit_key
from kmspolicy.audit.verify import (
    Anchor,
    Checkpoint,
    Problem,
    VerifyResult,
    prefix_unchanged,
    verify,
)

__all__ = [
    "AUDIT_KEY_NAME",
    "GENESIS",
    "Anchor",
    "Checkpoint",
    "FileAuditLog",
    "Problem",
    "Tampered",
    "VerifyResult",
    "context_value_digest",
    "open_audit_key",
    "open_audit_log",
    "prefix_unchanged",
    "read_audit_key",
    "redact_context",
    "verify",
]


def open_audit_log(
    path: str | os.PathLike[str], *, fsync: bool = False, mac_key: bytes | None = None
) -> FileAuditLog:
    """The JSON-lines audit log at ``path`` (created 0600), continuing its existing chain;
    with ``mac_key`` (``open_audit_key``) every record is also sealed with it."""
    return FileAuditLog(path, fsync=fsync, mac_key=mac_key)
