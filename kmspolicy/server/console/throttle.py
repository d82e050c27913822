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
wipe the failures of its guesses.

Memory is bounded whatever is sent. Addresses are counted in a BoundedCache (the oldest
written forgotten first): flooding it from many addresses forgets only what those addresses
could do anyway. Access key ids are counted in a fixed table of slots chosen by a keyed hash
of the id, and nothing is ever forgotten there before its window ends: with an evicting cache,
a few thousand attempts from fresh addresses with junk ids flushed a blocked id's count and
reopened it at once. Ids that share a slot share a count, which can only make them wait
sooner; the hash key is drawn per throttle, so nobody can aim a collision at a chosen id.
Times come from the service's clock.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime, timedelta
from typing import Literal

from kmspolicy._cache import BoundedCache
from kmspolicy._rng import Rng

#: addresses whose failures are remembered (the oldest forgotten first)
MAX_ENTRIES = 8192
#: slots of the access key ids' table (a fixed size: nothing in it is evicted)
KEY_ID_SLOTS = 8192
#: failed sign-ins one address, or one access key id, may have within FAILURE_WINDOW
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=5)
Limit = Literal["address", "access key id"]

#: failures counted, and when the first of them was
_Count = tuple[int, datetime]


class SignInThrottle:
    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_failures: int = MAX_FAILURES,
        window: timedelta = FAILURE_WINDOW,
        key_id_slots: int = KEY_ID_SLOTS,
        rng: Rng = os.urandom,
    ) -> None:
        self._max_failures = max_failures
        self._window = window
        self._addresses: BoundedCache[str, _Count] = BoundedCache(max_entries)
        self._key_ids: list[_Count | None] = [None] * key_id_slots
        self._hash_key = rng(32)
        self._lock = threading.Lock()  # a check and its count are one step

    def attempt(self, address: str, access_key_id: str | None, now: datetime) -> Limit | None:
        """The limit that refuses this sign-in now, or None: then it is counted as failed
        until ``succeeded`` says otherwise. ``access_key_id`` is None for the development
        identity's button (no secret to guess)."""
        slot = None if access_key_id is None else self._slot(access_key_id)
        with self._lock:
            by_address = self._current(self._addresses.get(address), now)
            if by_address[0] >= self._max_failures:
                return "address"
            by_key_id = None if slot is None else self._current(self._key_ids[slot], now)
            if by_key_id is not None and by_key_id[0] >= self._max_failures:
                return "access key id"
            self._addresses.put(address, (by_address[0] + 1, by_address[1]))
            if slot is not None and by_key_id is not None:
                self._key_ids[slot] = (by_key_id[0] + 1, by_key_id[1])
        return None

    def succeeded(self, address: str, access_key_id: str | None) -> None:
        """Take back the count of an attempt that succeeded. Only its own: an attacker who
        holds some valid key of its own cannot wipe its address's failures by signing in
        with it between guesses."""
        slot = None if access_key_id is None else self._slot(access_key_id)
        with self._lock:
            count = _less(self._addresses.get(address))
            if count is None:
                self._addresses.pop(address)
            else:
                self._addresses.put(address, count)
            if slot is not None:
                self._key_ids[slot] = _less(self._key_ids[slot])

    def _slot(self, access_key_id: str) -> int:
        digest = hashlib.blake2b(
            access_key_id.encode("utf-8", "surrogatepass"), key=self._hash_key, digest_size=8
        ).digest()
        return int.from_bytes(digest) % len(self._key_ids)

    def _current(self, count: _Count | None, now: datetime) -> _Count:
        if count is None or now - count[1] >= self._window:
            return 0, now
        return count


def _less(count: _Count | None) -> _Count | None:
    """One failure fewer (None: none left)."""
    if count is None or count[0] <= 1:
        return None
    return count[0] - 1, count[1]
