"""Sign-in throttling: failed console sign-ins counted per client address and per access key
id, in this process.

Layer: server (adapter). The attack is guessing a secret access key through the sign-in form.
Per address alone, an attacker with many addresses guesses one key's secret as fast as it
likes; per access key id alone, one address tries every key. Both are counted: an attempt is
refused (429) while either its address or its access key id has had MAX_FAILURES failures in
the FAILURE_WINDOW that began with the first of them. Unknown access key ids are counted like
known ones, so the refusal tells nobody which ids exist (its price: anyone can make a known id
wait for a window; the API, signed with the same key, is not affected).

An attempt is counted before its secret is checked, and only its own count is taken back
when it succeeds: concurrent attempts (the console answers in worker threads) cannot all pass
the check before any of them is counted, and a success with the attacker's own key does not
wipe the failures of its guesses. The counts live in one BoundedCache (the oldest written
forgotten first), with ids cut to AWS's 128 characters, so memory is bounded whatever is
sent; times come from the service's clock.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Literal

from kmspolicy._cache import BoundedCache

#: addresses and access key ids whose failures are remembered (the oldest forgotten first)
MAX_ENTRIES = 8192
#: failed sign-ins one address, or one access key id, may have within FAILURE_WINDOW
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=5)
#: AWS access key ids are at most 128 characters; longer text is not an id to remember whole
MAX_KEY_ID = 128

Limit = Literal["address", "access key id"]


class SignInThrottle:
    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_failures: int = MAX_FAILURES,
        window: timedelta = FAILURE_WINDOW,
    ) -> None:
        self._max_failures = max_failures
        self._window = window
        self._counts: BoundedCache[tuple[str, str], tuple[int, datetime]] = BoundedCache(
            max_entries
        )
        self._lock = threading.Lock()  # a check and its count are one step

    def attempt(self, address: str, access_key_id: str | None, now: datetime) -> Limit | None:
        """The limit that refuses this sign-in now, or None: then it is counted as failed
        until ``succeeded`` says otherwise. ``access_key_id`` is None for the development
        identity's button (no secret to guess)."""
        keys: list[tuple[Limit, str]] = [("address", address)]
        if access_key_id is not None:
            keys.append(("access key id", access_key_id[:MAX_KEY_ID]))
        with self._lock:
            counts = [self._current(key, now) for key in keys]
            for (limit, _), (count, _) in zip(keys, counts, strict=True):
                if count >= self._max_failures:
                    return limit
            for key, (count, since) in zip(keys, counts, strict=True):
                self._counts.put(key, (count + 1, since))
        return None

    def succeeded(self, address: str, access_key_id: str | None) -> None:
        """Take back the count of an attempt that succeeded. Only its own: an attacker who
        holds some valid key of its own cannot wipe its address's failures by signing in
        with it between guesses."""
        keys = [("address", address)]
        if access_key_id is not None:
            keys.append(("access key id", access_key_id[:MAX_KEY_ID]))
        with self._lock:
            for key in keys:
                count, since = self._counts.get(key) or (0, None)
                if count > 1 and since is not None:
                    self._counts.put(key, (count - 1, since))
                else:
                    self._counts.pop(key)

    def _current(self, key: tuple[str, str], now: datetime) -> tuple[int, datetime]:
        count, since = self._counts.get(key) or (0, now)
        if now - since >= self._window:
            return 0, now
        return count, since
