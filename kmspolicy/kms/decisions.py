"""A memo of authorization decisions, keyed by everything that can change one.

Layer: kms. ``authorize_kms`` is a pure function of the request (caller, action, resource,
context, time) and the policies (key policy, identity policies, boundary, session policies,
SCPs, RCPs, grants). The memo key holds the caller's directory entry, the action, the resource,
the whole request context (which carries the key's properties, tags and aliases, the encryption
context and every request parameter key), and the identities of the policy objects and of the
key's grant set (immutable: ``authz.GrantSet``); each entry keeps those objects alive, so their
ids cannot be reused while it exists. Key policies are looked up by their text and grants are
read from the store on every request, so a changed policy or a revoked grant is a different
key: nothing stale is ever served.
Decisions that may depend on the clock (a policy mentioning ``aws:CurrentTime`` and friends)
are never memoized.

The memo is a ``BoundedCache`` of one ``KMS``: at most ``limit`` entries and ``max_chars``
characters of context, the oldest dropped first (its two tables of policy facts likewise, by
the size of the policies they keep alive), and the decisions about a key are forgotten
(``forget``) when it is disabled, scheduled for deletion or deleted, as every cache of the
service (design invariant 7); a key's material is no input of a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kmspolicy._cache import BoundedCache
from kmspolicy.authz import Decision
from kmspolicy.authz.clock_keys import policy_reads_time
from kmspolicy.authz.index import policy_chars
from kmspolicy.kms.identities import Resolved
from kmspolicy.lang import Policy

__all__ = ["DecisionMemo", "context_chars", "freeze"]


#: a request context larger than this (characters of its keys and values) is not memoised:
#: the memo pays off for the many small, repeated requests of the hot path, and one caller
#: must not fill the memo with its large contexts (issue 12 item 6)
MAX_ENTRY_CHARS = 4096
#: the characters of all memoised contexts together; the oldest entries go to keep within it
MAX_TOTAL_CHARS = 8 * 1024 * 1024
#: what an entry costs beyond its context's characters (key tuple, decision, dict slot), in chars
_ENTRY_OVERHEAD = 512
#: the policy characters (``policy_chars``) each table of policy facts may keep alive: a parsed
#: policy takes about 7 bytes per character of its JSON (a 31 KB key policy: 228 KB, its text
#: included), so about 15 MB each, stale policies included (issue 17)
MAX_POLICY_CHARS = 2 * 1024 * 1024


def context_chars(frozen: frozenset[tuple[str, Any]]) -> int:
    """The characters of a frozen context's keys and values (8 for any other value)."""
    total = 0
    for k, v in frozen:
        total += len(k)
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, tuple):
            total += sum(len(item) if isinstance(item, str) else 8 for item in v)
        else:
            total += 8
    return total


def freeze(context: Mapping[str, Any]) -> frozenset[tuple[str, Any]]:
    """A request context as a memo key part: equal only for contexts a policy cannot tell apart.
    Python's equality is not that: ``0 == False`` and ``1 == True == 1.0``, so every value but
    text, a boolean and None (no two of which are equal) goes in with its class, and a list as
    a tuple of its items, each likewise (a caller's ``aws:SecureTransport`` of 0 must not be
    answered by the decision memoised for False)."""
    if _PLAIN.issuperset(map(type, context.values())):  # the usual context, in C
        return frozenset(context.items())
    return frozenset([(k, _frozen(v)) for k, v in context.items()])


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple([v if v.__class__ is str else (v.__class__, v) for v in value])
    return value if value.__class__ in _PLAIN else (value.__class__, value)


_PLAIN = frozenset({str, bool, type(None)})  # classes whose values ``freeze`` keeps as they are


def _resource(key: tuple[Any, ...]) -> str:
    """The resource a memo key is about (its group: forgotten when that key is written)."""
    return key[2]  # type: ignore[no-any-return]  # a memo key: (identity, action, resource, …)


class DecisionMemo:
    """Bounded by entries and by the size of the contexts it holds, the oldest entries
    dropped first (a miss only costs one evaluation); a decision whose context is large is not
    memoised at all. Its policy facts are bounded by entries and by the ``policy_chars`` of the
    policies they keep alive (``max_policy_chars`` for each table)."""

    __slots__ = ("_entries", "_sets", "_time_free")

    def __init__(
        self,
        limit: int = 65_536,
        max_chars: int = MAX_TOTAL_CHARS,
        max_policy_chars: int = MAX_POLICY_CHARS,
    ) -> None:
        self._entries: BoundedCache[tuple[Any, ...], tuple[Decision, tuple[object, ...]]] = (
            BoundedCache(limit, maxweight=max_chars, group=_resource)
        )
        # id(policy) -> (the policy, kept alive so its id stays its own; whether it is
        # time-free; its policy_chars, the entry's weight)
        self._time_free: BoundedCache[int, tuple[Policy, bool, int]] = BoundedCache(
            limit, maxweight=max_policy_chars
        )
        # (ids of caller, key policy, SCPs, RCPs) -> (those objects, kept alive so their ids
        # stay their own; the ids of every policy they hold, None when one reads the time);
        # weighs the policy_chars of every policy it keeps alive
        self._sets: BoundedCache[tuple[int, int, int, int], tuple[Any, ...]] = BoundedCache(
            limit, maxweight=max_policy_chars
        )

    def policy_ids(
        self,
        identity: Resolved,
        key_policy: Policy | None,
        scps: tuple[Policy, ...],
        rcps: tuple[Policy, ...],
    ) -> tuple[int, ...] | None:
        """The ids of every policy a question is decided by (a memo key part), or None when
        one of them may read the time; once per set of policies, not per request. Tuples and
        a caller's directory entry never change, so the same objects hold the same policies.
        """
        question = (id(identity), id(key_policy), id(scps), id(rcps))
        known = self._sets.get(question)
        if (
            known is None
            or known[0] is not identity
            or known[1] is not key_policy
            or known[2] is not scps
            or known[3] is not rcps
        ):
            every = (
                key_policy,
                *identity.policies,
                identity.permissions_boundary,
                *identity.session_policies,
                *scps,
                *rcps,
            )
            time_free, chars = self._facts(every)
            ids = tuple(map(id, every)) if time_free else None
            known = self._sets.put(question, (identity, key_policy, scps, rcps, ids), chars)
        return known[4]  # type: ignore[no-any-return]

    def _facts(self, policies: Iterable[Policy | None]) -> tuple[bool, int]:
        """Whether none of ``policies`` reads the time, and their ``policy_chars`` together."""
        time_free = True
        chars = 0
        for policy in policies:
            if policy is None:
                continue
            known = self._time_free.get(id(policy))
            if known is None or known[0] is not policy:
                size = policy_chars(policy)
                fact = (policy, not policy_reads_time(policy), size)
                known = self._time_free.put(id(policy), fact, size)
            time_free = time_free and known[1]
            chars += known[2]
        return time_free, chars

    def key(
        self,
        identity: object,
        action: str,
        resource: str,
        context: Mapping[str, Any],
        policy_ids: tuple[int, ...],
        grants: object,
        base: frozenset[tuple[str, Any]] = frozenset(),
    ) -> tuple[Any, ...]:
        """The memo key of one question, whose policies have ``policy_ids`` (``policy_ids``:
        None for a question that may depend on the time, which is not memoised). ``base``: the
        frozen part of the request context that ``context`` was laid over (``freeze`` of the
        key's own condition keys, made once per key record): the question's context is a
        function of the two, so the pair keys it exactly. ``grants``: the key's immutable grant
        set, by identity (one object per set of grants, not a key part per grant)."""
        return (
            id(identity),
            action,
            resource,
            freeze(context),
            base,
            policy_ids,
            id(grants),
        )

    def get(self, key: tuple[Any, ...]) -> Decision | None:
        found = self._entries.get(key)
        return None if found is None else found[0]

    def put(self, key: tuple[Any, ...], decision: Decision, keep_alive: tuple[object, ...]) -> None:
        # measured on a miss only (a hit never pays for it); key[3] and key[4]: the context
        chars = context_chars(key[3]) + context_chars(key[4])
        if chars <= MAX_ENTRY_CHARS:
            self._entries.put(key, (decision, keep_alive), chars + _ENTRY_OVERHEAD)

    def forget(self, key_arn: str) -> None:
        """The decisions about key ``key_arn`` go (it was disabled, doomed or deleted)."""
        self._entries.discard_group(key_arn)

    def about(self, resource: str) -> int:
        """How many decisions about ``resource`` are memoised (for tests and diagnostics)."""
        return sum(1 for key in self._entries if key[2] == resource)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        """The characters the memoised contexts hold (with a fixed overhead per entry)."""
        return self._entries.weight

    @property
    def pinned_policy_chars(self) -> tuple[int, int]:
        """The ``policy_chars`` each table of policy facts keeps alive (facts per policy,
        per set of policies)."""
        return self._time_free.weight, self._sets.weight
