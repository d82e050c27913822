"""The DSL printer: policies → canonical ``.kmsp`` text (what ``kmspolicy fmt`` writes).

Layer: lang (pure). One layout for every input: a header line, a blank line between statements,
clauses in the fixed order, two-space indents, lists wrapped one item per line past 100 columns,
comments kept above the policy or statement they belong to. ``parse_dsl(format_dsl(p)) == p``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from types import MappingProxyType

from kmspolicy.errors import PolicyError
from kmspolicy.lang.ast import (
    Condition,
    Policy,
    Principal,
    PrincipalKind,
    ScalarValue,
    Statement,
    statement_label,
)

WIDTH = 100
INDENT = "  "
# INVARIANT: these match exactly what the grammar's ACTION and KEY terminals accept
_BARE_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+\Z")
_BARE_KEY = re.compile(r"[A-Za-z0-9-]+:[^\s,\[\]\"#]+\Z")
_KIND_WORDS = MappingProxyType(
    {
        PrincipalKind.AWS: "aws",
        PrincipalKind.SERVICE: "service",
        PrincipalKind.FEDERATED: "federated",
        PrincipalKind.CANONICAL_USER: "canonical-user",
    }
)


def format_dsl(policies: Iterable[Policy] | Policy) -> str:
    """Canonical DSL text for one policy or several (separated by a blank line)."""
    items = [policies] if isinstance(policies, Policy) else list(policies)
    return "\n".join(_policy(p) for p in items)


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _comments(comments: tuple[str, ...], indent: str = "") -> list[str]:
    lines = []
    for comment in comments:
        for part in comment.split("\n"):
            part = part.rstrip()
            lines.append(f"{indent}# {part}" if part else f"{indent}#")
    return lines


def _policy(policy: Policy) -> str:
    if not policy.statements:
        raise PolicyError("a policy needs at least one statement to be written as DSL")
    header = "policy"
    if policy.id is not None:
        header += f" {quote(policy.id)}"
    if policy.version is not None:
        header += f" version {policy.version}"
    lines = [*_comments(policy.comments), header]
    for index, statement in enumerate(policy.statements):
        lines.append("")
        lines.extend(_statement(index, statement))
    return "\n".join(lines) + "\n"


def _statement(index: int, s: Statement) -> list[str]:
    label = statement_label(index, s)
    head = s.effect.value.lower()
    if s.sid is not None:
        head += f" {quote(s.sid)}"
    lines = [*_comments(s.comments), head]
    if s.principals is not None:
        lines.extend(
            _clause(
                "not principal" if s.not_principal else "principal",
                [_principal(p, s, label) for p in s.principals],
                label,
            )
        )
    lines.extend(
        _clause(
            "not action" if s.not_action else "action",
            [
                a.name if _BARE_ACTION.match(a.name) or a.name == "*" else quote(a.name)
                for a in s.actions
            ],
            label,
        )
    )
    if s.resources is not None:
        lines.extend(
            _clause(
                "not resource" if s.not_resource else "resource",
                ["*" if r.arn == "*" else quote(r.arn) for r in s.resources],
                label,
            )
        )
    for i, condition in enumerate(s.conditions):
        lines.append(f"{INDENT}{'when' if i == 0 else ' and'} {_condition(condition, label)}")
    return lines


def _clause(keyword: str, items: list[str], label: str) -> list[str]:
    if not items:
        raise PolicyError(f"{label}: `{keyword}` has no values")
    first = f"{INDENT}{keyword} "
    one_line = first + ", ".join(items)
    if len(one_line) <= WIDTH or len(items) == 1:
        return [one_line]
    pad = " " * len(first)
    return [first + items[0] + ","] + [f"{pad}{item}," for item in items[1:-1]] + [pad + items[-1]]


def _principal(p: Principal, s: Statement, label: str) -> str:
    if p.kind is PrincipalKind.ANY:
        if len(s.principals or ()) != 1:
            raise PolicyError(
                f"{label}: the principal `*` cannot be combined with other principals"
            )
        return "*"
    return f"{_KIND_WORDS[p.kind]} {'*' if p.value == '*' else quote(p.value)}"


def _value(v: ScalarValue) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return quote(v)


def _condition(c: Condition, label: str) -> str:
    if not c.values:
        raise PolicyError(f"{label}: condition `{c.operator_text}` on `{c.key}` has no values")
    key = c.key if _BARE_KEY.match(c.key) else quote(c.key)
    values = [_value(v.value) for v in c.values]
    rendered = values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
    return f"{c.operator_text} {key} {rendered}"
