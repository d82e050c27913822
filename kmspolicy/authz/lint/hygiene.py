"""WARNING and SUGGESTION findings: statements that do nothing, or less than they seem to.

Layer: authz (pure). Condition-key applicability comes from ``catalog`` (KMS.md §4.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType

from kmspolicy.authz.lint.catalog import (
    CROSS_ACCOUNT,
    IAM_ONLY,
    KEY_TYPES,
    KMS_ACTIONS,
    MULTI_VALUED,
    iam_policy_only,
    key_applies_to,
    kms_actions_matching,
)
from kmspolicy.authz.lint.facts import (
    LintContext,
    kms_actions,
    statement_accounts,
    statement_label,
)
from kmspolicy.authz.lint.findings import Finding, LintSeverity, PolicyType
from kmspolicy.authz.xks_proxy import (
    KMS_CONDITION_KEYS,
    XKS_CONDITION_KEYS,
)
from kmspolicy.authz.xks_proxy import RESOURCE_PREFIX as XKS_RESOURCE_PREFIX
from kmspolicy.authz.xks_proxy import resource_arn as xks_resource_arn
from kmspolicy.lang.ast import Effect, PrincipalKind, Statement
from kmspolicy.lang.diagnostics import suggestion

WARNING = LintSeverity.WARNING
SUGGESTION = LintSeverity.SUGGESTION

_FAMILY = MappingProxyType(
    {
        "String": "String",
        "Numeric": "Numeric",
        "Date": "Date",
        "Bool": "Bool",
        "IpAddress": "IP",
        "NotIpAddress": "IP",
        "Arn": "ARN",
    }
)


def actions(ctx: LintContext) -> Iterator[Finding]:
    is_key = ctx.policy_type is PolicyType.KEY
    for statement in ctx.policy.statements:
        for action in statement.actions:
            name = action.name
            if name == "*":
                continue
            service = name.partition(":")[0].lower()
            if service == "kms":
                matched = kms_actions_matching(name)
                if not matched:
                    yield Finding(
                        "UNKNOWN_ACTION",
                        WARNING,
                        f"`{name}` matches no KMS action",
                        action.span,
                        _action_suggestion(name),
                    )
                elif is_key and not statement.not_action and matched <= IAM_ONLY:
                    yield Finding(
                        "ACTION_NOT_IN_KEY_POLICY",
                        WARNING,
                        f"`{name}` has no key resource, so a key policy cannot grant it",
                        action.span,
                        "grant it in an IAM policy",
                    )
            elif is_key:
                yield Finding(
                    "ACTION_NOT_IN_KEY_POLICY",
                    WARNING,
                    f"`{name}` is not a KMS action; a key policy governs only `kms:`",
                    action.span,
                )


def _a(word: str) -> str:
    """The article before a key type: "an IP key", "an ARN key", "a String key"."""
    return "an" if word[:1] in "AEIOU" else "a"


def _action_suggestion(name: str) -> str | None:
    """ "did you mean `kms:Encrypt`?" for a misspelt action (a wildcard pattern gets none)."""
    if "*" in name or "?" in name:
        return None
    return suggestion(name, (f"kms:{a}" for a in KMS_ACTIONS))


def redundant_actions(ctx: LintContext) -> Iterator[Finding]:
    for statement in ctx.policy.statements:
        for i, action in enumerate(statement.actions):
            mine = kms_actions_matching(action.name)
            for j, other in enumerate(statement.actions):
                theirs = kms_actions_matching(other.name)
                if i == j or not mine or not mine <= theirs or (mine == theirs and j > i):
                    continue
                yield Finding(
                    "REDUNDANT_ACTION",
                    SUGGESTION,
                    f"`{action.name}` is already covered by `{other.name}`",
                    action.span,
                    f"remove `{action.name}`",
                )
                break


#: wildcards people write for families of KMS actions
_FAMILIES = (
    "ReEncrypt*",
    "GenerateDataKey*",
    "GenerateDataKeyPair*",
    "Describe*",
    "List*",
    "Get*",
    "Enable*",
    "Disable*",
    "Create*",
    "Delete*",
    "Update*",
    "Put*",
    "Revoke*",
)


def simplify_actions(ctx: LintContext) -> Iterator[Finding]:
    for i, statement in enumerate(ctx.policy.statements):
        listed = {a.name.lower() for a in statement.actions}
        exact = {a.partition(":")[2] for a in listed if a.startswith("kms:") and "*" not in a}
        suggested: set[str] = set()
        for family in _FAMILIES:
            members = kms_actions_matching(f"kms:{family}")
            lowered = {m.lower() for m in members}
            if (
                len(members) >= 2
                and lowered <= exact
                and not any(
                    lowered <= {m.lower() for m in kms_actions_matching(f"kms:{s}")}
                    for s in suggested
                )
            ):
                suggested.add(family)
                yield Finding(
                    "SIMPLIFY_ACTIONS",
                    SUGGESTION,
                    f"{statement_label(i, statement)} lists every action of `kms:{family}`",
                    statement.span,
                    f"write `kms:{family}` instead of {len(members)} actions",
                )


def conditions(ctx: LintContext) -> Iterator[Finding]:
    is_key = ctx.policy_type is PolicyType.KEY
    for i, statement in enumerate(ctx.policy.statements):
        covered = kms_actions(statement)
        for condition in statement.conditions:
            key, lower = condition.key, condition.key.lower()
            applies = key_applies_to(key)
            if covered is not None and applies is not None and covered and not (covered & applies):
                yield Finding(
                    "CONDITION_KEY_NOT_APPLICABLE",
                    WARNING,
                    f"`{key}` applies to none of the actions of {statement_label(i, statement)}",
                    condition.span,
                    f"it applies to: {', '.join(sorted(applies)[:6])}"
                    + (", …" if len(applies) > 6 else ""),
                )
            if is_key and iam_policy_only(key):
                yield Finding(
                    "CONDITION_KEY_IGNORED_IN_KEY_POLICY",
                    WARNING,
                    f"KMS evaluates `{key}` only in IAM policies, never in a key policy",
                    condition.span,
                    "move this condition to an IAM policy",
                )
            if (
                lower in MULTI_VALUED
                and condition.qualifier is None
                and (condition.operator.value != "Null")
            ):
                yield Finding(
                    "MISSING_SET_OPERATOR",
                    WARNING,
                    f"`{key}` has several values; `{condition.operator_text}` without "
                    "`ForAnyValue:`/`ForAllValues:` is ambiguous",
                    condition.span,
                    f"write `ForAnyValue:{condition.operator_text}` or "
                    f"`ForAllValues:{condition.operator_text}`",
                )
            elif (
                condition.qualifier is not None
                and lower not in MULTI_VALUED
                and lower.startswith(("aws:", "kms:"))
                and not lower.startswith(("kms:encryptioncontext:", "aws:requesttag/"))
            ):
                yield Finding(
                    "SET_OPERATOR_ON_SINGLE_VALUED_KEY",
                    WARNING,
                    f"`{key}` has one value; `{condition.qualifier.value}:` treats it as a set "
                    "(ForAllValues then also matches when the key is absent)",
                    condition.span,
                    f"write `{condition.operator_text.split(':', 1)[1]}`",
                )
            expected = KEY_TYPES.get(lower)
            family = next(
                (
                    f
                    for p, f in _FAMILY.items()
                    if condition.operator.value.removeprefix("Not").startswith(p)
                ),
                None,
            )
            if (
                expected
                and family
                and family != expected
                and not (family == "String" and expected == "ARN")
            ):
                yield Finding(
                    "OPERATOR_TYPE_MISMATCH",
                    WARNING,
                    f"`{key}` is {_a(expected)} {expected} key but `{condition.operator_text}` "
                    f"compares {family} values",
                    condition.span,
                    f"use {_a(expected)} {expected} operator",
                )


def cross_account_unsupported(ctx: LintContext) -> Iterator[Finding]:
    if ctx.policy_type is not PolicyType.KEY or ctx.account is None:
        return
    for i, statement in enumerate(ctx.policy.statements):
        if statement.effect is not Effect.ALLOW or statement.not_principal:
            continue
        if not statement_accounts(statement) - {ctx.account}:
            continue
        for action in statement.actions:
            matched = kms_actions_matching(action.name)
            if "*" not in action.name and matched and not matched & CROSS_ACCOUNT:
                yield Finding(
                    "CROSS_ACCOUNT_UNSUPPORTED",
                    WARNING,
                    f"`{action.name}` cannot be used from another account, so "
                    f"{statement_label(i, statement)} grants it to no one there",
                    action.span,
                )


def key_policy_resources(ctx: LintContext) -> Iterator[Finding]:
    if ctx.policy_type is not PolicyType.KEY:
        return
    for statement in ctx.policy.statements:
        if statement.not_resource:
            continue
        for resource in statement.resources or ():
            arn = resource.arn
            if arn == "*":
                continue
            if arn.startswith("arn:") and ":kms:" in arn:
                yield Finding(
                    "KEY_POLICY_RESOURCE",
                    SUGGESTION,
                    f'in a key policy, `Resource: "*"` means this key; `{arn}` only '
                    "repeats or narrows it",
                    resource.span,
                    'write `"Resource": "*"`',
                )
            else:
                yield Finding(
                    "RESOURCE_NEVER_MATCHES",
                    WARNING,
                    f"`{arn}` is not a KMS key, so this statement never applies to the key",
                    resource.span,
                    'write `"Resource": "*"`',
                )


def xks_proxy_vocabulary(ctx: LintContext) -> Iterator[Finding]:
    """A ``kmspolicy xks-proxy`` policy: its resources are external keys, its condition keys
    those a proxy request carries (authz.xks_proxy)."""
    if ctx.policy_type is not PolicyType.XKS_PROXY:
        return
    xks_keys = {k.lower(): k for k in XKS_CONDITION_KEYS}
    kms_keys = {k.lower() for k in KMS_CONDITION_KEYS}
    for statement in ctx.policy.statements:
        if not statement.not_resource:
            for resource in statement.resources or ():
                arn = resource.arn
                if arn != "*" and not arn.lower().startswith(XKS_RESOURCE_PREFIX):
                    yield Finding(
                        "XKS_RESOURCE_NEVER_MATCHES",
                        WARNING,
                        f"`{arn}` is not an external key of the proxy, so this statement never "
                        "applies",
                        resource.span,
                        f"write `{xks_resource_arn('<region>', '<key id>')}` or `*`",
                    )
        for condition in statement.conditions:
            key, lower = condition.key, condition.key.lower()
            if lower.startswith("xks:") and lower not in xks_keys:
                hint = ", ".join(sorted(XKS_CONDITION_KEYS))
                yield Finding(
                    "XKS_CONDITION_KEY_NEVER_SET",
                    WARNING,
                    f"`{key}` is not a condition key of kmspolicy xks-proxy: no request has it",
                    condition.span,
                    f"the proxy's keys: {hint}",
                )
            elif lower.startswith("kms:") and lower not in kms_keys:
                yield Finding(
                    "XKS_CONDITION_KEY_NEVER_SET",
                    WARNING,
                    f"`{key}` is a key of the KMS request, which the proxy does not see",
                    condition.span,
                    "the proxy sees requestMetadata: xks:KmsViaService, xks:KmsKeyArn, "
                    "xks:KmsOperation, aws:SourceVpc...",
                )


def redundant_statements(ctx: LintContext) -> Iterator[Finding]:
    statements = ctx.policy.statements
    for i, statement in enumerate(statements):
        for j, other in enumerate(statements):
            if i == j or (statement == other and j > i):
                continue
            if _covers(other, statement):
                yield Finding(
                    "REDUNDANT_STATEMENT",
                    WARNING,
                    f"{statement_label(i, statement)} grants nothing that "
                    f"{statement_label(j, other)} does not already",
                    statement.span,
                    "remove it, or narrow the broader statement",
                )
                break


def _covers(big: Statement, small: Statement) -> bool:
    """True when every request ``small`` matches is also matched by ``big`` (conservative)."""
    if big.effect is not small.effect or big.not_action or small.not_action:
        return False
    if big.not_principal or small.not_principal or big.not_resource or small.not_resource:
        return False
    if big.conditions and big.conditions != small.conditions:
        return False
    small_actions, big_actions = kms_actions(small), kms_actions(big)
    if not small_actions or big_actions is None or not small_actions <= big_actions:
        return False
    big_resources = {r.arn for r in big.resources or ()}
    if "*" not in big_resources and not {r.arn for r in small.resources or ()} <= big_resources:
        return False
    if big.principals is None:
        return small.principals is None
    big_p = {(p.kind, p.value) for p in big.principals}
    if any(p.kind is PrincipalKind.ANY for p in big.principals) and not big.conditions:
        return True
    return small.principals is not None and {(p.kind, p.value) for p in small.principals} <= big_p


def missing_sids(ctx: LintContext) -> Iterator[Finding]:
    for i, statement in enumerate(ctx.policy.statements):
        if statement.sid is None and len(ctx.policy.statements) > 1:
            yield Finding(
                "MISSING_SID",
                SUGGESTION,
                f"statement #{i + 1} has no Sid",
                statement.span,
                "decisions, coverage reports and lint findings name statements by Sid",
            )


RULES = (
    actions,
    redundant_actions,
    simplify_actions,
    conditions,
    cross_account_unsupported,
    key_policy_resources,
    xks_proxy_vocabulary,
    redundant_statements,
    missing_sids,
)
