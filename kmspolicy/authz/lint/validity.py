"""ERROR findings: what the service would reject, depending on where the policy is attached.

Layer: authz (pure). For identity, boundary and session policies the messages are IAM's own
wording (what ``iam:CreatePolicy`` answers in a MalformedPolicyDocument error); for key policies,
KMS's. Each rule is a generator over one ``LintContext``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import datetime

from kmspolicy.authz.lint.facts import LintContext, is_public
from kmspolicy.authz.lint.findings import Finding, LintSeverity, PolicyType
from kmspolicy.lang.ast import Condition, ConditionOperator, Effect, SetQualifier

ERROR = LintSeverity.ERROR
WARNING = LintSeverity.WARNING

# IAM's and KMS's own error messages (MalformedPolicyDocument)
IAM_VERSION = "Policy document must be version 2012-10-17 or greater."
IAM_PRINCIPAL = "Policy document should not specify a principal."
IAM_ACTIONS = "Policy statement must contain actions."
IAM_RESOURCES = "Policy statement must contain resources."
IAM_SID = (
    "Statement IDs (SID) must be alpha-numeric. "
    "Check that your input satisfies the regular expression [0-9A-Za-z]*"
)
IAM_SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
KMS_PRINCIPAL = "Policy contains a statement with one or more invalid principals."

_SID = re.compile(r"[0-9A-Za-z]*\Z")


def version(ctx: LintContext) -> Iterator[Finding]:
    policy = ctx.policy
    if policy.version == "2012-10-17":
        return
    if ctx.policy_type is PolicyType.KEY:
        what = "has no `Version`" if policy.version is None else f"is version `{policy.version}`"
        yield Finding(
            "OUTDATED_VERSION",
            WARNING,
            f"the key policy {what}: policy variables are read as literal text",
            policy.span,
            'add `"Version": "2012-10-17"`',
        )
    else:
        yield Finding(
            "INVALID_VERSION", ERROR, IAM_VERSION, policy.span, 'set `"Version": "2012-10-17"`'
        )


def principal_element(ctx: LintContext) -> Iterator[Finding]:
    for statement in ctx.policy.statements:
        where = statement.principals[0].span if statement.principals else statement.span
        where = where or statement.span
        if not ctx.policy_type.has_principal:
            if statement.principals is not None:
                yield Finding(
                    "PRINCIPAL_NOT_ALLOWED",
                    ERROR,
                    IAM_PRINCIPAL,
                    where,
                    f"a policy of type `{ctx.policy_type.value}` applies to whoever it is "
                    "attached to; narrow it with a condition on `aws:PrincipalArn`",
                )
        elif statement.principals is None and ctx.policy_type is not PolicyType.XKS_PROXY:
            message = (
                KMS_PRINCIPAL
                if ctx.policy_type is PolicyType.KEY
                else ('an RCP statement must have `Principal: "*"`')
            )
            yield Finding(
                "MISSING_PRINCIPAL",
                ERROR,
                message,
                statement.span,
                "name the principals this statement is about",
            )
        elif ctx.policy_type is PolicyType.RCP and (
            statement.not_principal or not is_public(statement)
        ):
            yield Finding(
                "UNSUPPORTED_PRINCIPAL",
                ERROR,
                'an RCP statement must have `Principal: "*"`',
                where,
                "restrict principals with conditions such as `aws:PrincipalOrgID`",
            )


def action_and_resource(ctx: LintContext) -> Iterator[Finding]:
    is_key = ctx.policy_type is PolicyType.KEY
    for statement in ctx.policy.statements:
        if not statement.actions:
            yield Finding("MISSING_ACTION", ERROR, IAM_ACTIONS, statement.span)
        if statement.resources is None or not statement.resources:
            if is_key:
                yield Finding(
                    "MISSING_RESOURCE",
                    WARNING,
                    "statement has no `Resource` and never applies (KMS accepts it silently)",
                    statement.span,
                    'add `"Resource": "*"` (in a key policy, "this key")',
                )
            else:
                yield Finding("MISSING_RESOURCE", ERROR, IAM_RESOURCES, statement.span)


def sids(ctx: LintContext) -> Iterator[Finding]:
    seen: set[str] = set()
    # KMS and kmspolicy's own plain policies accept spaces in Sids; IAM does not
    strict = ctx.policy_type not in (PolicyType.KEY, PolicyType.XKS_PROXY)
    for statement in ctx.policy.statements:
        sid = statement.sid
        if sid is None:
            continue
        if strict and not _SID.match(sid):
            yield Finding(
                "INVALID_SID",
                ERROR,
                IAM_SID,
                statement.span,
                f"rename `{sid}` to `{re.sub('[^0-9A-Za-z]', '', sid) or 'S1'}`",
            )
        if sid in seen:
            yield Finding(
                "DUPLICATE_SID",
                ERROR if strict else WARNING,
                IAM_SID_UNIQUE if strict else f"Sid `{sid}` is used by more than one statement",
                statement.span,
                "explanations and coverage name statements by Sid",
            )
        seen.add(sid)


def rcp_only_denies(ctx: LintContext) -> Iterator[Finding]:
    if ctx.policy_type is not PolicyType.RCP:
        return
    for statement in ctx.policy.statements:
        full_access = (
            [a.name for a in statement.actions] == ["*"]
            and not statement.conditions
            and [r.arn for r in statement.resources or ()] == ["*"]
        )
        if statement.effect is Effect.ALLOW and not full_access:
            yield Finding(
                "RCP_ALLOW",
                ERROR,
                "an RCP can only deny (its one Allow is the full-access statement)",
                statement.span,
                "rewrite the statement as a Deny with the inverse condition",
            )


def conditions(ctx: LintContext) -> Iterator[Finding]:
    for statement in ctx.policy.statements:
        for condition in statement.conditions:
            yield from _condition_values(condition)
            lower = condition.key.lower()
            single_valued_tag = lower.startswith(("kms:encryptioncontext:", "aws:requesttag/"))
            if condition.qualifier is SetQualifier.FOR_ALL_VALUES and single_valued_tag:
                yield Finding(
                    "OVERLY_PERMISSIVE_CONDITION",
                    ERROR,
                    f"`ForAllValues` with single-valued key `{condition.key}` is rejected by KMS",
                    condition.span,
                    "use the operator without a set qualifier",
                )


_NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")


def _condition_values(condition: Condition) -> Iterator[Finding]:
    family = condition.operator.value
    for item in condition.values:
        text = str(item.value).lower() if isinstance(item.value, bool) else str(item.value)
        if "${" in text:
            continue  # policy variables resolve at evaluation time
        problem = None
        if condition.operator in (ConditionOperator.BOOL, ConditionOperator.NULL):
            if text.lower() not in ("true", "false"):
                problem = "`true` or `false`"
        elif family.startswith("Numeric"):
            if not _NUMBER.match(text):
                problem = "a number"
        elif family.startswith("Date"):
            if not (_NUMBER.match(text) or _iso_date(text)):
                problem = "an ISO 8601 date or epoch seconds"
        elif family in ("IpAddress", "NotIpAddress"):
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                problem = "an IP address or CIDR block"
        if problem:
            yield Finding(
                "DATA_TYPE_MISMATCH",
                ERROR,
                f"`{condition.operator_text}` expects {problem}, not `{text}`",
                item.span or condition.span,
            )


def _iso_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


RULES = (version, principal_element, action_and_resource, sids, rcp_only_denies, conditions)
