"""The AWS JSON writer: the AST → a canonical IAM policy document.

Layer: lang (pure). Key order Version, Id, Statement; in a statement Sid, Effect,
Principal/NotPrincipal, Action/NotAction, Resource/NotResource, Condition. One value is written
as a string, several as a list; principals and conditions are grouped by kind and operator in
order of first appearance, so ``read_json(write_json(p)) == p`` for every policy JSON can hold.
"""

from __future__ import annotations

import json
from typing import Any

from kmspolicy.errors import PolicyError
from kmspolicy.lang.ast import (
    Condition,
    Policy,
    Principal,
    PrincipalKind,
    Statement,
    statement_label,
)


def write_json(policy: Policy, *, indent: int | None = 2) -> str:
    """Canonical AWS JSON for ``policy``. Raises PolicyError for an AST JSON cannot express."""
    document: dict[str, Any] = {}
    if policy.version is not None:
        document["Version"] = policy.version
    if policy.id is not None:
        document["Id"] = policy.id
    document["Statement"] = [_statement(i, s) for i, s in enumerate(policy.statements)]
    return json.dumps(document, indent=indent, ensure_ascii=False)


def _one_or_many(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def _statement(index: int, statement: Statement) -> dict[str, Any]:
    label = statement_label(index, statement)
    out: dict[str, Any] = {}
    if statement.sid is not None:
        out["Sid"] = statement.sid
    out["Effect"] = statement.effect.value
    if statement.principals is not None:
        key = "NotPrincipal" if statement.not_principal else "Principal"
        out[key] = _principals(statement.principals, label)
    out["NotAction" if statement.not_action else "Action"] = _one_or_many(
        [a.name for a in statement.actions]
    )
    if statement.resources is not None:
        out["NotResource" if statement.not_resource else "Resource"] = _one_or_many(
            [r.arn for r in statement.resources]
        )
    if statement.conditions:
        out["Condition"] = _conditions(statement.conditions, label)
    return out


def _principals(principals: tuple[Principal, ...], label: str) -> Any:
    if any(p.kind is PrincipalKind.ANY for p in principals):
        if len(principals) != 1:
            raise PolicyError(
                f"{label}: the principal `*` cannot be combined with other principals in JSON"
            )
        return "*"
    grouped: dict[str, list[str]] = {}
    for p in principals:
        grouped.setdefault(p.kind.value, []).append(p.value)
    return {kind: _one_or_many(values) for kind, values in grouped.items()}


def _conditions(conditions: tuple[Condition, ...], label: str) -> dict[str, Any]:
    grouped: dict[str, dict[str, Any]] = {}
    for c in conditions:
        block = grouped.setdefault(c.operator_text, {})
        if c.key in block:
            raise PolicyError(
                f"{label}: condition `{c.operator_text}` on `{c.key}` appears "
                "twice; JSON cannot express that"
            )
        if not c.values:
            raise PolicyError(f"{label}: condition `{c.operator_text}` on `{c.key}` has no values")
        block[c.key] = _one_or_many([v.value for v in c.values])
    return grouped
