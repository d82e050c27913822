"""Notes ``kmspolicy simulate`` adds under a decision: an inverted operator that matched because
a policy variable had no value.

IAM User Guide, "Policy variables with no value": positive operators do not match such a
variable and inverted ones (``StringNotEquals``, ``ArnNotLike``, …) do. The decision lists the
variable's key under missing context keys either way; a Deny or Allow that applied only because
of it deserves a sentence of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from kmspolicy.authz import Decision
from kmspolicy.authz.variables import Variable, parse_template
from kmspolicy.lang import Policy
from kmspolicy.lang.ast import Statement

#: variables are substituted in String and ARN operators only; these are their inverted ones
_INVERTED = ("StringNot", "ArnNot")


def empty_variable_notes(decision: Decision, policies: Iterable[Policy]) -> list[str]:
    """One line per inverted condition of a deciding statement whose values name a variable
    without a value (and without a default) in the request."""
    missing = {k.lower() for k in decision.missing_context_keys}
    if not missing or not decision.matched_statements:
        return []
    statements: dict[tuple[str | None, int | None, int | None], Statement] = {
        (stmt.span.source, stmt.span.line, stmt.span.column): stmt
        for policy in policies
        if policy.variables_enabled
        for stmt in policy.statements
        if stmt.span is not None
    }
    notes = []
    for matched in decision.matched_statements:
        stmt = statements.get((matched.source, matched.line, matched.column))
        if stmt is not None:
            notes += [f"  {matched.label()}: {line}" for line in _inverted(stmt, missing)]
    return notes


def _inverted(stmt: Statement, missing: set[str]) -> list[str]:
    out = []
    for cond in stmt.conditions:
        if not cond.operator.value.startswith(_INVERTED):
            continue
        empty = dict.fromkeys(
            part.key
            for value in cond.values
            if isinstance(value.value, str)
            for part in _parts(value.value)
            if part.key_lower in missing and part.default is None
        )
        for key in empty:
            out.append(
                f"${{{key}}} has no value, so {cond.operator_text} {cond.key} matched "
                "(IAM: an inverted operator matches a policy variable with no value)"
            )
    return out


def _parts(text: str) -> tuple[Variable, ...]:
    template = parse_template(text)
    if template is None:
        return ()
    return tuple(p for p in template.parts if isinstance(p, Variable) and p.key)
