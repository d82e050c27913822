"""Solver-backed lint findings: conditions that can never hold together, Deny statements that
match no request, and Allows that a Deny covers for every request.

Layer: reasoning (pure; z3). ``kmspolicy lint`` adds these to ``authz.lint``'s findings when the
solver is installed. Both rules ask the encoding of ``kmspolicy check`` (real requests only,
docs/check.md); a statement the encoding does not model, or a solver that runs out of time,
yields no finding — never a guess.
"""

from __future__ import annotations

import z3

from kmspolicy.authz.lint.findings import Finding, LintSeverity
from kmspolicy.lang.ast import Effect, Policy, statement_label
from kmspolicy.reasoning.decisions import PolicyKind, Scenario
from kmspolicy.reasoning.policies import PolicyEncoder, StatementTerm
from kmspolicy.reasoning.request import SymbolicRequest
from kmspolicy.reasoning.universe import Unsupported, gather

#: the policy types lint knows that the checks model
_KINDS = frozenset({k.value for k in PolicyKind})


def solver_findings(
    policy: Policy, policy_type: str = "key", *, account: str | None = None, timeout: float = 2.0
) -> list[Finding]:
    """CONDITIONS_NEVER_HOLD, DENY_NEVER_MATCHES and ALLOW_SHADOWED_BY_DENY findings for one
    policy (a Deny that matches nothing gets DENY_NEVER_MATCHES only)."""
    if policy_type not in _KINDS:
        return []
    kind = PolicyKind(policy_type)
    scenario = Scenario(kind)
    try:
        universe = gather([(policy, "policy")])
        r = SymbolicRequest(universe, scenario.space(account))
        encoder = PolicyEncoder(r)
        term = encoder.encode([policy], "policy", resource_based=scenario.resource_based())
        bare = [
            encoder.encode(
                [_without_conditions(policy, s.index)],
                "policy",
                resource_based=scenario.resource_based(),
            ).statements[0]
            for s in term.statements
        ]
    except Unsupported:
        return []
    solver = z3.Solver()
    solver.set("timeout", max(1, int(timeout * 1000)))
    restrict = scenario.restrict(r)
    solver.add(*r.constraints, *restrict)
    found: list[Finding] = []
    for statement, without in zip(term.statements, bare, strict=True):
        if statement.statement.effect is Effect.DENY:
            # a Deny that matches nothing protects nothing, whatever the reason: one finding
            if _sat(solver, statement.applies) is False:
                conditional = (
                    bool(statement.statement.conditions) and _sat(solver, without.applies) is True
                )
                found.append(_deny_never(statement, conditional))
            continue
        if not statement.statement.conditions:
            continue
        if _sat(solver, without.applies) is True and _sat(solver, statement.applies) is False:
            found.append(_never(statement))
    denies = [s.applies for s in term.statements if s.statement.effect is Effect.DENY]
    if denies:
        any_deny = z3.Or(*denies)
        for statement in term.statements:
            if statement.statement.effect is not Effect.ALLOW:
                continue
            if _sat(solver, statement.applies) is True and (
                _sat(solver, z3.And(statement.applies, z3.Not(any_deny))) is False
            ):
                found.append(_shadowed(statement))
    return found


def _sat(solver: z3.Solver, formula: z3.BoolRef) -> bool | None:
    solver.push()
    try:
        solver.add(formula)
        answer = solver.check()
    finally:
        solver.pop()
    return None if answer == z3.unknown else answer == z3.sat


def _without_conditions(policy: Policy, index: int) -> Policy:
    from dataclasses import replace

    stmt = replace(policy.statements[index], conditions=())
    return replace(policy, statements=(stmt,))


def _never(term: StatementTerm) -> Finding:
    label = statement_label(term.index, term.statement)
    return Finding(
        "CONDITIONS_NEVER_HOLD",
        LintSeverity.WARNING,
        f"no request satisfies all the conditions of {label}, so it never applies",
        term.statement.span,
        "the conditions contradict each other or what a request can carry (docs/check.md); "
        "fix or remove them",
    )


def _deny_never(term: StatementTerm, conditional: bool) -> Finding:
    label = statement_label(term.index, term.statement)
    why = (
        "its conditions never hold together with what it names"
        if conditional
        else "its Action, Principal and Resource match no real request together"
    )
    return Finding(
        "DENY_NEVER_MATCHES",
        LintSeverity.SECURITY_WARNING,
        f"{label} matches no request ({why}), so it denies nothing",
        term.statement.span,
        "the protection it was written for is missing: check its principals, actions, "
        "resources and conditions against the requests it should stop (docs/lint.md)",
    )


def _shadowed(term: StatementTerm) -> Finding:
    label = statement_label(term.index, term.statement)
    return Finding(
        "ALLOW_SHADOWED_BY_DENY",
        LintSeverity.WARNING,
        f"every request {label} allows is denied by a Deny statement, so it never allows anything",
        term.statement.span,
        "narrow the Deny, or remove the Allow",
    )
