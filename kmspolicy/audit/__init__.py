"""The decision audit log: append-only, hash-chained records of every decided request.

Layer: audit (an adapter of ``kms.ports.AuditLog``). ``open_audit_log(path)`` is what the
composition root calls; ``verify(path)`` recomputes the chain and reports modified, removed,
inserted or reordered records. Record format and redaction rules: ``kmspolicy.audit.chain``
and ``docs/store.md``.
"""

from __future__ import annotations

import os

from kmspolicy.audit.chain import GENESIS, context_value_digest, redact_context
from kmspolicy.audit.file import FileAuditLog
from kmspolicy.audit.verify import Anchor, Problem, VerifyResult, verify

__all__ = [
    "GENESIS",
    "Anchor",
    "FileAuditLog",
    "Problem",
    "VerifyResult",
    "context_value_digest",
    "open_audit_log",
    "redact_context",
    "verify",
]


def open_audit_log(path: str | os.PathLike[str], *, fsync: bool = False) -> FileAuditLog:
    """The JSON-lines audit log at ``path`` (created 0600), continuing its existing chain."""
    return FileAuditLog(path, fsync=fsync)
