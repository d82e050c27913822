"""Deletion operations: ScheduleKeyDeletion and CancelKeyDeletion.

Layer: kms (handlers bound to the operation table; the rules are in ``deletion.py``;
destruction at the end of the window is due work, ``due.py``).
"""

from __future__ import annotations

from typing import Any

from kmspolicy.kms.lifecycle import deletion
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def schedule_key_deletion(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html"""
    key = call.key.info
    window = deletion.validate_pending_window(call.params.get("PendingWindowInDays"))
    doomed = call.update_key(call.key, **deletion.schedule_deletion(key, window, call.now))
    out: dict[str, Any] = {"KeyId": key.arn}
    if doomed.deletion_date is not None:  # absent for a primary waiting for its replicas
        out["DeletionDate"] = doomed.deletion_date
    out["KeyState"] = doomed.key_state.value
    out["PendingWindowInDays"] = window
    return out


def cancel_key_deletion(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html"""
    call.update_key(call.key, **deletion.cancel_deletion(call.key.info))
    return {"KeyId": call.key.arn}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("ScheduleKeyDeletion", schedule_key_deletion),
    bind("CancelKeyDeletion", cancel_key_deletion),
)
