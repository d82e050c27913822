"""An audit log for tests: it keeps, in order, the records the pipeline hands over."""

from __future__ import annotations

from kmspolicy.kms.ports import AuditRecord


class RecordedAudit:
    """A ``kms.ports.AuditLog`` that keeps every record in ``records``."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        """Nothing to release."""
