"""``simulate --format aws-json``: decisions shaped like the output of ``aws iam
simulate-custom-policy`` (IAM's SimulatePolicyResponse), for tools that already read it.

Layer: cli (adapter). Each decision is one ``EvaluationResults`` entry: ``EvalActionName``,
``EvalResourceName``, ``EvalDecision`` (IAM's own values: allowed, explicitDeny, implicitDeny),
``MatchedStatements`` (``SourcePolicyId``, ``SourcePolicyType``, ``StartPosition``) and
``MissingContextValues``; a named resource also gets IAM's ``ResourceSpecificResults``.
``SourcePolicyId`` is the policy's file (or Id); ``SourcePolicyType`` uses IAM's values.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from kmspolicy.authz import Decision, DecisionKind, MatchedStatement
from kmspolicy.authz.decision import PolicyType

#: our policy types → IAM's PolicySourceType values (user|group|role|aws-managed|user-managed|
#: resource|none): resource policies are ``resource``, policies given as input ``user-managed``
_SOURCE_TYPE = MappingProxyType(
    {
        PolicyType.KEY_POLICY: "resource",
        PolicyType.RESOURCE: "resource",
        PolicyType.IDENTITY: "user-managed",
        PolicyType.POLICY: "user-managed",
        PolicyType.SESSION: "user-managed",
        PolicyType.PERMISSIONS_BOUNDARY: "user-managed",
    }
)


def _statement(m: MatchedStatement) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SourcePolicyId": m.source or m.source_policy_id,
        "SourcePolicyType": _SOURCE_TYPE.get(m.source_policy_type, "none"),
    }
    if m.line:
        out["StartPosition"] = {"Line": m.line, "Column": m.column or 1}
    return out


def evaluation_result(decision: Decision) -> dict[str, Any]:
    # IAM lists the statements that decided: none for an implicit deny (nothing allowed)
    implicit = decision.kind is DecisionKind.IMPLICIT_DENY
    matched = [] if implicit else [_statement(m) for m in decision.matched_statements]
    missing = list(decision.missing_context_keys)
    result: dict[str, Any] = {
        "EvalActionName": decision.action,
        "EvalResourceName": decision.resource,
        "EvalDecision": decision.kind.value,
        "MatchedStatements": matched,
        "MissingContextValues": missing,
    }
    if decision.resource != "*":
        result["ResourceSpecificResults"] = [
            {
                "EvalResourceName": decision.resource,
                "EvalResourceDecision": decision.kind.value,
                "MatchedStatements": matched,
                "MissingContextValues": missing,
            }
        ]
    return result


def simulate_response(decisions: list[Decision]) -> dict[str, Any]:
    return {
        "EvaluationResults": [evaluation_result(d) for d in decisions],
        "IsTruncated": False,
    }
