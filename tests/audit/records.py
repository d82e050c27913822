"""Audit records numbered in time, for the log and verifier tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kmspolicy.kms.ports import AuditRecord

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rec(n: int, **extra: object) -> AuditRecord:
    fields: dict[str, object] = {
        "time": T0 + timedelta(seconds=n),
        "request_id": f"req-{n}",
        "operation": "Encrypt",
        "principal": "arn:aws:iam::111122223333:user/alice",
        "actions": ("kms:Encrypt",),
        "resources": ("arn:aws:kms:us-east-1:111122223333:key/k1",),
        "allowed": True,
        "decision": "allowed",
        "matched": ("KeyPolicy:Enable IAM User Permissions",),
    }
    fields.update(extra)
    return AuditRecord(**fields)  # type: ignore[arg-type]
