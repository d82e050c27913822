"""Questions lint rules ask about a statement: which KMS actions, which accounts, public or not.

Layer: authz (pure). Kept apart from the rules so each rule reads as its policy sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmspolicy.authz.lint.catalog import KMS_ACTIONS, kms_actions_matching
from kmspolicy.authz.lint.findings import PolicyType
from kmspolicy.lang.ast import Effect, Policy, PrincipalKind, Statement
from kmspolicy.lang.ast import statement_label as statement_label  # lint rules import it here

_ACCOUNT_IN_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
_ACCOUNT = re.compile(r"\d{12}\Z")


@dataclass(frozen=True, slots=True)
class LintContext:
    """One policy being linted, where it is attached, and the key owner's account if known."""

    policy: Policy
    policy_type: PolicyType
    account: str | None


def principal_account(value: str) -> str | None:
    """The account of an AWS principal value (``123456789012``, a root/user/role/session ARN)."""
    if _ACCOUNT.match(value):
        return value
    found = _ACCOUNT_IN_ARN.match(value)
    return found.group(1) if found else None


def is_account_root(value: str, account: str | None = None) -> bool:
    """``arn:aws:iam::<acct>:root`` or a bare account id (optionally: of ``account``)."""
    acct = principal_account(value)
    root = _ACCOUNT.match(value) is not None or value.endswith(":root")
    return root and acct is not None and (account is None or acct == account)


def is_public(statement: Statement) -> bool:
    """Principal ``"*"`` or ``{"AWS": "*"}``: every identity of every account."""
    return (
        any(
            p.kind is PrincipalKind.ANY or (p.kind is PrincipalKind.AWS and p.value == "*")
            for p in statement.principals or ()
        )
        and not statement.not_principal
    )


def statement_accounts(statement: Statement) -> set[str]:
    """Accounts named by the statement's AWS principals."""
    found = set()
    for p in statement.principals or ():
        if p.kind is PrincipalKind.AWS and (acct := principal_account(p.value)):
            found.add(acct)
    return found


def kms_actions(statement: Statement) -> frozenset[str] | None:
    """The KMS actions a statement's Action element covers (NotAction: the complement), or
    None when it names actions of other services too (then action-based rules stay silent)."""
    covered: set[str] = set()
    for action in statement.actions:
        name = action.name.lower()
        if name != "*" and not name.startswith("kms:"):
            if not statement.not_action:
                return None
            continue
        covered |= kms_actions_matching(action.name)
    if statement.not_action:
        return frozenset(KMS_ACTIONS) - covered
    return frozenset(covered)


def condition_keys(statement: Statement) -> set[str]:
    return {c.key.lower() for c in statement.conditions}


def certain_owner_account(policy: Policy) -> tuple[str, Statement] | None:
    """The key owner's account when the policy makes it certain, with the statement that says so.

    Certain means: exactly one account's root principal gets every KMS action from an
    unconditional Allow (the default key policy's "Enable IAM User Permissions"); failing that,
    exactly one account's root gets ``kms:PutKeyPolicy`` that way (another account's could not
    use it: PutKeyPolicy does not work across accounts). None otherwise."""
    everything: dict[str, Statement] = {}
    manage: dict[str, Statement] = {}
    for statement in policy.statements:
        if statement.effect is not Effect.ALLOW or statement.not_principal or statement.conditions:
            continue
        actions = kms_actions(statement) or frozenset()
        if "PutKeyPolicy" not in actions:
            continue
        for p in statement.principals or ():
            account = principal_account(p.value)
            if p.kind is PrincipalKind.AWS and is_account_root(p.value) and account:
                manage.setdefault(account, statement)
                if actions == frozenset(KMS_ACTIONS):
                    everything.setdefault(account, statement)
    for found in (everything, manage):
        if len(found) == 1:
            return next(iter(found.items()))
        if found:
            return None
    return None
