"""The lint engine: run every rule over one parsed policy and order the findings.

Layer: authz (pure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from kmspolicy.authz.lint import hygiene, security, validity
from kmspolicy.authz.lint.facts import LintContext, infer_owner_account
from kmspolicy.authz.lint.findings import Finding, PolicyType
from kmspolicy.lang.ast import Policy

Rule = Callable[[LintContext], Iterator[Finding]]

#: every rule, in the order findings of equal position are reported
RULES: tuple[Rule, ...] = validity.RULES + security.RULES + hygiene.RULES


def lint_policy(
    policy: Policy,
    policy_type: PolicyType | str = PolicyType.KEY,
    *,
    account: str | None = None,
) -> list[Finding]:
    """All findings for one policy, sorted by position then severity.

    ``account`` is the key owner's account (cross-account rules); inferred when omitted.
    """
    kind = PolicyType(policy_type)
    owner = (
        account
        if account is not None
        else (infer_owner_account(policy) if kind is PolicyType.KEY else None)
    )
    ctx = LintContext(policy=policy, policy_type=kind, account=owner)
    found = [finding for rule in RULES for finding in rule(ctx)]
    return sorted(_dedupe(found), key=Finding.sort_key)


def _dedupe(findings: Iterable[Finding]) -> Iterator[Finding]:
    seen: set[tuple[str, str, str]] = set()
    for f in findings:
        key = (f.code, f.location, f.message)
        if key not in seen:
            seen.add(key)
            yield f


def fails(findings: Iterable[Finding]) -> bool:
    """True when any finding is an ERROR or a SECURITY_WARNING (``kmspolicy lint`` exits 1)."""
    return any(f.severity.fails for f in findings)
