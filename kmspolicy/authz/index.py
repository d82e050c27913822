"""Compiled, indexed policies: find the few statements that can apply without scanning them all.

Layer: authz (pure). Each statement is filed under ONE index — its exact principals, else its
exact actions, else its exact resources — or in a short scan list; a lookup gathers the
candidates for the caller's identities, the action and the resource, then runs the full match.
``compile_policy`` and ``match_policy`` compile afresh; a ``PolicyCache`` (one per owner: a KMS
pipeline, a simulate or suite run) keeps compiled policies by object identity (policies are
immutable), bounded, and its ``match`` is the matcher repeated decisions pass.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

from kmspolicy._cache import BoundedCache
from kmspolicy.authz.decision import MatchedStatement, PolicyType
from kmspolicy.authz.matching import has_wildcard
from kmspolicy.authz.operators import Family, to_text
from kmspolicy.authz.principals import PrincipalMatch, index_key
from kmspolicy.authz.statements import CompiledStatement, policy_name, statement_ref

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request
    from kmspolicy.lang.ast import Policy, Statement

Hit = tuple[MatchedStatement, PrincipalMatch]
#: document order of compiled statements (they hash by identity, so a set removes repeats)
_ORDINAL = attrgetter("ordinal")
_ACTION_MEMO_SIZE = 1024


class PolicyMatch:
    """The statements of one policy that apply to a request, split by effect; ``compiled`` is
    the compiled policy that produced it (None from a matcher that compiles nothing), which
    nearest misses reuse."""

    __slots__ = ("allows", "compiled", "denies", "missing")

    def __init__(self, compiled: CompiledPolicy | None = None) -> None:
        self.allows: list[Hit] = []
        self.denies: list[Hit] = []
        self.missing: list[str] = []
        self.compiled = compiled


def _principal_keys(stmt: Statement) -> list[str] | None:
    if stmt.principals is None or stmt.not_principal:
        return None
    keys = [index_key(p) for p in stmt.principals]
    return None if any(k is None for k in keys) else [k for k in keys if k is not None]


def _action_keys(stmt: Statement) -> list[str] | None:
    if stmt.not_action or any(has_wildcard(a.name) for a in stmt.actions):
        return None
    return [a.name.lower() for a in stmt.actions]


def _resource_keys(stmt: Statement, variables: bool) -> list[str] | None:
    if stmt.resources is None or stmt.not_resource:
        return None
    arns = [r.arn for r in stmt.resources]
    if any(has_wildcard(a) or (variables and "${" in a) for a in arns):
        return None
    return arns


def _condition_index_key(cs: CompiledStatement) -> tuple[str, frozenset[str]] | None:
    """(key, values) when the statement's first condition is a plain positive StringEquals."""
    if not cs.conditions:
        return None
    cond = cs.conditions[0]
    spec = cond.spec
    if (
        spec.family is not Family.STRING
        or spec.compare != "eq"
        or spec.negated
        or cond.qualifier is not None
        or cond.if_exists
        or cond.templates
        or not cond.values
    ):
        return None
    return cond.key_lower, frozenset(cond.values)


class CompiledPolicy:
    """A policy compiled for one role (policy type, resource-based or not)."""

    __slots__ = (
        "_scan_by_action",
        "by_action",
        "by_condition",
        "by_principal",
        "by_resource",
        "policy",
        "policy_type",
        "resource_based",
        "scan",
        "statements",
    )

    def __init__(self, policy: Policy, policy_type: PolicyType, *, name: str | None = None) -> None:
        self.policy = policy
        self.policy_type = policy_type
        self.resource_based = policy_type.is_resource_based
        variables = policy.variables_enabled
        label = name or policy_name(policy, policy_type)
        self.statements = [
            CompiledStatement(
                s, i, statement_ref(policy, policy_type, i, label), variables=variables
            )
            for i, s in enumerate(policy.statements)
        ]
        self.by_principal: dict[str, list[CompiledStatement]] = {}
        self.by_action: dict[str, list[CompiledStatement]] = {}
        self.by_resource: dict[str, list[CompiledStatement]] = {}
        #: condition key -> (value -> statements, all those statements): statements whose FIRST
        #: condition is a plain positive StringEquals; pruned only when the key is present and
        #: its value differs (so missing-key reporting is unchanged)
        self.by_condition: dict[
            str, tuple[dict[str, list[CompiledStatement]], list[CompiledStatement]]
        ] = {}
        self.scan: list[CompiledStatement] = []
        #: memo: action name -> the scan-list statements whose Action/NotAction matches it.
        #: Safe to cache: a pure function of this immutable policy and the action name.
        self._scan_by_action: BoundedCache[str, tuple[CompiledStatement, ...]] = BoundedCache(
            _ACTION_MEMO_SIZE
        )
        for cs in self.statements:
            stmt = cs.stmt
            if self.resource_based and stmt.principals is None:
                continue  # a resource-based statement without Principal never applies
            if stmt.resources is None or not stmt.actions:
                continue  # INVARIANT: statements without Resource/Action have no effect
            for keys, index in (
                (_principal_keys(stmt), self.by_principal),
                (_action_keys(stmt), self.by_action),
                (_resource_keys(stmt, variables), self.by_resource),
            ):
                if keys:
                    for key in dict.fromkeys(keys):
                        index.setdefault(key, []).append(cs)
                    break
            else:
                indexed = _condition_index_key(cs)
                if indexed is None:
                    self.scan.append(cs)
                    continue
                key, values = indexed
                by_value, everything = self.by_condition.setdefault(key, ({}, []))
                everything.append(cs)
                for value in values:
                    by_value.setdefault(value, []).append(cs)

    def candidates(self, request: Request) -> list[CompiledStatement]:
        """Every statement that could apply, in document order."""
        found: list[CompiledStatement] = []
        by_principal = self.by_principal
        if by_principal:
            for key in request.caller.index_keys:
                bucket = by_principal.get(key)
                if bucket:
                    found.extend(bucket)
        if self.by_action:
            found.extend(self.by_action.get(request.action_lower, ()))
        if self.by_resource:
            found.extend(self.by_resource.get(request.resource, ()))
        if self.by_condition:
            for key, (by_value, everything) in self.by_condition.items():
                values = request.lookup(key)
                if values is None:
                    found.extend(everything)  # evaluated so the missing key gets reported
                    continue
                for raw in values:
                    text = raw if type(raw) is str else to_text(raw)
                    if text is not None and (bucket := by_value.get(text)):
                        found.extend(bucket)
        if self.scan:
            action = request.action_lower
            scan = self._scan_by_action.get(action)
            if scan is None:
                scan = self._scan_for(action)
            found.extend(scan)
        if len(found) > 1:
            # a statement naming several of the caller's identities sits in several buckets
            found = sorted(set(found), key=_ORDINAL)
        return found

    def _scan_for(self, action: str) -> tuple[CompiledStatement, ...]:
        found = tuple(cs for cs in self.scan if cs.action_matches(action))
        return self._scan_by_action.put(action, found)

    def match(self, request: Request) -> PolicyMatch:
        result = PolicyMatch(self)
        missing = result.missing
        for cs in self.candidates(request):
            how = cs.match(request, self.resource_based, missing)
            if how is not None:
                (result.denies if cs.is_deny else result.allows).append((cs.ref, how))
        return result


def compile_policy(
    policy: Policy, policy_type: PolicyType, *, name: str | None = None
) -> CompiledPolicy:
    """The compiled form of ``policy`` for ``policy_type`` (compiled afresh: cache it with a
    ``PolicyCache`` when the same policy object decides many requests)."""
    return CompiledPolicy(policy, policy_type, name=name)


def match_policy(
    policy: Policy, request: Request, policy_type: PolicyType, name: str | None = None
) -> PolicyMatch:
    """The applying statements of one policy (compiled and indexed evaluation, compiled afresh)."""
    return CompiledPolicy(policy, policy_type, name=name).match(request)


def policy_chars(policy: Policy) -> int:
    """About the length of ``policy``'s JSON text: its strings, and a few characters for each
    element around them (a weight for the caches that keep parsed policies alive)."""
    total = 64
    for statement in policy.statements:
        total += 48 + len(statement.sid or "")
        for action in statement.actions:
            total += 4 + len(action.name)
        for principal in statement.principals or ():
            total += 4 + len(principal.value)
        for resource in statement.resources or ():
            total += 4 + len(resource.arn)
        for condition in statement.conditions:
            total += 32 + len(condition.key)
            for value in condition.values:
                total += 4 + (len(value.value) if isinstance(value.value, str) else 8)
    return total


class PolicyCache:
    """Compiled policies by object identity, at most ``maxsize`` of them (oldest dropped), and
    given ``maxweight`` at most that many ``policy_chars`` of the policies they keep alive (a
    compiled 32 KB key policy, its parsed form included, is several hundred KB; each version of
    a key policy is a new object).

    Owned by whoever decides many requests over the same policy objects (the KMS pipeline, a
    simulate or suite run); ``match`` is its matcher (``authorize_kms(..., matcher=cache.match)``).
    Keyed by ``id(policy)``; the entry holds the policy itself, so the id cannot be reused by
    another object while cached, and the ``is`` check guards against stale entries.
    """

    __slots__ = ("_compiled",)

    def __init__(self, maxsize: int = 512, *, maxweight: int | None = None) -> None:
        self._compiled: BoundedCache[tuple[int, PolicyType, str | None], CompiledPolicy] = (
            BoundedCache(maxsize, maxweight=maxweight)
        )

    def compile(
        self, policy: Policy, policy_type: PolicyType, *, name: str | None = None
    ) -> CompiledPolicy:
        key = (id(policy), policy_type, name)
        entry = self._compiled.get(key)
        if entry is not None and entry.policy is policy:
            return entry
        compiled = CompiledPolicy(policy, policy_type, name=name)
        return self._compiled.put(key, compiled, policy_chars(policy))  # weighed on a miss only

    def match(
        self, policy: Policy, request: Request, policy_type: PolicyType, name: str | None = None
    ) -> PolicyMatch:
        """The applying statements of one policy (a ``Matcher``)."""
        # compile's lookup, inlined: this runs for every policy of every decision
        entry = self._compiled.get((id(policy), policy_type, name))
        if entry is None or entry.policy is not policy:
            entry = self.compile(policy, policy_type, name=name)
        return entry.match(request)

    def __len__(self) -> int:
        return len(self._compiled)
