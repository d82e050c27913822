"""The console's access matrix: the identities of the identities file × a key's actions.

Layer: server (adapter over reasoning and the decision point). With the solver installed (the
``check`` extra) each cell is ``kmspolicy who-can``'s answer — allowed, denied, or allowed only
if a condition holds, with that condition; without it, the decision point alone decides each
cell for a request without context (allowed or denied; a denial whose statements read context
keys is marked so). A form simulates one request with context and shows the explanation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kmspolicy.errors import UserError
from kmspolicy.kms.identities import Identities

#: the key actions the matrix shows (a console page, not every action of the service)
ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:Sign",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
)


@dataclass(slots=True)
class MatrixCell:
    access: str  # allowed | denied | allowed-only-if | unknown
    text: str
    why: str  # the deciding statements and the reason: the hover and the "why" panel


@dataclass(slots=True)
class Matrix:
    key_arn: str
    principals: list[str]
    actions: tuple[str, ...]
    cells: dict[tuple[str, str], MatrixCell]
    engine: str  # "who-can (z3)" or "decision point"
    simulated: str = ""  # the explanation of the simulated request
    notes: list[str] = field(default_factory=list)


def matrix(
    key_policy_json: str,
    key_arn: str,
    directory: Identities,
    principals: list[str],
    *,
    principal: str | None = None,
    action: str | None = None,
    context_text: str = "",
) -> Matrix:
    from kmspolicy.lang import read_json

    policy = read_json(key_policy_json, "key policy", key_policy=True)
    account = key_arn.split(":")[4]
    try:
        cells, engine = _who_can(policy, key_arn, directory, principals, account), "who-can (z3)"
    except UserError:  # the solver is not installed: the decision point alone
        cells, engine = _decide_each(policy, key_arn, directory, principals), "decision point"
    result = Matrix(key_arn, principals, ACTIONS, cells, engine)
    if principal and action:
        result.simulated = _simulate(policy, key_arn, directory, principal, action, context_text)
    return result


def _who_can(
    policy: Any, key_arn: str, directory: Identities, principals: list[str], account: str
) -> dict[tuple[str, str], MatrixCell]:
    from kmspolicy.reasoning.whocan import callers_from_directory, who_can

    callers = callers_from_directory(directory, principals, account)
    answer = who_can(policy, callers, key_arn=key_arn, actions=list(ACTIONS), timeout=5.0)
    cells = {}
    for cell in answer.cells:
        statements = "; ".join(
            f"{m.effect.value} {m.sid or f'Statement[{m.statement_index}]'} "
            f"({m.source_policy_type.value})"
            for m in cell.statements
        )
        access = cell.access.value
        text = f"if {cell.condition_text}" if access == "allowed-only-if" else access
        why = "\n".join(x for x in (statements or "no statement allows it", cell.reason) if x)
        cells[(cell.principal, _canonical(cell.action))] = MatrixCell(access, text, why)
    return cells


def _decide_each(
    policy: Any, key_arn: str, directory: Identities, principals: list[str]
) -> dict[tuple[str, str], MatrixCell]:
    cells = {}
    for principal in principals:
        for action in ACTIONS:
            decision = _decide(policy, key_arn, directory, principal, action, {})
            access = "allowed" if decision.allowed else "denied"
            text = access
            if not decision.allowed and decision.missing_context_keys:
                text = "denied without " + ", ".join(decision.missing_context_keys)
            cells[(principal, action)] = MatrixCell(access, text, decision.explain())
    return cells


def _decide(
    policy: Any,
    key_arn: str,
    directory: Identities,
    principal: str,
    action: str,
    context: dict[str, Any],
) -> Any:
    from kmspolicy.facade import authorize

    resolved = directory.resolve(principal)
    return authorize(
        key_policy=policy,
        identity_policies=list(resolved.policies),
        permissions_boundary=resolved.permissions_boundary,
        principal=principal,
        action=action,
        resource=key_arn,
        context=context,
    )


def _simulate(
    policy: Any, key_arn: str, directory: Identities, principal: str, action: str, text: str
) -> str:
    try:
        context = json.loads(text) if text.strip() else {}
        if not isinstance(context, dict):
            raise ValueError("the context is a JSON object of condition keys")
        return str(_decide(policy, key_arn, directory, principal, action, context).explain())
    except (ValueError, UserError) as exc:
        return f"cannot simulate: {exc}"


def _canonical(action: str) -> str:
    for known in ACTIONS:
        if known.lower() == action.lower():
            return known
    return action
