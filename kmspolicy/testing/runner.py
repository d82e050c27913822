"""Run compliance suites: each case becomes one authorization request, its decision is compared
with the expectation, and every matched statement counts towards statement coverage.

Layer: testing (pure over lang + authz: no database, no keys, no clock but the case's ``time``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmspolicy.errors import ConfigError, UserError
from kmspolicy.testing.coverage import Coverage
from kmspolicy.testing.suite import Case, Suite, SuiteCheck, discover, load_suite

if TYPE_CHECKING:
    from kmspolicy.authz import Decision, KmsPolicies, PolicyCache


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case: the decision it got, and whether that is what it expected."""

    suite: Suite
    case: Case | SuiteCheck
    decision: Decision | None
    passed: bool
    #: why the case failed (or errored), for people; empty when it passed
    detail: str = ""
    #: a check's verdict (PASS/FAIL/UNKNOWN); None for a decision case
    verdict: str | None = None

    @property
    def id(self) -> str:
        return f"{self.suite.name}::{self.case.name}"

    @property
    def got(self) -> str:
        if self.decision is not None:
            return self.decision.kind.value
        return self.verdict or "error"


@dataclass(slots=True)
class Report:
    """What one ``kmspolicy test`` run found: results, suites that failed to load, coverage."""

    results: list[CaseResult] = field(default_factory=list)
    load_errors: list[tuple[Path, str]] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.load_errors


#: chooses the cases to run (``kmspolicy test -k``): given the suite and the case
CaseFilter = Callable[["Suite", "Case | SuiteCheck"], bool]


def run_paths(paths: Iterable[Path], select: CaseFilter | None = None) -> Report:
    """Discover and run every suite under ``paths`` (only the cases ``select`` keeps); a suite
    that fails to load is reported, the others still run."""
    report = Report()
    for path in discover(list(paths)):
        try:
            suite = load_suite(path)
        except ConfigError as exc:
            report.load_errors.append((path, str(exc)))
            continue
        report.results.extend(run_suite(suite, report.coverage, select))
    return report


def run_suite(
    suite: Suite, coverage: Coverage | None = None, select: CaseFilter | None = None
) -> list[CaseResult]:
    if coverage is not None:
        coverage.add_policies(suite.policies())
    from kmspolicy.authz import PolicyCache

    compiled = PolicyCache()  # the suite's policies, compiled once for all its cases
    results = []
    for case in suite.cases:
        if select is not None and not select(suite, case):
            continue
        result = run_case(suite, case, compiled)
        if coverage is not None and result.decision is not None:
            coverage.record(result.decision)
        results.append(result)
    for check in suite.checks:
        if select is not None and not select(suite, check):
            continue
        results.append(run_check(suite, check))
    return results


def run_check(suite: Suite, check: SuiteCheck) -> CaseResult:
    """Prove (or refute) a ``checks:`` entry about the suite's key policy."""
    spec = check.spec
    if suite.key_policy is None:
        raise ConfigError(f"{suite.path}: the suite has no `policies.key`")
    try:
        import kmspolicy.reasoning as reasoning

        policy = suite.key_policy.policy
        other = check.other.policy if check.other is not None else None
        common: dict[str, Any] = {"account": spec.account, "timeout": spec.timeout}
        if spec.check == "no-public-access":
            result = reasoning.check_no_public_access(
                policy, organization=spec.organization, **common
            )
        elif spec.check == "access-not-granted":
            result = reasoning.check_access_not_granted(
                policy, spec.actions, spec.resources, **common
            )
        elif spec.check == "no-new-access":
            assert other is not None  # the schema requires it
            result = reasoning.check_no_new_access(other, policy, **common)
        else:
            assert other is not None
            result = reasoning.check_equivalent(policy, other, **common)
    except UserError as exc:  # no solver installed, or a check that cannot apply
        return CaseResult(suite, check, None, False, f"the check could not run: {exc}")
    verdict = result.verdict.value
    if verdict == check.expect.value:
        return CaseResult(suite, check, None, True, verdict=verdict)
    lines = [f"expected: {check.expect.value}", f"got:      {verdict}"]
    lines += [f"  {reason}" for reason in result.reasons]
    if result.counterexample:
        example = result.counterexample
        lines.append(
            f"counterexample: {example['principal']} {example['action']} on {example['resource']}"
        )
        lines += [f"  {k} = {v!r}" for k, v in example["context"].items()]
    lines += [
        f"  decided by {s.statement.label()} ({s.statement.location()})" for s in result.statements
    ]
    return CaseResult(suite, check, None, False, "\n".join(lines), verdict=verdict)


def run_case(suite: Suite, case: Case, compiled: PolicyCache | None = None) -> CaseResult:
    """Decide ``case``; ``compiled`` keeps the suite's compiled policies across its cases."""
    from kmspolicy.authz import Caller, Request, authorize_kms, evaluate_policies, match_policy

    try:
        caller = Caller.from_arn(
            case.principal.arn, tags=case.principal.tags or None, user_id=case.principal.user_id
        )
        context: dict[str, Any] = dict(case.context)
        request = Request(caller, case.action, case.resource, context=context, time=case.time)
        matcher = match_policy if compiled is None else compiled.match
        if suite.plain:  # plain policies alone: no KMS or account rules (as simulate --policy)
            decision = evaluate_policies(request, [p.policy for p in suite.plain], matcher=matcher)
        else:
            decision = authorize_kms(
                request, policies_for(suite, case, caller.principal_arn), matcher=matcher
            )
    except UserError as exc:
        return CaseResult(suite, case, None, False, f"the request could not be evaluated: {exc}")
    passed = case.expect.holds_for(decision)
    matched_sids = {m.label() for m in decision.matched_statements}
    missing_because = [sid for sid in case.because if sid not in matched_sids]
    if passed and not missing_because:
        return CaseResult(suite, case, decision, True)
    return CaseResult(
        suite, case, decision, False, describe_failure(case, decision, missing_because)
    )


def policies_for(suite: Suite, case: Case, principal_arn: str) -> KmsPolicies:
    """The policies in play for one case: identity, boundary and session policies follow the
    caller (its own ARN, or its role's ARN for a role session)."""
    from kmspolicy.authz import Grant, KmsPolicies

    if suite.key_policy is None:
        raise ConfigError(f"{suite.path}: the suite has no `policies.key`")
    arns = dict.fromkeys((case.principal.arn, principal_arn))
    identity = [p.policy for arn in arns for p in suite.identity.get(arn, ())]
    sessions = [p.policy for arn in arns for p in suite.sessions.get(arn, ())]
    boundary = next((suite.boundaries[a].policy for a in arns if a in suite.boundaries), None)
    grants = tuple(
        Grant(
            grant_id=g.grant_id or f"grant-{i + 1}",
            key_arn=g.key or case.resource,
            grantee_principal=g.grantee,
            operations=frozenset(g.operations),
            retiring_principal=g.retiring_principal,
            encryption_context_equals=g.encryption_context_equals,
            encryption_context_subset=g.encryption_context_subset,
        )
        for i, g in enumerate(suite.grants)
    )
    return KmsPolicies(
        key_policy=suite.key_policy.policy,
        identity_policies=tuple(identity),
        grants=grants,
        scps=tuple(tuple(p.policy for p in level) for level in suite.scps),
        rcps=tuple(tuple(p.policy for p in level) for level in suite.rcps),
        permissions_boundary=boundary,
        session_policies=tuple(sessions),
    )


def describe_failure(case: Case, decision: Decision, missing_because: list[str]) -> str:
    """What a reviewer needs: the request, what was expected, what happened and why."""
    lines = [
        f"request:  {case.principal.arn} {case.action} on {case.resource}",
    ]
    if case.context:
        context = ", ".join(f"{k}={v!r}" for k, v in sorted(case.context.items()))
        lines.append(f"context:  {context}")
    lines.append(f"expected: {case.expect.value}")
    lines.append(f"got:      {decision.kind.value}")
    if missing_because:
        lines.append(f"expected the decision to rest on: {', '.join(missing_because)}")
    lines.append("why:")
    lines.extend(f"  {line}" for line in decision.explain().splitlines())
    return "\n".join(lines)
