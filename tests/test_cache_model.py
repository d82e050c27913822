"""``BoundedCache`` against a model: an ordered list of the entries, oldest written first.

Random runs of writes, pops, discards, clears, weights and group bounds must leave the cache
holding exactly what the model holds, in the same order, and must call ``on_drop`` with exactly
the entries the model drops, in the same order, each once it is gone. The model knows nothing
of how the cache finds its oldest entry, so the same runs held the dict-order implementation
this replaced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from kmspolicy._cache import BoundedCache

KEYS = st.integers(0, 9)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.integers(0, 99), st.integers(1, 7)),
        st.tuples(st.just("pop"), KEYS),
        st.tuples(st.just("discard_group"), st.integers(0, 3)),
        st.tuples(st.just("discard_where"), st.integers(2, 4), st.integers(0, 3)),
        st.tuples(st.just("clear")),
    ),
    max_size=80,
)


def group_of(key: int) -> int:
    return key % 3


@dataclass
class Model:
    """The cache as documented: a list of (key, value, weight), the oldest written first."""

    maxsize: int
    maxweight: int | None
    maxgroup: int | None
    entries: list[tuple[int, int, int]] = field(default_factory=list)
    dropped: list[tuple[int, int]] = field(default_factory=list)

    def weight(self) -> int:
        if self.maxweight is None:
            return len(self.entries)
        return sum(weight for _, _, weight in self.entries)

    def drop_where(self, predicate: Callable[[int], bool]) -> None:
        kept = []
        for key, value, weight in self.entries:
            if predicate(key):
                self.dropped.append((key, value))
            else:
                kept.append((key, value, weight))
        self.entries = kept

    def put(self, key: int, value: int, weight: int) -> None:
        if self.maxweight is not None and weight > self.maxweight:
            return  # too heavy on its own: not stored, and nothing leaves
        self.drop_where(lambda k: k == key)
        group = [k for k, _, _ in self.entries if group_of(k) == group_of(key)]
        if self.maxgroup is not None and len(group) >= self.maxgroup:
            self.drop_where(lambda k: k == group[0])  # the group's oldest
        held = weight if self.maxweight is not None else 1
        while self.entries and (
            len(self.entries) >= self.maxsize
            or (self.maxweight is not None and self.weight() + held > self.maxweight)
        ):
            oldest, old_value, _ = self.entries.pop(0)
            self.dropped.append((oldest, old_value))
        self.entries.append((key, value, held))

    def get(self, key: int) -> int | None:
        return next((v for k, v, _ in self.entries if k == key), None)


def run(
    maxsize: int, maxweight: int | None, maxgroup: int | None, ops: list[tuple[object, ...]]
) -> None:
    model = Model(maxsize, maxweight, maxgroup)
    dropped: list[tuple[int, int]] = []

    def on_drop(key: int, value: int) -> None:
        assert key not in cache  # gone before its on_drop runs
        dropped.append((key, value))

    cache: BoundedCache[int, int] = BoundedCache(
        maxsize, maxweight=maxweight, group=group_of, maxgroup=maxgroup, on_drop=on_drop
    )
    for op in ops:
        match op:
            case ("put", int(key), int(value), int(weight)):
                assert cache.put(key, value, weight) == value
                model.put(key, value, weight)
            case ("pop", int(key)):
                assert cache.pop(key) == model.get(key)
                model.drop_where(lambda k, key=key: k == key)
            case ("discard_group", int(name)):
                cache.discard_group(name)
                model.drop_where(lambda k, name=name: group_of(k) == name)
            case ("discard_where", int(m), int(r)):
                cache.discard_where(lambda k, m=m, r=r: k % m == r)
                model.drop_where(lambda k, m=m, r=r: k % m == r)
            case ("clear",):
                cache.clear()
                model.drop_where(lambda k: True)
        assert list(cache) == [key for key, _, _ in model.entries]
        assert all(cache.get(key) == value for key, value, _ in model.entries)
        assert len(cache) == len(model.entries) and cache.weight == model.weight()
        assert dropped == model.dropped
        for key in range(10):
            assert (key in cache) == (model.get(key) is not None)
        for name in range(3):
            members = tuple(k for k, _, _ in model.entries if group_of(k) == name)
            assert cache.group_keys(name) == members
        check_structure(cache)


def check_structure(cache: BoundedCache[int, int]) -> None:
    """The write queue's live items are the entries in order, and it stays bounded."""
    stale = dict(cache._stale)
    live = []
    for key in cache._order:  # a key's stale items come before its live one
        if stale.get(key, 0):
            stale[key] -= 1
        else:
            live.append(key)
    assert live == list(cache._entries) and not any(stale.values())
    assert all(count > 0 for count in cache._stale.values())
    assert len(cache._order) <= 2 * cache.maxsize + 8


@given(
    st.integers(1, 5),
    st.one_of(st.none(), st.integers(1, 12)),
    st.one_of(st.none(), st.integers(1, 3)),
    OPS,
)
def test_a_bounded_cache_holds_and_drops_exactly_what_the_model_does(
    maxsize: int, maxweight: int | None, maxgroup: int | None, ops: list[tuple[object, ...]]
) -> None:
    run(maxsize, maxweight, maxgroup, ops)


def test_a_cache_written_over_and_over_keeps_its_queue_bounded() -> None:
    # rewrites and pops leave stale items in the write queue; the queue is compacted, not grown
    cache: BoundedCache[int, int] = BoundedCache(50)
    for n in range(5_000):
        cache.put(n % 7, n)
        if n % 3 == 0:
            cache.pop((n + 1) % 7)
        check_structure(cache)
    assert list(cache) == sorted(cache, key=lambda key: cache.get(key) or 0)
