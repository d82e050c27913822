"""The one bounded cache of the package, and the one lazily loaded constant.

Layer: below everything (imports nothing of ours), so ``lang``, ``authz``, ``kms`` and ``store``
can all use it. Every cache that buys speed in kmspolicy is an instance of ``BoundedCache``
owned by one object (a ``KMS``, a store, a policy index), never a module global
(``tests/test_no_global_state.py``). ``Once`` is not a cache: it loads a read-only resource
(botocore's model, the grammar's parser) on first use, from a function of no arguments, so it
holds one value forever and can neither grow nor go stale.

Eviction is first-in first-out: a hit costs one ``dict.get`` (no reordering on the hot path),
and a full cache drops its oldest entries instead of emptying itself, so a hot working set
survives a burst of one-off keys. The order of writes is kept in a queue beside the entries
rather than read from the dict's own order: a dict whose first entries were deleted scans their
empty slots to find its first key until its next resize (thousands of instructions per eviction
at 4,096 entries), and an ``OrderedDict``, whose ``get`` is slower, would charge every hit. A
cache may also be bounded by weight (the decision memo: the characters of the contexts it holds;
a cache keeping policies or key records alive: their characters) and group its keys, to forget
one group exactly, or to hold at most so many entries of one group (the kernel's opened
versions: so many of one key). Reads take no lock (a ``dict.get`` is atomic under the GIL);
writes do, so concurrent writers never evict while another is iterating.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["BoundedCache", "Once"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
_UNSET: object = object()


class Once(Generic[T]):
    """A read-only resource made by ``load()`` on the first call, the same object ever after
    (module-level constants too costly to build at import). ``load`` takes no arguments: a
    value that depends on arguments is a memo, and memos are ``BoundedCache`` instances."""

    __slots__ = ("_load", "_lock", "_value")

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._value: object = _UNSET

    def __call__(self) -> T:
        value = self._value
        if value is _UNSET:
            with self._lock:
                if self._value is _UNSET:
                    self._value = self._load()
                value = self._value
        return value  # type: ignore[return-value]  # set from load(), a T


class BoundedCache(Generic[K, V]):
    """At most ``maxsize`` entries, and given ``maxweight`` at most that much weight (each entry
    weighs what ``put`` says); the oldest written is evicted first. Given ``group`` (a function
    of the key), the keys of one group are dropped at once by ``discard_group``, without a scan
    (a memo's entries about one resource, when that resource changes), and listed by
    ``group_keys``; given ``maxgroup`` too, a group holds at most that many entries, and a write
    to a full group drops that group's oldest first. Given ``on_drop``, it is
    called with each entry that leaves, whatever the reason (evicted, replaced, popped,
    discarded, cleared), under the cache's lock, once the entry is gone from the cache: it must
    not use this cache."""

    __slots__ = (
        "_entries",
        "_group",
        "_groups",
        "_lock",
        "_maxgroup",
        "_on_drop",
        "_order",
        "_stale",
        "_weight",
        "_weights",
        "get",
        "maxsize",
        "maxweight",
    )

    #: the cached value of a key, or None: the entries' own ``dict.get`` (a C call on every
    #: hot path that reads a cache)
    get: Callable[[K], V | None]

    def __init__(
        self,
        maxsize: int,
        *,
        maxweight: int | None = None,
        group: Callable[[K], Hashable] | None = None,
        maxgroup: int | None = None,
        on_drop: Callable[[K, V], object] | None = None,
    ) -> None:
        if maxsize < 1 or (maxweight is not None and maxweight < 1):
            raise ValueError("a bounded cache holds at least one entry")
        if maxgroup is not None and (group is None or maxgroup < 1):
            raise ValueError("a group bound needs groups, each of at least one entry")
        self.maxsize = maxsize
        self.maxweight = maxweight
        self._entries: dict[K, V] = {}
        self._weights: dict[K, int] = {}  # kept only with a maxweight
        self._weight = 0
        self._group = group
        self._groups: dict[Hashable, dict[K, None]] = {}  # group -> its keys, oldest first
        self._maxgroup = maxgroup
        self._lock = threading.Lock()
        self._on_drop = on_drop
        # the keys in the order written, oldest first. A key dropped other than by eviction
        # (popped, discarded, written again) leaves its item in the queue, counted in _stale
        # instead of searched for; a key's stale items are all older than its live one, so an
        # item taken from the front while its key has stale items counted is one of them
        self._order: deque[K] = deque()
        self._stale: dict[K, int] = {}
        self.get = self._entries.get

    def put(self, key: K, value: V, weight: int = 1) -> V:
        """Store ``value`` under ``key`` (evicting the oldest entries as the bounds demand);
        returns it. An entry heavier than ``maxweight`` on its own is not stored."""
        entries = self._entries
        limit = self.maxweight
        if limit is not None and weight > limit:
            return value
        group = self._group
        with self._lock:
            if key in entries:
                self._forget(key)
            if group is not None:
                name = group(key)
                if self._maxgroup is not None:
                    members = self._groups.get(name)
                    if members is not None and len(members) >= self._maxgroup:
                        self._forget(next(iter(members)))  # the group's oldest
            order = self._order
            while entries and (
                len(entries) >= self.maxsize
                or (limit is not None and self._weight + weight > limit)
            ):
                oldest = order.popleft()  # entries held: a live item is queued
                if not (self._stale and self._passed_stale(oldest)):
                    self._drop(oldest)
            entries[key] = value
            order.append(key)
            if self._stale and len(order) > 2 * len(entries) + 8:  # none stale: as long
                self._compact()
            if limit is not None:
                self._weights[key] = weight
                self._weight += weight
            if group is not None:
                self._groups.setdefault(name, {})[key] = None
        return value

    def _compact(self) -> None:
        """Keep only the live items of the queue (the lock held): once it holds more than
        twice the entries, so each stale item is copied past at most once."""
        self._order = deque(key for key in self._order if not self._passed_stale(key))

    def _passed_stale(self, key: K) -> bool:
        """Whether an item of ``key`` just taken from the front of the queue is stale (then one
        fewer of its stale items is counted): a key's stale items are older than its live one."""
        stale = self._stale
        count = stale.get(key)
        if count is None:
            return False
        if count == 1:
            del stale[key]
        else:
            stale[key] = count - 1
        return True

    def _forget(self, key: K) -> None:
        """Drop ``key`` other than by eviction (the lock held, ``key`` present): its item stays
        queued, counted stale."""
        self._drop(key)
        self._stale[key] = self._stale.get(key, 0) + 1

    def _drop(self, key: K) -> None:
        """Forget ``key`` and its bookkeeping (the lock held, ``key`` present)."""
        value = self._entries.pop(key)
        if self._on_drop is not None:
            self._on_drop(key, value)
        if self.maxweight is not None:
            self._weight -= self._weights.pop(key)
        if self._group is not None:
            name = self._group(key)
            members = self._groups[name]
            del members[key]
            if not members:
                del self._groups[name]

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The cached value of ``key``, made (outside the lock) and stored on a miss."""
        found = self._entries.get(key)
        if found is None:
            found = self.put(key, make())
        return found

    def pop(self, key: K) -> V | None:
        """Forget ``key`` (exact invalidation); its value, or None when it was not cached."""
        with self._lock:
            value = self._entries.get(key)
            if key in self._entries:
                self._forget(key)
            return value

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        """Forget every key for which ``predicate`` holds (e.g. every version of one key)."""
        with self._lock:
            for key in [k for k in self._entries if predicate(k)]:
                self._forget(key)

    def discard_group(self, name: Hashable) -> None:
        """Forget every key of group ``name`` (the cache was made with ``group``)."""
        with self._lock:
            for key in list(self._groups.get(name, ())):
                self._forget(key)

    def group_keys(self, name: Hashable) -> tuple[K, ...]:
        """The keys of group ``name`` held now, the oldest written first (the cache was made
        with ``group``)."""
        with self._lock:
            return tuple(self._groups.get(name, ()))

    def clear(self) -> None:
        with self._lock:
            dropped = list(self._entries.items())
            self._entries.clear()
            self._order.clear()
            self._stale.clear()
            self._weights.clear()
            self._groups.clear()
            self._weight = 0
            on_drop = self._on_drop
            if on_drop is not None:  # as in _drop: each entry is gone before its on_drop runs
                for key, value in dropped:
                    on_drop(key, value)

    @property
    def weight(self) -> int:
        """The weight of the entries held (their count without a ``maxweight``)."""
        return self._weight if self.maxweight is not None else len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))

    def __repr__(self) -> str:
        return f"BoundedCache({len(self._entries)}/{self.maxsize})"
