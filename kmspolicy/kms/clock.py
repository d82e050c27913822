"""The service clock: the one place kmspolicy reads wall-clock time.

Layer: kms (a port with its two adapters). Rotation schedules, deletion windows, import-token and
key-material expiry and ``aws:CurrentTime`` all read an injected ``Clock``; tests move a
``FakeClock`` instead of waiting a year. The in-process ``KMS()`` runs on an ``OffsetClock``: the
real time, which ``advance`` moves forward for that instance only.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "OffsetClock", "SystemClock", "as_utc"]

# A fixed, unremarkable default start so that tests built on FakeClock() are reproducible.
_DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused because their zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (use datetime(..., tzinfo=UTC))")
    return moment.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """A source of the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time: what the CLI and the server use unless told otherwise."""

    __slots__ = ()

    def now(self) -> datetime:
        # INVARIANT: the only call of datetime.now() in kms/ and crypto/.
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


def _step(days: float, hours: float, minutes: float, seconds: float, who: str) -> timedelta:
    step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if step < timedelta(0):
        raise ValueError(f"{who} only moves forward, got a step of {step}")
    return step


class OffsetClock:
    """The real time plus an offset that only grows: what ``KMS()`` runs on by default.

    Time passes as on the wall, and ``advance(days=8)`` jumps this clock (and only this one)
    forward, so a user of the in-process service can see a deletion window close or a rotation
    fall due without waiting and without giving up real time. Safe to share between threads.
    """

    __slots__ = ("_lock", "_offset", "_system")

    def __init__(self) -> None:
        self._system = SystemClock()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        # Reading the offset needs no lock: it is one immutable timedelta, replaced whole (under
        # the lock) by advance, so a reader sees the old one or the new one. Not yet advanced,
        # the real time is the answer as it is.
        offset = self._offset
        now = self._system.now()
        return now + offset if offset else now

    @property
    def offset(self) -> timedelta:
        """How far ahead of the real time this clock runs."""
        with self._lock:
            return self._offset

    def advance(
        self,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move forward by the given amount (added to the offset); returns the new time."""
        step = _step(days, hours, minutes, seconds, "an OffsetClock")
        with self._lock:
            self._offset = offset = self._offset + step
        # the time this call moved to: a concurrent advance after the lock must not show here
        return self._system.now() + offset

    def __repr__(self) -> str:
        return f"OffsetClock(offset={self.offset})"


class FakeClock:
    """A clock that stands still until it is set or advanced; safe to share between threads.

    ``advance`` only moves forward: due work (rotations, deletions, expiry) is defined by time
    passing, and a clock running backwards would make "already done" work due again.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_utc(start) if start is not None else _DEFAULT_START
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (timezone-aware); returns the new time."""
        moment = as_utc(moment)
        with self._lock:
            self._now = moment
            return moment

    def advance(
        self,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move forward by the given amount; returns the new time."""
        step = _step(days, hours, minutes, seconds, "a FakeClock")
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"
