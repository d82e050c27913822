"""The lint engine: run every rule over one parsed policy and order the findings.

Layer: authz (pure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from kmspolicy.authz.lint import hygiene, security, validity
from kmspolicy.authz.lint.facts import (
    LintContext,
    certain_owner_account,
    is_account_root,
    statement_accounts,
)
from kmspolicy.authz.lint.findings import Finding, LintSeverity, PolicyType
from kmspolicy.lang.ast import Effect, Policy

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

    ``account`` is the key owner's account (cross-account rules). When omitted, a key policy's
    owner is inferred only where the policy makes it certain; otherwise, if the policy names
    any account, an ACCOUNT_UNKNOWN finding says the account-dependent rules did not run — lint
    never reports a clean policy it did not look at.
    """
    kind = PolicyType(policy_type)
    owner = account
    if owner is None and kind is PolicyType.KEY:
        certain = certain_owner_account(policy)
        owner = certain[0] if certain is not None else None
    ctx = LintContext(policy=policy, policy_type=kind, account=owner)
    found = [finding for rule in RULES for finding in rule(ctx)]
    if kind is PolicyType.KEY and owner is None:
        found.extend(_account_unknown(policy))
    return sorted(_dedupe(found), key=Finding.sort_key)


def _account_unknown(policy: Policy) -> Iterator[Finding]:
    """Which account-dependent rules could not run (facts.certain_owner_account, --account)."""
    named = sorted({a for s in policy.statements for a in statement_accounts(s)})
    if not named:
        return  # no account named: the account rules have nothing to look at
    skipped = ["CROSS_ACCOUNT_DECRYPT", "CROSS_ACCOUNT_UNSUPPORTED"]
    if any(
        is_account_root(p.value)
        for s in policy.statements
        if s.effect is Effect.ALLOW
        for p in s.principals or ()
    ):
        # with no account root allowed at all IAM_DISABLED holds whatever the account
        skipped.insert(0, "IAM_DISABLED")
    yield Finding(
        "ACCOUNT_UNKNOWN",
        LintSeverity.WARNING,
        f"the key's account is not certain from the policy (it names {', '.join(named)}), so "
        f"{', '.join(skipped)} did not run",
        policy.span,
        "give the key's account with `--account`, or start the policy with the default "
        "statement allowing `arn:aws:iam::<account>:root` `kms:*`",
    )


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
