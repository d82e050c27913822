"""Scheduled deletion: window bounds, DeletionDate, cancellation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kmspolicy.errors import ValidationException
from kmspolicy.kms.lifecycle import deletion
from kmspolicy.kms.model import OriginType
from kmspolicy.kms.states import KeyState

from .conftest import T0, apply, make_key


@pytest.mark.parametrize("days", [6, 31, 0, 365])
def test_window_outside_7_to_30_is_refused(days: int) -> None:
    with pytest.raises(ValidationException):
        deletion.validate_pending_window(days)


def test_window_default_is_30() -> None:
    assert deletion.validate_pending_window(None) == 30


def test_schedule_sets_deletion_date() -> None:
    key = apply(deletion.schedule_deletion, make_key(), 7, T0)
    assert key.key_state is KeyState.PENDING_DELETION
    assert key.deletion_date == T0 + timedelta(days=7)
    assert not deletion.deletion_due(key, T0 + timedelta(days=7) - timedelta(seconds=1))
    assert deletion.deletion_due(key, T0 + timedelta(days=7))


def test_cancel_returns_disabled() -> None:
    key = apply(deletion.cancel_deletion, apply(deletion.schedule_deletion, make_key(), 7, T0))
    assert key.key_state is KeyState.DISABLED
    assert key.deletion_date is None and key.pending_deletion_window_days is None


def test_cancel_of_external_key_without_material_returns_pending_import() -> None:
    key = make_key(origin=OriginType.EXTERNAL)
    key = apply(deletion.cancel_deletion, apply(deletion.schedule_deletion, key, 7, T0))
    assert key.key_state is KeyState.PENDING_IMPORT
