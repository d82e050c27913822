"""Scheduled key deletion: the waiting period, its cancellation, and the end of a key.

Layer: kms (pure functions of ``KeyInfo``, returning ``KeyChanges``). Destruction itself is
due work (``due.py``):
when ``DeletionDate`` has passed the record, its material, aliases and grants leave the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kmspolicy.errors import ValidationException
from kmspolicy.kms.model import KeyChanges, KeyInfo, MultiRegionKeyType
from kmspolicy.kms.states import Event, KeyState, transition

__all__ = [
    "DEFAULT_PENDING_WINDOW_DAYS",
    "MAX_PENDING_WINDOW_DAYS",
    "MIN_PENDING_WINDOW_DAYS",
    "cancel_deletion",
    "deletion_due",
    "schedule_deletion",
    "validate_pending_window",
]

MIN_PENDING_WINDOW_DAYS = 7
MAX_PENDING_WINDOW_DAYS = 30
DEFAULT_PENDING_WINDOW_DAYS = 30


def validate_pending_window(days: int | None) -> int:
    """``PendingWindowInDays`` as ScheduleKeyDeletion accepts it (7–30, default 30)."""
    if days is None:
        return DEFAULT_PENDING_WINDOW_DAYS
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationException("PendingWindowInDays must be an integer")
    if not MIN_PENDING_WINDOW_DAYS <= days <= MAX_PENDING_WINDOW_DAYS:
        # The model allows 1–365; the service refuses what lies outside 7–30.
        raise ValidationException(
            f"PendingWindowInDays must be between {MIN_PENDING_WINDOW_DAYS} and "
            f"{MAX_PENDING_WINDOW_DAYS}, got {days}"
        )
    return days


def schedule_deletion(record: KeyInfo, window_days: int, now: datetime) -> KeyChanges:
    """PendingDeletion until ``now + window``; DeletionDate is exactly that moment here.

    A multi-Region primary key with replicas is not deleted while they exist: it waits in
    PendingReplicaDeletion, and its window begins when its last replica is deleted
    (``multiregion.replica_deleted``)."""
    if record.multi_region_key_type is MultiRegionKeyType.PRIMARY and record.replica_regions:
        return {
            "key_state": transition(record.key_state, Event.SCHEDULE_DELETION_WITH_REPLICAS),
            "deletion_date": None,
            "pending_deletion_window_days": window_days,
        }
    return {
        "key_state": transition(record.key_state, Event.SCHEDULE_DELETION),
        "deletion_date": now + timedelta(days=window_days),
        "pending_deletion_window_days": window_days,
    }


def _has_all_material(record: KeyInfo) -> bool:
    """Whether every material the key's ciphertexts may name is present (imported keys)."""
    live = [m for m in record.materials if not m.state.waiting]
    return bool(live) and all(m.sealed is not None for m in live)


def cancel_deletion(record: KeyInfo) -> KeyChanges:
    """Back to Disabled (a deliberate EnableKey is needed), or PendingImport without material."""
    event = (
        Event.CANCEL_DELETION
        if _has_all_material(record)
        else (Event.CANCEL_DELETION_WITHOUT_MATERIAL)
    )
    state = transition(record.key_state, event)
    assert state is not None  # cancelling never destroys
    return {"key_state": state, "deletion_date": None, "pending_deletion_window_days": None}


def deletion_due(record: KeyInfo, now: datetime) -> bool:
    return (
        record.key_state is KeyState.PENDING_DELETION
        and record.deletion_date is not None
        and record.deletion_date <= now
    )
