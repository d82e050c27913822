"""SECURITY_WARNING findings: valid policies that give away more than their author meant.

Layer: authz (pure). Cross-account rules need the key owner's account: given by the caller
(``--account``) or inferred where the policy makes it certain (``facts.certain_owner_account``).
"""

from __future__ import annotations

from collections.abc import Iterator

from kmspolicy.authz.lint.catalog import DECRYPTING
from kmspolicy.authz.lint.facts import (
    LintContext,
    condition_keys,
    is_account_root,
    is_public,
    kms_actions,
    statement_accounts,
    statement_label,
)
from kmspolicy.authz.lint.findings import Finding, LintSeverity, PolicyType
from kmspolicy.lang.ast import Effect, PrincipalKind, SetQualifier

SECURITY = LintSeverity.SECURITY_WARNING

#: condition keys that narrow *who* can use a public statement
_SCOPING_KEYS = (
    "kms:calleraccount",
    "kms:viaservice",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:userid",
    "aws:username",
    "aws:principaltag/",
    "aws:sourceip",
    "aws:vpcsourceip",
)


def public_access(ctx: LintContext) -> Iterator[Finding]:
    if not ctx.policy_type.has_principal or ctx.policy_type is PolicyType.RCP:
        return
    for i, statement in enumerate(ctx.policy.statements):
        if statement.effect is not Effect.ALLOW or not is_public(statement):
            continue
        keys = condition_keys(statement)
        if not keys:
            yield Finding(
                "PUBLIC_ACCESS",
                SECURITY,
                f"{statement_label(i, statement)} allows every AWS identity in every account "
                '(`Principal: "*"` without conditions)',
                statement.span,
                "name the principals, or add a `kms:CallerAccount` or `aws:PrincipalOrgID` "
                "condition",
            )
        elif not any(k.startswith(s) for k in keys for s in _SCOPING_KEYS):
            yield Finding(
                "PUBLIC_ACCESS",
                SECURITY,
                f'{statement_label(i, statement)} allows `Principal: "*"` and none of its '
                "conditions limits which accounts or principals match",
                statement.span,
                "add a `kms:CallerAccount` or `aws:PrincipalOrgID` condition",
            )


def not_principal_allow(ctx: LintContext) -> Iterator[Finding]:
    for i, statement in enumerate(ctx.policy.statements):
        if statement.effect is Effect.ALLOW and statement.not_principal:
            yield Finding(
                "NOT_PRINCIPAL_WITH_ALLOW",
                SECURITY,
                f"{statement_label(i, statement)} allows everyone except the listed principals",
                statement.span,
                "use `Principal` with the intended principals, or a Deny with NotPrincipal",
            )


def cross_account_decrypt(ctx: LintContext) -> Iterator[Finding]:
    if ctx.policy_type is not PolicyType.KEY or ctx.account is None:
        return
    for i, statement in enumerate(ctx.policy.statements):
        if statement.effect is not Effect.ALLOW or statement.not_principal:
            continue
        foreign = sorted(statement_accounts(statement) - {ctx.account})
        if not foreign:
            continue
        decrypting = (kms_actions(statement) or frozenset()) & DECRYPTING
        keys = condition_keys(statement)
        constrained = any(
            k.startswith("kms:encryptioncontext") or k == "kms:viaservice" for k in keys
        )
        if decrypting and not constrained:
            yield Finding(
                "CROSS_ACCOUNT_DECRYPT",
                SECURITY,
                f"{statement_label(i, statement)} lets account(s) {', '.join(foreign)} use "
                f"`kms:{'Decrypt' if 'Decrypt' in decrypting else min(decrypting)}` with no "
                "encryption-context or "
                "`kms:ViaService` condition",
                statement.span,
                "require `kms:EncryptionContext:<key>` or `kms:ViaService` so the other account "
                "can only decrypt the data meant for it",
            )


def iam_disabled(ctx: LintContext) -> Iterator[Finding]:
    if ctx.policy_type is not PolicyType.KEY:
        return
    for statement in ctx.policy.statements:
        if statement.effect is not Effect.ALLOW or statement.not_principal:
            continue
        for p in statement.principals or ():
            if p.kind is PrincipalKind.AWS and is_account_root(p.value, ctx.account):
                return
    owner = f"`arn:aws:iam::{ctx.account}:root`" if ctx.account else "the account root"
    yield Finding(
        "IAM_DISABLED",
        SECURITY,
        f"the key policy never allows {owner}: IAM policies cannot grant access to this key "
        "and, if the named principals are deleted, nobody can manage it",
        ctx.policy.span,
        "add the default statement allowing the account root `kms:*` (it enables IAM policies)",
    )


def permissive_for_all_values(ctx: LintContext) -> Iterator[Finding]:
    for i, statement in enumerate(ctx.policy.statements):
        if statement.effect is not Effect.ALLOW:
            continue
        required = {
            c.key.lower()
            for c in statement.conditions
            if c.qualifier is SetQualifier.FOR_ANY_VALUE
            or (
                c.operator.value == "Null" and [str(v.value).lower() for v in c.values] == ["false"]
            )
        }
        for condition in statement.conditions:
            lower = condition.key.lower()
            # single-valued EC/RequestTag keys with ForAllValues are already an ERROR
            rejected = lower.startswith(("kms:encryptioncontext:", "aws:requesttag/"))
            if (
                condition.qualifier is SetQualifier.FOR_ALL_VALUES
                and lower not in required
                and not rejected
            ):
                yield Finding(
                    "PERMISSIVE_FOR_ALL_VALUES",
                    SECURITY,
                    f"`ForAllValues` on `{condition.key}` in an Allow also matches requests "
                    f"without that key ({statement_label(i, statement)})",
                    condition.span,
                    f'add `"Null": {{"{condition.key}": "false"}}` to require the key',
                )


RULES = (
    public_access,
    not_principal_allow,
    cross_account_decrypt,
    iam_disabled,
    permissive_for_all_values,
)
