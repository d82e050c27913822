"""Key last usage: the last successful cryptographic operation of each key (GetKeyLastUsage).

Layer: kms. The pipeline notes every successful operation the botocore model lists as tracked
(``KeyLastUsageTrackingOperation``) for each key it used; nothing is written to the store, so
the hot path (Encrypt, Decrypt in read-only transactions) stays write-free. Tracking starts
when the tracker is made (service start): ``TrackingStartDate`` is that moment or the key's
creation, whichever is later, as AWS defines it.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import NamedTuple

from kmspolicy.optable import OPERATIONS

__all__ = ["TRACKED_OPERATIONS", "KeyUsage", "LastUse"]

#: botocore's KeyLastUsageTrackingOperation values, as the operation table declares them
TRACKED_OPERATIONS = frozenset(op.name for op in OPERATIONS.values() if op.tracked)


#: a LastUse from its fields, in C (a NamedTuple's ``__new__`` is a Python function)
_new = tuple.__new__


class LastUse(NamedTuple):
    """One key's last use (a tuple: made on every tracked request, built in C)."""

    operation: str
    time: datetime
    request_id: str


class KeyUsage:
    """Last use per key ARN since ``tracking_start``; safe for concurrent requests."""

    __slots__ = ("_last", "_lock", "tracking_start")

    def __init__(self, tracking_start: datetime) -> None:
        self.tracking_start = tracking_start
        self._last: dict[str, LastUse] = {}
        self._lock = threading.Lock()

    def note(
        self, operation: str, key_arns: tuple[str, ...], when: datetime, request_id: str
    ) -> None:
        """Record a successful ``operation`` on each of ``key_arns`` (untracked ones ignored)."""
        if operation not in TRACKED_OPERATIONS or not key_arns:
            return
        use = _new(LastUse, (operation, when, request_id))  # no Python frame of ``__new__``
        with self._lock:
            for arn in key_arns:
                known = self._last.get(arn)
                if known is None or known.time <= when:
                    self._last[arn] = use

    def last(self, key_arn: str, created: datetime) -> LastUse | None:
        """The key's last use, if it happened in this key's life (an ARN is never reused, but
        a use noted before ``created`` cannot belong to it)."""
        with self._lock:
            use = self._last.get(key_arn)
        return use if use is not None and use.time >= created else None

    def tracking_start_for(self, created: datetime) -> datetime:
        return max(created, self.tracking_start)
