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
