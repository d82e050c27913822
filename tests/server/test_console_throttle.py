"""The console's sign-in throttle (kmspolicy.server.console.throttle) with an injected clock:
the brute-force patterns it stops, and its bounds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from kmspolicy.server.console.throttle import FAILURE_WINDOW, SignInThrottle

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "AKIAADMINEXAMPLE0001"


def test_one_address_guessing_waits_out_the_window() -> None:
    throttle = SignInThrottle()
    for n in range(10):
        assert throttle.attempt("10.0.0.1", f"AKIAGUESS{n:011d}", T0 + timedelta(seconds=n)) is None
    assert throttle.attempt("10.0.0.1", KEY, T0 + timedelta(seconds=30)) == "address"
    assert throttle.attempt("10.0.0.2", KEY, T0 + timedelta(seconds=30)) is None  # others not
    # the window began with the first failure: it ends five minutes after it
    assert throttle.attempt("10.0.0.1", KEY, T0 + FAILURE_WINDOW - timedelta(seconds=1))
    assert throttle.attempt("10.0.0.1", KEY, T0 + FAILURE_WINDOW) is None


def test_many_addresses_guessing_one_key_make_that_key_wait() -> None:
    throttle = SignInThrottle()
    for n in range(10):
        assert throttle.attempt(f"10.0.{n}.1", KEY, T0) is None
    assert throttle.attempt("10.9.9.9", KEY, T0) == "access key id"
    assert throttle.attempt("10.9.9.9", "AKIAREADEREXAMPLE001", T0) is None
    assert throttle.attempt("10.9.9.9", None, T0) is None  # the development button: no key


def test_a_success_takes_back_only_its_own_attempt() -> None:
    """The attack: hold a valid key of one's own and sign in with it between guesses, to wipe
    the address's failures. Only that attempt's count is taken back."""
    throttle = SignInThrottle()
    for n in range(9):
        assert throttle.attempt("10.0.0.1", f"AKIAVICTIM{n:010d}", T0) is None
    assert throttle.attempt("10.0.0.1", "AKIAMINEEXAMPLE00001", T0) is None
    throttle.succeeded("10.0.0.1", "AKIAMINEEXAMPLE00001")
    assert throttle.attempt("10.0.0.1", "AKIAVICTIM0000000009", T0) is None  # the 10th failure
    assert throttle.attempt("10.0.0.1", "AKIAMINEEXAMPLE00001", T0) == "address"


def test_concurrent_attempts_are_counted_before_any_is_checked() -> None:
    """Fifty attempts at once (the console answers in worker threads): ten get through."""
    throttle = SignInThrottle()
    start = threading.Barrier(50)
    passed: list[bool] = []

    def guess() -> None:
        start.wait()
        passed.append(throttle.attempt("10.0.0.1", KEY, T0) is None)

    threads = [threading.Thread(target=guess) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == 10


def test_memory_is_bounded_whatever_is_sent() -> None:
    throttle = SignInThrottle(max_entries=64, key_id_slots=128)
    for n in range(1000):
        throttle.attempt(f"10.{n // 256}.{n % 256}.1", "A" * 100_000 + str(n), T0)
    assert len(throttle._addresses) <= 64
    assert len(throttle._key_ids) == 128


def test_a_flood_of_fresh_addresses_does_not_reopen_a_blocked_key_id() -> None:
    """The attack: ten guesses block the key id; then thousands of attempts from fresh
    addresses (one IPv6 /64 has plenty) with junk ids, to push the blocked id's count out of
    a bounded memory, and guess again at once. The key id stays blocked for its window."""
    throttle = SignInThrottle(max_entries=64, key_id_slots=64)
    for n in range(10):
        assert throttle.attempt(f"10.0.0.{n}", KEY, T0) is None
    for n in range(5000):
        throttle.attempt(f"2001:db8::{n:x}", f"AKIAJUNK{n:012d}", T0)
    assert throttle.attempt("10.0.1.2", KEY, T0) == "access key id"
    assert throttle.attempt("10.0.1.2", KEY, T0 + FAILURE_WINDOW) is None


def test_the_slot_of_a_key_id_cannot_be_aimed_at() -> None:
    """Ids share a slot by a keyed hash drawn per throttle: the same ids fall into other
    slots in another throttle, so a collision found in one cannot be aimed at a victim."""
    ids = [f"AKIA{n:016d}" for n in range(64)]
    one, other = SignInThrottle(), SignInThrottle()
    assert [one._slot(i) for i in ids] != [other._slot(i) for i in ids]
