"""The in-memory store: the default ``Store`` of ``kmspolicy.KMS()`` and of most tests.

Layer: kms (an adapter of ``kms.ports`` that needs nothing outside the package; the durable
stores live in ``kmspolicy.store``). One lock serializes transactions; each write is applied at
once and journaled, and an exception inside the transaction replays the journal backwards, so a
failing operation leaves no partial state. Records are held as the kernel made them: key
material sealed under ``root_key`` (by default a fresh key of this process), exactly as the
durable stores keep it, so tests run the same unsealing path as a server.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from types import TracebackType
from typing import Any, TypeVar

from kmspolicy._cache import BoundedCache
from kmspolicy.authz.grants import grantee_keys
from kmspolicy.crypto.seal import RootKey
from kmspolicy.errors import InternalError
from kmspolicy.kms.lifecycle.due import has_due_work
from kmspolicy.kms.model import (
    AliasRecord,
    CustomKeyStoreRecord,
    GrantRecord,
    KeyRecord,
    SessionRecord,
)
from kmspolicy.kms.ports import INLINE_GRANTS, RunInThread, SealingKey

__all__ = ["MemoryStore"]

_Undo = Callable[[], object]
_K = TypeVar("_K")
_V = TypeVar("_V")

#: the grants the kept answers of ``list_grants_naming`` may hold in all (as many as a key
#: may have grants naming one caller, twice over)
_NAMING_MAX_GRANTS = 131_072


class MemoryStore:
    """A ``kms.ports.Store`` held in dictionaries."""

    __slots__ = (
        "_aliases",
        "_by_account",
        "_by_grantee",
        "_by_grantee_role",
        "_by_id",
        "_by_retiring",
        "_by_target",
        "_grant_ids",
        "_grants",
        "_key_stores",
        "_keys",
        "_lock",
        "_naming",
        "_sessions",
        "root_key",
    )

    def __init__(self, root_key: SealingKey | None = None) -> None:
        self.root_key: SealingKey = root_key if root_key is not None else RootKey.generate()
        self._keys: dict[str, KeyRecord] = {}
        self._by_account: dict[tuple[str, str], dict[str, str]] = {}  # -> key id -> key ARN
        self._by_id: dict[str, dict[str, str]] = {}  # region -> key id -> key ARN (any account)
        self._aliases: dict[str, AliasRecord] = {}
        # (account, region, key id) -> alias ARN -> alias: kms:ResourceAliases on every request
        self._by_target: dict[tuple[str, str, str | None], dict[str, AliasRecord]] = {}
        # Grants and their indexes, kept up to date by each write (``_link_grant``), so no
        # read or write of a grant costs time in the key's other grants (up to 50,000):
        self._grants: dict[str, dict[str, GrantRecord]] = {}  # key ARN -> grant id -> grant
        #: sorted grant ids: of a key; of a key's grants to one grantee; of a key's grants to
        #: one role by its path-free ARN (``grantee_keys``); and sorted (key ARN, grant id) of
        #: the grants of one retiring principal
        self._grant_ids: dict[str, list[str]] = {}
        self._by_grantee: dict[tuple[str, str], list[str]] = {}
        self._by_grantee_role: dict[tuple[str, str], list[str]] = {}
        self._by_retiring: dict[str, list[tuple[str, str]]] = {}
        #: (key ARN, caller's index keys) -> the grants naming them, kept while the key's
        #: grants are unchanged (``_link_grant`` and ``_unlink_grant`` drop the key's group,
        #: also when a rollback undoes a write): a decision of a caller named by 50,000 grants
        #: costs a lookup, not a merge and sort of them, and is handed the same tuple, which
        #: the pipeline's grant sets are keyed by
        self._naming: BoundedCache[tuple[str, tuple[str, ...]], tuple[GrantRecord, ...]] = (
            BoundedCache(4096, maxweight=_NAMING_MAX_GRANTS, group=itemgetter(0))
        )
        self._key_stores: dict[str, CustomKeyStoreRecord] = {}  # store id -> record
        self._sessions: dict[str, SessionRecord] = {}  # token digest -> console session
        self._lock = threading.RLock()

    def _grant_entries(self, g: GrantRecord) -> list[tuple[dict[Any, list[Any]], object, object]]:
        """Where ``g`` stands in the indexes: (index, its key there, the item it adds)."""
        grantee, role = grantee_keys(g.grantee_principal)
        entries: list[tuple[dict[Any, list[Any]], object, object]] = [
            (self._grant_ids, g.key_arn, g.grant_id),
            (self._by_grantee, (g.key_arn, grantee), g.grant_id),
        ]
        if role is not None:
            entries.append((self._by_grantee_role, (g.key_arn, role), g.grant_id))
        if g.retiring_principal is not None:
            entries.append((self._by_retiring, g.retiring_principal, (g.key_arn, g.grant_id)))
        return entries

    def _link_grant(self, g: GrantRecord) -> None:
        """Add ``g`` (whose id the key does not hold) to the grants and every index."""
        self._naming.discard_group(g.key_arn)
        self._grants.setdefault(g.key_arn, {})[g.grant_id] = g
        for index, at, item in self._grant_entries(g):
            _insert(index, at, item)

    def _unlink_grant(self, g: GrantRecord) -> None:
        """Remove ``g`` from the grants and every index, dropping what it leaves empty."""
        self._naming.discard_group(g.key_arn)
        table = self._grants[g.key_arn]
        del table[g.grant_id]
        if not table:
            del self._grants[g.key_arn]
        for index, at, item in self._grant_entries(g):
            _remove(index, at, item)

    def transaction(self, *, readonly: bool = False, inline: bool = False) -> _MemoryTransaction:
        return _MemoryTransaction(self, readonly, inline)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._keys)}, aliases={len(self._aliases)})"


class _MemoryTransaction:
    __slots__ = ("_inline", "_journal", "_readonly", "_s")

    def __init__(self, store: MemoryStore, readonly: bool = False, inline: bool = False) -> None:
        self._s = store
        self._readonly = readonly
        self._inline = inline
        self._journal: list[_Undo] = []

    def reused(self, question: tuple[object, ...]) -> object | None:
        return None  # nothing is kept: every read here is a dict lookup already

    def keep(self, question: tuple[object, ...], answer: object, weight: int) -> None:
        pass

    def __enter__(self) -> _MemoryTransaction:
        self._s._lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                for undo in reversed(self._journal):
                    undo()
        finally:
            self._journal.clear()
            self._s._lock.release()

    # --- helpers that journal their inverse
    def _set(self, table: dict[str, _V], key: str, value: _V) -> None:
        if self._readonly:  # same rule as the SQL stores: undeclared writes are bugs
            raise InternalError("write in a read-only store transaction")
        if key in table:
            old = table[key]
            self._journal.append(lambda: table.__setitem__(key, old))
        else:
            self._journal.append(lambda: table.pop(key, None))
        table[key] = value

    def _pop(self, table: dict[str, _V], key: str) -> None:
        if self._readonly:
            raise InternalError("write in a read-only store transaction")
        if key in table:
            old = table.pop(key)
            self._journal.append(lambda: table.__setitem__(key, old))

    # --- keys
    def get_key(self, key_arn: str) -> KeyRecord | None:
        return self._s._keys.get(key_arn)

    def put_key(self, record: KeyRecord) -> None:
        index = self._s._by_account.setdefault((record.account, record.region), {})
        self._set(index, record.key_id, record.arn)
        self._set(self._s._by_id.setdefault(record.region, {}), record.key_id, record.arn)
        self._set(self._s._keys, record.arn, record)

    def delete_key(self, key_arn: str) -> None:
        record = self._s._keys.get(key_arn)
        if record is None:
            return
        for alias in self.list_aliases(record.account, record.region, key_id=record.key_id):
            self.delete_alias(alias.arn)
        for grant in self.list_grants(key_arn):
            self.delete_grant(key_arn, grant.grant_id)
        index = self._s._by_account.get((record.account, record.region), {})
        self._pop(index, record.key_id)
        self._pop(self._s._by_id.get(record.region, {}), record.key_id)
        self._pop(self._s._keys, key_arn)

    def list_keys(
        self, account: str, region: str, *, after: str | None = None, limit: int | None = None
    ) -> Sequence[KeyRecord]:
        index = self._s._by_account.get((account, region), {})
        ids = sorted(k for k in index if after is None or k > after)
        if limit is not None:
            ids = ids[:limit]
        return [self._s._keys[index[k]] for k in ids]

    def find_key(self, key_id: str, region: str) -> KeyRecord | None:
        arn = self._s._by_id.get(region, {}).get(key_id)
        return None if arn is None else self._s._keys.get(arn)

    def count_keys(self, account: str, region: str) -> int:
        return len(self._s._by_account.get((account, region), {}))

    def iter_all_keys(self) -> Iterator[KeyRecord]:
        return iter(list(self._s._keys.values()))

    def due_key_arns(self, now: datetime) -> Sequence[str]:
        # Records are in memory, so a scan of them is the cheap way to ask.
        return sorted(arn for arn, k in self._s._keys.items() if has_due_work(k, now))

    # --- aliases
    def get_alias(self, alias_arn: str) -> AliasRecord | None:
        return self._s._aliases.get(alias_arn)

    def put_alias(self, record: AliasRecord) -> None:
        self.delete_alias(record.arn)  # it may point elsewhere now
        self._set(self._s._aliases, record.arn, record)
        target = (record.account, record.region, record.target_key_id)
        self._set(self._s._by_target.setdefault(target, {}), record.arn, record)

    def delete_alias(self, alias_arn: str) -> None:
        old = self._s._aliases.get(alias_arn)
        if old is None:
            return
        self._pop(self._s._aliases, alias_arn)
        index = self._s._by_target.get((old.account, old.region, old.target_key_id))
        if index is not None:
            self._pop(index, alias_arn)

    def list_aliases(
        self, account: str, region: str, *, key_id: str | None = None
    ) -> Sequence[AliasRecord]:
        if key_id is not None:
            index = self._s._by_target.get((account, region, key_id))
            if not index:
                return ()
            found = list(index.values())
        else:
            found = [
                a for a in self._s._aliases.values() if a.account == account and a.region == region
            ]
        found.sort(key=lambda a: a.name)
        return found

    # --- grants
    def get_grant(self, key_arn: str, grant_id: str) -> GrantRecord | None:
        return self._s._grants.get(key_arn, {}).get(grant_id)

    def put_grant(self, record: GrantRecord) -> None:
        old = self.get_grant(record.key_arn, record.grant_id)
        if old is not None:
            self._unlink(old)
        self._link(record)

    def delete_grant(self, key_arn: str, grant_id: str) -> None:
        old = self.get_grant(key_arn, grant_id)
        if old is not None:
            self._unlink(old)

    def _link(self, record: GrantRecord) -> None:
        if self._readonly:
            raise InternalError("write in a read-only store transaction")
        self._s._link_grant(record)
        self._journal.append(lambda: self._s._unlink_grant(record))

    def _unlink(self, record: GrantRecord) -> None:
        if self._readonly:
            raise InternalError("write in a read-only store transaction")
        self._s._unlink_grant(record)
        self._journal.append(lambda: self._s._link_grant(record))

    def list_grants(
        self,
        key_arn: str,
        *,
        grantee: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Sequence[GrantRecord]:
        if grantee is None:
            ids = self._s._grant_ids.get(key_arn, [])
        else:
            ids = self._s._by_grantee.get((key_arn, grantee), [])
        table = self._s._grants.get(key_arn, {})
        return tuple([table[i] for i in _page(ids, after, limit)])

    def list_grants_naming(self, key_arn: str, names: Sequence[str]) -> Sequence[GrantRecord]:
        question = (key_arn, tuple(names))
        kept = self._s._naming.get(question)
        if kept is not None:
            if self._inline and len(kept) > INLINE_GRANTS:
                raise RunInThread  # read whole by a block that was not inline
            return kept
        found: set[str] = set()
        for name in names:
            found.update(self._s._by_grantee.get((key_arn, name), ()))
            found.update(self._s._by_grantee_role.get((key_arn, name), ()))
        if self._inline and len(found) > INLINE_GRANTS:
            raise RunInThread
        table = self._s._grants.get(key_arn, {})
        grants = tuple([table[i] for i in sorted(found)])
        return self._s._naming.put(question, grants, len(grants) + 1)

    def count_grants(self, key_arn: str) -> int:
        return len(self._s._grants.get(key_arn) or ())

    def list_grants_by_retiring_principal(
        self, principal: str, *, after: tuple[str, str] | None = None, limit: int | None = None
    ) -> Sequence[GrantRecord]:
        ids = self._s._by_retiring.get(principal, [])
        grants = self._s._grants
        return [grants[key_arn][grant_id] for key_arn, grant_id in _page(ids, after, limit)]

    # --- custom key stores
    def get_custom_key_store(self, store_id: str) -> CustomKeyStoreRecord | None:
        return self._s._key_stores.get(store_id)

    def put_custom_key_store(self, record: CustomKeyStoreRecord) -> None:
        self._set(self._s._key_stores, record.store_id, record)

    def delete_custom_key_store(self, store_id: str) -> None:
        self._pop(self._s._key_stores, store_id)

    def list_custom_key_stores(self, account: str, region: str) -> Sequence[CustomKeyStoreRecord]:
        return [
            self._s._key_stores[i]
            for i in sorted(self._s._key_stores)
            if self._s._key_stores[i].account == account and self._s._key_stores[i].region == region
        ]

    def count_keys_in_custom_key_store(self, store_id: str) -> int:
        # a few stores of a few keys each: a scan is the cheap way to ask
        return sum(1 for k in self._s._keys.values() if k.custom_key_store_id == store_id)

    # --- web console sessions
    def get_session(self, digest: str) -> SessionRecord | None:
        return self._s._sessions.get(digest)

    def put_session(self, record: SessionRecord) -> None:
        self._set(self._s._sessions, record.digest, record)

    def delete_session(self, digest: str) -> None:
        self._pop(self._s._sessions, digest)

    def delete_expired_sessions(self, now: datetime) -> None:
        for digest in [d for d, s in self._s._sessions.items() if s.expires <= now]:
            self._pop(self._s._sessions, digest)


_I = TypeVar("_I", str, tuple[str, str])


def _insert(index: dict[_K, list[_I]], at: _K, item: _I) -> None:
    insort(index.setdefault(at, []), item)


def _remove(index: dict[_K, list[_I]], at: _K, item: _I) -> None:
    """Remove ``item`` from the sorted ``index[at]``, and ``at`` once nothing is left."""
    items = index[at]
    del items[bisect_left(items, item)]
    if not items:
        del index[at]


def _page(items: list[_I], after: _I | None, limit: int | None) -> list[_I]:
    """The sorted ``items`` after ``after``, at most ``limit`` of them."""
    start = 0 if after is None else bisect_right(items, after)
    return items[start:] if limit is None else items[start : start + limit]
