"""The package's one bounded cache and its one lazily loaded constant."""

from __future__ import annotations

import threading

import pytest

from kmspolicy._cache import BoundedCache, Once


def test_a_bounded_cache_drops_its_oldest_entry_when_full() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert list(cache) == ["b", "c"] and cache.get("a") is None
    assert cache.pop("b") == 2 and len(cache) == 1


def test_a_bounded_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BoundedCache(0)


def test_a_weighted_cache_drops_its_oldest_entries_to_stay_within_its_weight() -> None:
    cache: BoundedCache[str, int] = BoundedCache(100, maxweight=10)
    for name, weight in (("a", 4), ("b", 4), ("c", 2)):
        cache.put(name, 0, weight)
    assert cache.weight == 10 and list(cache) == ["a", "b", "c"]
    cache.put("d", 0, 5)  # a and b go (oldest first), c stays
    assert list(cache) == ["c", "d"] and cache.weight == 7
    cache.put("huge", 0, 11)  # heavier than the whole cache: not stored, nothing evicted
    assert list(cache) == ["c", "d"] and cache.weight == 7
    cache.put("c", 1, 1)  # written again: its new weight, and it is the newest
    assert list(cache) == ["d", "c"] and cache.weight == 6 and cache.get("c") == 1
    assert cache.pop("d") == 0 and cache.weight == 1
    cache.clear()
    assert len(cache) == 0 and cache.weight == 0


def test_a_grouped_cache_forgets_one_group_exactly() -> None:
    cache: BoundedCache[tuple[str, int], int] = BoundedCache(4, group=lambda key: key[0])
    for key in (("k1", 1), ("k2", 1), ("k1", 2), ("k2", 2)):
        cache.put(key, key[1])
    cache.discard_group("k1")
    assert list(cache) == [("k2", 1), ("k2", 2)]
    cache.discard_group("unknown")  # nothing to forget
    for n in range(3, 6):  # evictions keep the groups in step: k2's oldest go first
        cache.put(("k3", n), n)
    assert list(cache) == [("k2", 2), ("k3", 3), ("k3", 4), ("k3", 5)]
    cache.discard_group("k2")
    cache.discard_group("k3")
    assert len(cache) == 0


def test_a_group_holds_at_most_maxgroup_entries_its_oldest_dropped_first() -> None:
    dropped: list[tuple[str, int]] = []
    cache: BoundedCache[tuple[str, int], int] = BoundedCache(
        4, group=lambda key: key[0], maxgroup=2, on_drop=lambda k, _: dropped.append(k)
    )
    for key in (("k1", 1), ("k2", 1), ("k1", 2), ("k1", 3)):  # k1's third write drops ("k1", 1)
        cache.put(key, key[1])
    assert cache.group_keys("k1") == (("k1", 2), ("k1", 3)) and dropped == [("k1", 1)]
    assert cache.group_keys("k2") == (("k2", 1),) and cache.group_keys("none") == ()
    cache.put(("k1", 2), 20)  # written again: the newest of its group, nothing else leaves
    assert cache.group_keys("k1") == (("k1", 3), ("k1", 2)) and len(dropped) == 2
    for n in range(2, 5):  # the whole cache's bound still evicts the oldest of all
        cache.put(("k3", n), n)
    assert list(cache) == [("k1", 3), ("k1", 2), ("k3", 3), ("k3", 4)]
    assert cache.group_keys("k2") == ()


def test_a_group_bound_needs_groups() -> None:
    with pytest.raises(ValueError, match="group bound"):
        BoundedCache(4, maxgroup=2)
    with pytest.raises(ValueError, match="group bound"):
        BoundedCache(4, group=lambda key: key, maxgroup=0)


def test_on_drop_sees_every_entry_that_leaves() -> None:
    dropped: list[tuple[str, int]] = []
    cache: BoundedCache[str, int] = BoundedCache(2, on_drop=lambda k, v: dropped.append((k, v)))
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)  # evicts a
    cache.put("b", 20)  # replaces b
    cache.pop("c")
    cache.pop("missing")
    cache.put("d", 4)
    cache.discard_where(lambda k: k == "d")
    cache.put("e", 5)
    cache.clear()
    assert dropped == [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("b", 20), ("e", 5)]
    assert len(cache) == 0


def test_once_loads_on_first_use_and_never_again() -> None:
    calls: list[int] = []

    def load() -> dict[str, int]:
        calls.append(1)
        return {"loaded": len(calls)}

    resource = Once(load)
    assert calls == []  # nothing at construction (import time)
    first = resource()
    assert resource() is first and calls == [1]


def test_once_loads_once_under_concurrent_first_use() -> None:
    calls: list[int] = []
    gate = threading.Barrier(8)

    def load() -> object:
        calls.append(1)
        return object()

    resource = Once(load)
    seen: list[object] = []

    def use() -> None:
        gate.wait()
        seen.append(resource())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(v) for v in seen}) == 1


def test_an_entry_is_gone_before_its_on_drop_runs_however_it_leaves() -> None:
    # what on_drop does may rely on it (the kernel releases the envelope key of what leaves)
    seen: list[tuple[str, bool]] = []
    cache: BoundedCache[str, int] = BoundedCache(
        2, on_drop=lambda key, _: seen.append((key, key in cache))
    )
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)  # evicts a
    cache.put("b", 4)  # replaces b
    cache.pop("c")
    cache.put("d", 5)
    cache.clear()
    assert seen == [("a", False), ("b", False), ("c", False), ("b", False), ("d", False)]
