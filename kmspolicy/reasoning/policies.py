"""Statements and policies as z3 formulas: when each statement applies, and how it names the caller.

Layer: reasoning (pure; z3). Mirrors ``authz.statements``/``authz.principals``: a statement
applies when its action, principal, resource and every condition match; the principal match
says *how* the caller was named (the caller itself or anyone, its role, its account), which the
KMS and IAM decision rules need.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import z3

from kmspolicy.authz.matching import action_matches, has_wildcard
from kmspolicy.authz.principals import canonical, role_parts
from kmspolicy.authz.variables import parse_template
from kmspolicy.lang.ast import Effect, Policy, Principal, PrincipalKind, Statement
from kmspolicy.reasoning.conditions import ConditionEncoder, template_text
from kmspolicy.reasoning.request import CallerType, SymbolicRequest
from kmspolicy.reasoning.strings import glob_regex, lit
from kmspolicy.reasoning.terms import all_of, any_of


@dataclass
class StatementTerm:
    """One statement: where it is, and when it applies with each kind of principal match."""

    policy_label: str
    policy: Policy
    index: int
    statement: Statement
    #: applies, naming the caller itself or anyone (or, identity policies: no Principal)
    direct: z3.BoolRef
    #: applies, naming the role of the caller's session (and not the caller or anyone)
    role: z3.BoolRef
    #: applies, naming only the caller's account
    account: z3.BoolRef

    @property
    def applies(self) -> z3.BoolRef:
        return any_of(self.direct, self.role, self.account)


@dataclass
class PolicyTerm:
    """The statements of one or more policies in one slot (a key policy, the identity policies…)."""

    statements: list[StatementTerm] = field(default_factory=list)

    def _any(self, effect: Effect, attr: str) -> z3.BoolRef:
        terms = [getattr(s, attr) for s in self.statements if s.statement.effect is effect]
        return any_of(*terms) if terms else z3.BoolVal(False)

    # cached: each is read once per identity assumption and side; the terms are complete once
    # encode() returns them

    @functools.cached_property
    def denies(self) -> z3.BoolRef:
        return self._any(Effect.DENY, "applies")

    @functools.cached_property
    def allows(self) -> z3.BoolRef:
        return self._any(Effect.ALLOW, "applies")

    @functools.cached_property
    def allows_direct(self) -> z3.BoolRef:
        return self._any(Effect.ALLOW, "direct")

    @functools.cached_property
    def allows_role(self) -> z3.BoolRef:
        return self._any(Effect.ALLOW, "role")

    @functools.cached_property
    def allows_account(self) -> z3.BoolRef:
        return self._any(Effect.ALLOW, "account")


class PolicyEncoder:
    """Encodes statements over one symbolic request. Policies repeat their Action lists, Resource
    lists and Principal elements from statement to statement: each distinct one is encoded once
    (per encoder) and shared, which keeps both the Python work and the formula small."""

    def __init__(self, request: SymbolicRequest) -> None:
        self.request = request
        self.conditions = ConditionEncoder(request)
        self._actions_seen: dict[tuple[tuple[str, ...], bool], z3.BoolRef] = {}
        self._resources_seen: dict[tuple[tuple[str, ...], bool, bool], z3.BoolRef] = {}
        self._principals_seen: dict[
            tuple[tuple[tuple[str, str], ...] | None, bool, bool],
            tuple[z3.BoolRef, z3.BoolRef, z3.BoolRef],
        ] = {}

    def encode(self, policies: Sequence[Policy], label: str, *, resource_based: bool) -> PolicyTerm:
        term = PolicyTerm()
        for policy in policies:
            for index, stmt in enumerate(policy.statements):
                term.statements.append(
                    self._statement(policy, label, index, stmt, resource_based=resource_based)
                )
        return term

    def _statement(
        self, policy: Policy, label: str, index: int, stmt: Statement, *, resource_based: bool
    ) -> StatementTerm:
        where = f"{label} statement {stmt.sid or index + 1}"
        variables = policy.variables_enabled
        core = [self._actions_of(stmt), self._resources_of(stmt, variables, where)]
        core += [
            self.conditions.encode(c, variables=variables, where=where) for c in stmt.conditions
        ]
        base = all_of(*core)
        direct, role, account = self._principals_of(stmt, resource_based)
        return StatementTerm(
            label,
            policy,
            index,
            stmt,
            all_of(base, direct),
            all_of(base, role, z3.Not(direct)),
            all_of(base, account, z3.Not(direct), z3.Not(role)),
        )

    def _actions_of(self, stmt: Statement) -> z3.BoolRef:
        key = (tuple(a.name for a in stmt.actions), stmt.not_action)
        found = self._actions_seen.get(key)
        if found is None:
            found = self._actions_seen[key] = self._actions(stmt)
        return found

    def _resources_of(self, stmt: Statement, variables: bool, where: str) -> z3.BoolRef:
        if stmt.resources is None:
            return z3.BoolVal(False)
        key = (tuple(r.arn for r in stmt.resources), stmt.not_resource, variables)
        found = self._resources_seen.get(key)
        if found is None:
            found = self._resources_seen[key] = self._resources(stmt, variables, where)
        return found

    def _principals_of(
        self, stmt: Statement, resource_based: bool
    ) -> tuple[z3.BoolRef, z3.BoolRef, z3.BoolRef]:
        named = (
            None
            if stmt.principals is None
            else tuple((p.kind.value, p.value) for p in stmt.principals)
        )
        key = (named, stmt.not_principal, resource_based)
        found = self._principals_seen.get(key)
        if found is None:
            found = self._principals_seen[key] = self._principals(stmt, resource_based)
        return found

    # --- action ---

    def _actions(self, stmt: Statement) -> z3.BoolRef:
        r = self.request
        names = [a.name for a in stmt.actions]
        if "*" in names:
            hit: z3.BoolRef = z3.BoolVal(True)
        else:
            options = []
            for name in names:
                kms = {a for a in r.kms_action_names if action_matches(name, a)}
                options.append(r.action_in(kms))
                if r.space.other_services and not name.lower().startswith("kms:"):
                    pattern = glob_regex(((name.lower(), False),), arn=False)
                    test = (
                        z3.InRe(r.action, pattern)
                        if has_wildcard(name)
                        else r.action == lit(name.lower())
                    )
                    options.append(all_of(r.is_other_service, test))
            hit = any_of(*options) if options else z3.BoolVal(False)
        return z3.Not(hit) if stmt.not_action else hit

    # --- resource ---

    def _resources(self, stmt: Statement, variables: bool, where: str) -> z3.BoolRef:
        if stmt.resources is None:
            return z3.BoolVal(False)
        r = self.request
        options: list[z3.BoolRef] = []
        for res in stmt.resources:
            template = parse_template(res.arn) if variables else None
            if template is not None:
                resolvable, text, wild = template_text(template, r, where)
                if wild:
                    from kmspolicy.reasoning.universe import Unsupported

                    raise Unsupported(
                        f"a policy variable inside a wildcard Resource is not modelled ({where})"
                    )
                options.append(all_of(resolvable, r.resource == text))
            elif res.arn == "*":
                options.append(z3.BoolVal(True))
            else:
                options.append(r.resource_matches(res.arn))
        hit = any_of(*options) if options else z3.BoolVal(False)
        return z3.Not(hit) if stmt.not_resource else hit

    # --- principal ---

    def _principals(
        self, stmt: Statement, resource_based: bool
    ) -> tuple[z3.BoolRef, z3.BoolRef, z3.BoolRef]:
        false = z3.BoolVal(False)
        if stmt.principals is None:
            return (false if resource_based else z3.BoolVal(True)), false, false
        if stmt.not_principal:
            return self._not_principal(stmt.principals), false, false
        caller: list[z3.BoolRef] = []
        role: list[z3.BoolRef] = []
        account: list[z3.BoolRef] = []
        r = self.request
        for p in stmt.principals:
            if p.kind is PrincipalKind.ANY or p.value == "*":
                caller.append(z3.BoolVal(True))
                continue
            if p.kind is not PrincipalKind.AWS:
                caller.append(r.caller_is(p.value))
                continue
            value = canonical(p.value)
            caller.append(r.caller_is(value))
            parts = role_parts(value)
            if parts is not None:
                role.append(self._is_role(parts))
            account.append(r.root_is(value))
        return _or(caller), _or(role), _or(account)

    def _is_role(self, parts: tuple[str, str, str]) -> z3.BoolRef:
        r = self.request
        partition, account, name = parts
        return all_of(
            r.ctype == int(CallerType.ASSUMED_ROLE),
            r.partition_is(partition),
            r.account_is(account),
            r.name == lit(name),
        )

    def _not_principal(self, principals: Sequence[Principal]) -> z3.BoolRef:
        """Applies unless every identity of the caller (itself, its role, its account) is listed."""
        r = self.request
        if any(p.kind is PrincipalKind.ANY or p.value == "*" for p in principals):
            return z3.BoolVal(False)
        values = [
            canonical(p.value) if p.kind is PrincipalKind.AWS else p.value for p in principals
        ]

        is_role = r.ctype == int(CallerType.ASSUMED_ROLE)
        unlisted = [
            z3.Not(_or([r.caller_is(v) for v in values])),
            # the role behind a session: named by its ARN, with or without a path
            all_of(
                is_role, z3.Not(_or([self._is_role(p) for v in values if (p := role_parts(v))]))
            ),
            all_of(
                r.has_account,
                z3.Not(r.ctype == int(CallerType.ACCOUNT)),
                z3.Not(_or([r.root_is(v) for v in values])),
            ),
        ]
        return any_of(*unlisted)


def _or(terms: list[z3.BoolRef]) -> z3.BoolRef:
    return any_of(*terms) if terms else z3.BoolVal(False)
