"""Every lint code with its severity and a one-line title: the table SARIF rule metadata and
``docs/lint.md`` are checked against (a test keeps the three in step).

Layer: authz (pure data). A code is stable once shipped: tools and suppressions match on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kmspolicy.authz.lint.findings import LintSeverity

E = LintSeverity.ERROR
S = LintSeverity.SECURITY_WARNING
W = LintSeverity.WARNING
G = LintSeverity.SUGGESTION

#: code → (severity — the most severe it is reported with —, title)
CODES: Mapping[str, tuple[LintSeverity, str]] = MappingProxyType(
    {
        # ERROR: the service would reject the document
        "SYNTAX_ERROR": (E, "the document is not a valid policy"),
        "INVALID_VERSION": (E, "the policy type requires Version 2012-10-17"),
        "PRINCIPAL_NOT_ALLOWED": (E, "this policy type cannot name principals"),
        "MISSING_PRINCIPAL": (E, "a statement of a resource policy names no principal"),
        "UNSUPPORTED_PRINCIPAL": (E, "an RCP statement must apply to every principal"),
        "MISSING_ACTION": (E, "a statement has no actions"),
        "MISSING_RESOURCE": (E, "a statement has no resources"),
        "INVALID_SID": (E, "IAM Sids are alphanumeric"),
        "DUPLICATE_SID": (E, "two statements share a Sid"),
        "RCP_ALLOW": (E, "an RCP can only deny"),
        "OVERLY_PERMISSIVE_CONDITION": (E, "ForAllValues with a single-valued key KMS rejects"),
        "DATA_TYPE_MISMATCH": (E, "a condition value is not of the operator's type"),
        # SECURITY_WARNING: valid, but gives away more than meant
        "PUBLIC_ACCESS": (S, 'Principal "*" without a condition that limits who matches'),
        "NOT_PRINCIPAL_WITH_ALLOW": (S, "Allow with NotPrincipal allows almost everyone"),
        "CROSS_ACCOUNT_DECRYPT": (S, "another account decrypts without an EC/ViaService condition"),
        "IAM_DISABLED": (S, "the key policy never allows the account root"),
        "PERMISSIVE_FOR_ALL_VALUES": (S, "Allow + ForAllValues matches requests without the key"),
        "DENY_NEVER_MATCHES": (S, "a Deny statement matches no real request (solver)"),
        # WARNING: does nothing, or less than it seems
        "OUTDATED_VERSION": (W, "the key policy is not Version 2012-10-17"),
        "UNKNOWN_ACTION": (W, "an action pattern matches no KMS action"),
        "ACTION_NOT_IN_KEY_POLICY": (W, "an action a key policy cannot grant"),
        "CONDITION_KEY_NOT_APPLICABLE": (
            W,
            "a condition key applies to none of the listed actions",
        ),
        "CONDITION_KEY_IGNORED_IN_KEY_POLICY": (
            W,
            "a condition key KMS reads only in IAM policies",
        ),
        "MISSING_SET_OPERATOR": (W, "a multi-valued key without ForAnyValue/ForAllValues"),
        "SET_OPERATOR_ON_SINGLE_VALUED_KEY": (W, "ForAnyValue/ForAllValues on a single-valued key"),
        "OPERATOR_TYPE_MISMATCH": (W, "the operator compares a different type than the key has"),
        "CROSS_ACCOUNT_UNSUPPORTED": (W, "an action no other account can use"),
        "RESOURCE_NEVER_MATCHES": (W, "a key policy resource that is not a KMS key"),
        "XKS_RESOURCE_NEVER_MATCHES": (
            W,
            "an xks-proxy policy resource that is not an external key",
        ),
        "XKS_CONDITION_KEY_NEVER_SET": (W, "a condition key no xks-proxy request carries"),
        "REDUNDANT_STATEMENT": (W, "a statement another statement already covers"),
        "ACCOUNT_UNKNOWN": (W, "the key's account is not certain: account rules did not run"),
        "CONDITIONS_NEVER_HOLD": (W, "no request satisfies a statement's conditions (solver)"),
        "ALLOW_SHADOWED_BY_DENY": (W, "a Deny covers every request an Allow allows (solver)"),
        # SUGGESTION: shorter or clearer
        "REDUNDANT_ACTION": (G, "an action another action of the statement already covers"),
        "SIMPLIFY_ACTIONS": (G, "a list of actions that is exactly one wildcard"),
        "KEY_POLICY_RESOURCE": (G, 'in a key policy, write Resource "*"'),
        "MISSING_SID": (G, "a statement without a Sid"),
    }
)
