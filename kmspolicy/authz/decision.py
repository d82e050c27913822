"""Decisions that explain themselves: the kind, the deciding statements, missing keys, nearest miss.

Layer: authz (pure). ``Decision.reason`` follows AWS's AccessDenied wording for denials and
names the policy type that actually allowed for allows; it never contains policy text, so the
service may show it to the caller. ``explain()`` is for the policy's owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from kmspolicy.authz.arn import Arn
from kmspolicy.lang.ast import Effect


class DecisionKind(StrEnum):
    """IAM's ``EvalDecision`` values."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


class Expectation(StrEnum):
    """An expected decision, as compliance suites and ``simulate --expect`` spell it."""

    ALLOWED = "allowed"
    DENIED = "denied"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"

    def holds_for(self, decision: Decision) -> bool:
        """``denied`` accepts either kind of deny; the others must be the decision's very kind."""
        if self is Expectation.DENIED:
            return not decision.allowed
        return decision.kind.value == self.value


class PolicyType(StrEnum):
    """Where a statement came from (IAM simulator ``SourcePolicyType`` spirit, our spellings)."""

    KEY_POLICY = "key-policy"
    RESOURCE = "resource-policy"
    IDENTITY = "identity-policy"
    SCP = "service-control-policy"
    RCP = "resource-control-policy"
    PERMISSIONS_BOUNDARY = "permissions-boundary"
    SESSION = "session-policy"
    GRANT = "grant"
    POLICY = "policy"

    @property
    def phrase(self) -> str:
        """How AWS's AccessDenied messages name this policy type."""
        return _PHRASES[self]

    @property
    def is_resource_based(self) -> bool:
        return self in (PolicyType.KEY_POLICY, PolicyType.RESOURCE)


#: how an allow names what allowed (AWS has no allowed message; the key policy is named as
#: such, while denials use AWS's "resource-based policy" for it)
_ALLOW_PHRASES = MappingProxyType(
    {
        PolicyType.KEY_POLICY: "the key policy",
        PolicyType.RESOURCE: "a resource-based policy",
        PolicyType.IDENTITY: "an identity-based policy",
        PolicyType.GRANT: "a grant",
        PolicyType.POLICY: "a policy",
        PolicyType.SCP: "a service control policy",
        PolicyType.RCP: "a resource control policy",
        PolicyType.PERMISSIONS_BOUNDARY: "a permissions boundary",
        PolicyType.SESSION: "a session policy",
    }
)

_PHRASES = MappingProxyType(
    {
        PolicyType.KEY_POLICY: "resource-based policy",
        PolicyType.RESOURCE: "resource-based policy",
        PolicyType.IDENTITY: "identity-based policy",
        PolicyType.SCP: "service control policy",
        PolicyType.RCP: "resource control policy",
        PolicyType.PERMISSIONS_BOUNDARY: "permissions boundary",
        PolicyType.SESSION: "session policy",
        PolicyType.GRANT: "grant",
        PolicyType.POLICY: "identity-based policy",
    }
)


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement (or grant) that took part in a decision, located in its source."""

    source_policy_id: str
    source_policy_type: PolicyType
    effect: Effect
    sid: str | None = None
    #: 0-based index of the statement in its policy
    statement_index: int = 0
    line: int | None = None
    column: int | None = None
    #: the file (or ``<string>``) the policy was read from
    source: str | None = None

    def label(self) -> str:
        """``Sid`` when there is one, else ``Statement[i]``."""
        return self.sid if self.sid else f"Statement[{self.statement_index}]"

    def location(self) -> str:
        where = self.source or self.source_policy_id
        return f"{where}:{self.line}" if self.line else where

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_policy_id": self.source_policy_id,
            "source_policy_type": self.source_policy_type.value,
            "sid": self.sid,
            "effect": self.effect.value,
            "statement_index": self.statement_index,
            "start_position": {"line": self.line, "column": self.column} if self.line else None,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class NearMiss:
    """The Allow statement that came closest to matching an implicitly denied request."""

    statement: MatchedStatement
    matched: tuple[str, ...]
    failed: tuple[str, ...]

    def describe(self) -> str:
        """E.g. ``statement X matched action; condition StringEquals kms:CallerAccount failed``."""
        head = f"statement {self.statement.label()}"
        if self.matched:
            head += " matched " + " and ".join(self.matched)
        return head + ("; " + "; ".join(self.failed) if self.failed else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement.to_dict(),
            "matched": list(self.matched),
            "failed": list(self.failed),
            "description": self.describe(),
        }


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    """The answer to a :class:`~kmspolicy.authz.Request`.

    ``reason`` is one caller-safe line in AWS's wording; ``matched_statements`` are the
    statements (and grants) that decided; ``all_matched`` every statement (and grant) that
    matched the request in every policy consulted — including allows an explicit deny
    overrode and allows a rule ignored —, in consultation order (statement coverage counts
    these); ``missing_context_keys`` the condition keys a considered statement referred to
    that the request lacked.
    """

    kind: DecisionKind
    action: str
    resource: str
    principal: str
    matched_statements: tuple[MatchedStatement, ...] = ()
    missing_context_keys: tuple[str, ...] = ()
    nearest_miss: NearMiss | None = None
    #: the policy type that allowed, explicitly denied, or failed to allow
    decided_by: PolicyType = PolicyType.POLICY
    #: ``all_matched`` as given, or (from the evaluator) the per-policy matches it is collected
    #: from on first access — the allow hot path never builds it
    _all_matched: tuple[MatchedStatement, ...] | list[Any] = field(
        default=(), repr=False, compare=False
    )
    #: ``reason`` once formatted: a memoized decision answers many requests, each recorded
    #: with its reason in the audit log (a pure function of the fields above)
    _reason: str | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        kind: DecisionKind,
        action: str,
        resource: str,
        principal: str,
        matched_statements: tuple[MatchedStatement, ...] = (),
        missing_context_keys: tuple[str, ...] = (),
        nearest_miss: NearMiss | None = None,
        decided_by: PolicyType = PolicyType.POLICY,
        all_matched: tuple[MatchedStatement, ...] | list[Any] = (),
    ) -> None:
        # INVARIANT: frozen after __init__; slot setters skip the frozen __setattr__ (hot path)
        s = _DECISION_SET
        s[0](self, kind)
        s[1](self, action)
        s[2](self, resource)
        s[3](self, principal)
        s[4](self, matched_statements)
        s[5](self, missing_context_keys)
        s[6](self, nearest_miss)
        s[7](self, decided_by)
        s[8](self, all_matched)
        s[9](self, None)

    @classmethod
    def over_limit(
        cls, action: str, resource: str, principal: str, by: PolicyType, what: str
    ) -> Decision:
        """The denial of a request whose evaluation went past a bound of ``authz.limits``
        while matching a policy of type ``by``: no statement decided it, and its reason says
        which bound (``what``) instead of AWS's wording."""
        decision = cls(DecisionKind.IMPLICIT_DENY, action, resource, principal, decided_by=by)
        article = "an" if by.phrase[0] in "aeiou" else "a"
        _DECISION_SET[9](
            decision,
            f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
            f"because evaluating {article} {by.phrase} went past the evaluator's limit on {what}",
        )
        return decision

    @property
    def all_matched(self) -> tuple[MatchedStatement, ...]:
        """Every statement (and grant) that matched the request, deciding or not."""
        found = self._all_matched
        if isinstance(found, tuple):
            return found
        collected = _collect(found)
        _DECISION_SET[8](self, collected)  # cache (same frozen-slot rule as __init__)
        return collected

    @property
    def reason(self) -> str:
        """One caller-safe line in AWS's AccessDenied wording (built on demand: the hot path
        of an allowed request never formats it; formatted once per decision)."""
        reason = self._reason
        if reason is not None:
            return reason
        if self.kind is DecisionKind.ALLOWED:
            reason = allowed_reason(
                self.principal,
                self.action,
                self.resource,
                self.decided_by,
                self.matched_statements,
            )
        elif self.kind is DecisionKind.EXPLICIT_DENY:
            reason = explicit_deny_reason(
                self.principal, self.action, self.resource, self.decided_by
            )
        else:
            reason = implicit_deny_reason(
                self.principal, self.action, self.resource, self.decided_by
            )
        _DECISION_SET[9](self, reason)  # cache (same frozen-slot rule as __init__)
        return reason

    @property
    def allowed(self) -> bool:
        return self.kind is DecisionKind.ALLOWED

    def explain(self) -> str:
        """A multi-line explanation for the policy owner (may name statements, never values)."""
        lines = [f"{self.kind.value}: {self.reason}"]
        for stmt in self.matched_statements:
            lines.append(
                f"  {stmt.effect.value} {stmt.label()} "
                f"({stmt.source_policy_type.value} {stmt.location()})"
            )
        deciding = set(self.matched_statements)
        for stmt in self.all_matched:
            if stmt not in deciding:
                lines.append(
                    f"  also matched: {stmt.effect.value} {stmt.label()} "
                    f"({stmt.source_policy_type.value} {stmt.location()})"
                )
        if self.nearest_miss is not None:
            lines.append(f"  nearest miss: {self.nearest_miss.describe()}")
        if self.missing_context_keys:
            lines.append("  missing context keys: " + ", ".join(self.missing_context_keys))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": self.resource,
            "principal": self.principal,
            "decision": self.kind.value,
            "reason": self.reason,
            "decided_by": self.decided_by.value,
            "matched_statements": [m.to_dict() for m in self.matched_statements],
            "all_matched_statements": [m.to_dict() for m in self.all_matched],
            "missing_context_keys": list(self.missing_context_keys),
            "nearest_miss": self.nearest_miss.to_dict() if self.nearest_miss else None,
        }


_DECISION_SET = tuple(
    Decision.__dict__[name].__set__
    for name in (
        "kind",
        "action",
        "resource",
        "principal",
        "matched_statements",
        "missing_context_keys",
        "nearest_miss",
        "decided_by",
        "_all_matched",
        "_reason",
    )
)


def _collect(sources: list[Any]) -> tuple[MatchedStatement, ...]:
    """Flatten the evaluator's record: per-policy matches (``.allows``/``.denies`` hit lists,
    merged back into document order) and grant references, in consultation order."""
    out: list[MatchedStatement] = []
    for item in sources:
        if isinstance(item, MatchedStatement):
            out.append(item)
            continue
        allows, denies = item.allows, item.denies
        hits = (
            sorted(allows + denies, key=lambda h: h[0].statement_index)
            if allows and denies
            else allows or denies
        )
        out.extend(h[0] for h in hits)
    return tuple(out)


def is_root_arn(principal: str) -> bool:
    """``arn:<partition>:iam::<account>:root`` — the account's root user."""
    arn = Arn.of(principal)
    return arn is not None and arn.service == "iam" and arn.resource == "root"


def _account(text: str) -> str | None:
    arn = Arn.of(text)
    return (arn.account or None) if arn is not None else None


def allowed_by(
    principal: str, resource: str, by: PolicyType, matched: Sequence[MatchedStatement] = ()
) -> str:
    """What allowed, naming the policy type that actually did (e.g. ``by the key policy and
    an identity-based policy``); the deciding statements tell which types took part."""
    types = {m.source_policy_type for m in matched}
    root = is_root_arn(principal)
    if by is PolicyType.IDENTITY:
        if root and PolicyType.IDENTITY not in types:
            # the root user has full access within its account; no identity policy is involved
            return "as the account's root user"
        if PolicyType.KEY_POLICY in types:
            return "by an identity-based policy that the key policy enables"
        if PolicyType.RESOURCE in types:
            return "by an identity-based policy that the resource-based policy enables"
    if by.is_resource_based:
        head = f"by {_ALLOW_PHRASES[by]}"
        if PolicyType.IDENTITY in types:
            return f"{head} and an identity-based policy"
        if root and _account(principal) != _account(resource):
            return f"{head} (the caller's root user needs no identity-based policy)"
        return head
    return f"by {_ALLOW_PHRASES[by]}"


def allowed_reason(
    principal: str,
    action: str,
    resource: str,
    by: PolicyType,
    matched: Sequence[MatchedStatement] = (),
) -> str:
    return (
        f"User: {principal} is allowed to perform: {action} on resource: {resource} "
        f"{allowed_by(principal, resource, by, matched)}"
    )


def explicit_deny_reason(principal: str, action: str, resource: str, by: PolicyType) -> str:
    """AWS: ``... with an explicit deny in a resource-based policy``."""
    article = "an" if by.phrase[0] in "aeiou" else "a"
    return (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
        f"with an explicit deny in {article} {by.phrase}"
    )


def implicit_deny_reason(principal: str, action: str, resource: str, by: PolicyType) -> str:
    """AWS: ``... because no identity-based policy allows the kms:Decrypt action``."""
    return (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
        f"because no {by.phrase} allows the {action} action"
    )
