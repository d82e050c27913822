"""Compiled statements: Action/Resource/Principal/Condition matchers built once per statement.

Layer: authz (pure). A statement applies when its action, principal, resource and every
condition match; :meth:`CompiledStatement.match` returns how the principal matched, or None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kmspolicy._cache import BoundedCache
from kmspolicy.authz.conditions import CompiledCondition
from kmspolicy.authz.decision import MatchedStatement, PolicyType
from kmspolicy.authz.limits import COMPILE_COST
from kmspolicy.authz.matching import (
    ArnGlob,
    Glob,
    Piece,
    compile_arn,
    compile_arn_pieces,
    compile_glob,
    has_wildcard,
    memoised,
    resolved_memo,
)
from kmspolicy.authz.principals import (
    CompiledPrincipals,
    PrincipalMatch,
    denied_whatever_listed,
)
from kmspolicy.authz.variables import Template, parse_template
from kmspolicy.lang.ast import Effect, Policy, Statement

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request


def policy_name(policy: Policy, policy_type: PolicyType, position: int = 0) -> str:
    """The name a decision uses for a policy: its Id, else its file, else its type and position."""
    if policy.id:
        return policy.id
    if policy.span is not None and policy.span.source and not policy.span.source.startswith("<"):
        return policy.span.source
    return f"{policy_type.value}[{position}]" if position else policy_type.value


def statement_ref(
    policy: Policy, policy_type: PolicyType, index: int, name: str
) -> MatchedStatement:
    stmt = policy.statements[index]
    span = stmt.span
    return MatchedStatement(
        source_policy_id=name,
        source_policy_type=policy_type,
        effect=stmt.effect,
        sid=stmt.sid,
        statement_index=index,
        line=span.line if span else None,
        column=span.column if span else None,
        source=span.source if span else (policy.span.source if policy.span else None),
    )


class CompiledStatement:
    """One statement with pre-built matchers. ``ordinal`` orders statements within a policy."""

    __slots__ = (
        "_resolved",
        "action_any",
        "action_exact",
        "action_patterns",
        "conditions",
        "denies_bounded",
        "is_deny",
        "not_action",
        "not_resource",
        "ordinal",
        "principals",
        "ref",
        "resource_any",
        "resource_exact",
        "resource_none",
        "resource_patterns",
        "resource_templates",
        "stmt",
    )

    def __init__(
        self, stmt: Statement, ordinal: int, ref: MatchedStatement, *, variables: bool
    ) -> None:
        self.ordinal = ordinal
        self.ref = ref
        self.stmt = stmt
        self.is_deny = stmt.effect is Effect.DENY
        #: a Deny with NotPrincipal, which names every caller with a permissions boundary
        self.denies_bounded = self.is_deny and stmt.not_principal
        self.not_action = stmt.not_action
        names = [a.name for a in stmt.actions]
        self.action_any = "*" in names
        self.action_exact = frozenset(n.lower() for n in names if not has_wildcard(n))
        self.action_patterns: tuple[Glob, ...] = tuple(
            compile_glob(n, ignore_case=True) for n in names if has_wildcard(n) and n != "*"
        )
        self.resource_none = stmt.resources is None
        self.not_resource = stmt.not_resource
        arns = [r.arn for r in stmt.resources or ()]
        templates: list[Template] = []
        exact: set[str] = set()
        patterns: list[ArnGlob] = []
        self.resource_any = False
        for arn in arns:
            template = parse_template(arn) if variables else None
            if template is not None:
                templates.append(template)
            elif arn == "*":
                self.resource_any = True
            elif has_wildcard(arn):
                patterns.append(compile_arn(arn))
            else:
                exact.add(arn)
        self.resource_exact = frozenset(exact)
        self.resource_patterns = tuple(patterns)
        self.resource_templates = tuple(templates)
        #: the ARN patterns the templates resolved to, by substituted pieces (one per user,
        #: role … that used this statement), bounded
        self._resolved: BoundedCache[tuple[Piece, ...], ArnGlob] | None = (
            resolved_memo() if templates else None
        )
        self.conditions = tuple(CompiledCondition(c, variables=variables) for c in stmt.conditions)
        self.principals = CompiledPrincipals(stmt.principals, stmt.not_principal)

    def action_matches(self, action_lower: str) -> bool:
        hit = (
            self.action_any
            or action_lower in self.action_exact
            or any(p.matches_lowered(action_lower) for p in self.action_patterns)
        )
        return hit != self.not_action

    def principal_match(self, request: Request, resource_based: bool) -> PrincipalMatch | None:
        """How the statement's principal element names the request's caller, or None."""
        if self.denies_bounded and resource_based and denied_whatever_listed(request):
            return PrincipalMatch.ANYONE
        return self.principals.match(request.caller, resource_based)

    def resource_matches(self, request: Request) -> bool:
        if self.resource_none:
            return False
        resource = request.resource
        hit = (
            self.resource_any
            or resource in self.resource_exact
            or any(p.matches(resource) for p in self.resource_patterns)
        )
        if not hit:
            resolved = self._resolved
            for template in self.resource_templates:
                pieces = template.resolve(request)
                if pieces is None or resolved is None:
                    continue
                pattern = memoised(resolved, pieces, compile_arn_pieces)
                if pattern.compile_chars:  # as a condition's (conditions.py)
                    request.charge(COMPILE_COST * pattern.compile_chars)
                if pattern.matches(resource):
                    hit = True
                    break
        return hit != self.not_resource

    def match(
        self, request: Request, resource_based: bool, missing: list[str]
    ) -> PrincipalMatch | None:
        """How the statement applies to the request (principal match kind), or None."""
        action = request.action_lower
        hit = self.action_any or action in self.action_exact
        if not hit:
            for pattern in self.action_patterns:
                if pattern.matches_lowered(action):
                    hit = True
                    break
        if hit == self.not_action:
            return None
        # principal_match, inlined: one Python call fewer per candidate statement
        if self.denies_bounded and resource_based and denied_whatever_listed(request):
            how: PrincipalMatch | None = PrincipalMatch.ANYONE
        else:
            how = self.principals.match(request.caller, resource_based)
        if how is None:
            return None
        if not (self.resource_any and not self.not_resource) and not self.resource_matches(request):
            return None
        for cond in self.conditions:
            if not cond.evaluate(request, missing):
                return None
        return how
