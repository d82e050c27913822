"""The injectable clock: UTC-aware, settable, forward-only advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kmspolicy.kms.clock import Clock, FakeClock, OffsetClock, SystemClock, as_utc


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(), Clock)


def test_fake_clock_stands_still() -> None:
    clock = FakeClock()
    assert clock.now() == clock.now()


def test_fake_clock_advances_by_days_hours_seconds() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    moved = clock.advance(days=365, hours=2, seconds=3)
    assert moved == datetime(2027, 1, 1, 2, 0, 3, tzinfo=UTC)
    assert clock.now() == moved


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds=-1)


def test_fake_clock_set_converts_to_utc() -> None:
    clock = FakeClock()
    plus_two = timezone(timedelta(hours=2))
    clock.set(datetime(2030, 6, 1, 12, 0, tzinfo=plus_two))
    assert clock.now() == datetime(2030, 6, 1, 10, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        as_utc(datetime(2026, 1, 1))


def test_offset_clock_runs_with_the_real_time_plus_what_was_advanced() -> None:
    clock = OffsetClock()
    assert isinstance(clock, Clock) and clock.now().tzinfo is UTC
    before = datetime.now(UTC)
    moved = clock.advance(days=8)
    after = datetime.now(UTC)
    assert clock.offset == timedelta(days=8)
    assert before + timedelta(days=8) <= moved <= after + timedelta(days=8)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(hours=-1)
    assert clock.offset == timedelta(days=8)


def test_kms_with_no_arguments_has_a_clock_that_advance_moves() -> None:
    """The Python API's promise: KMS() then kms.clock.advance(days=8) closes a 7-day window,
    for that instance only."""
    from kmspolicy import KMS

    kms, other = KMS(), KMS()
    client = kms.client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.clock.advance(days=8)  # type: ignore[attr-defined]  # Clock is a protocol of now()
    with pytest.raises(client.exceptions.NotFoundException):
        client.describe_key(KeyId=key_id)
    assert other.clock.now() < kms.clock.now() - timedelta(days=7)
