"""DSL tokens → AST nodes, with the checks both faces share: what both DSL readers call.

Layer: lang (pure). ``dsl`` (Lark's LALR parse tree, the reader of record for every error) and
``dslscan`` (the one-pass reader of well-formed text) hand over the same pieces: a token's text,
whether it was quoted, its span. The checks (operators, well-known condition keys, ARNs,
duplicate Sids) come from ``vocab`` and are collected in ``diagnostics``; a node already
reported bad is None.
"""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import Any

from kmspolicy.lang import vocab
from kmspolicy.lang.ast import (
    Action,
    Condition,
    ConditionValue,
    Effect,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    Statement,
    new_action,
    new_condition,
    new_condition_value,
    new_principal,
    new_resource,
    new_statement,
)
from kmspolicy.lang.diagnostics import Diagnostic
from kmspolicy.lang.jsonscan import MAX_NUMBER_DIGITS
from kmspolicy.lang.span import Span

KINDS = MappingProxyType(
    {
        "aws": PrincipalKind.AWS,
        "service": PrincipalKind.SERVICE,
        "federated": PrincipalKind.FEDERATED,
        "canonical-user": PrincipalKind.CANONICAL_USER,
    }
)

_SURROGATE = re.compile("[\ud800-\udfff]")

#: a token as the builder takes it: its text as written, whether it is a quoted string, its span
Piece = tuple[str, bool, Span]


class Builder:
    """One per read. Methods follow the grammar's rules (grammar/kmspolicy.lark)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        #: Sids of the policy being built, with their positions (policies close after statements)
        self._sids: list[tuple[str, Span]] = []

    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, help))

    def _problem(self, problem: vocab.Problem | None, span: Span) -> bool:
        if problem is not None:
            self.error(problem.code, problem.message, span, problem.help)
        return problem is None

    def text(self, piece: Piece) -> str:
        raw, quoted, span = piece
        if not quoted:
            return raw
        value: str = json.loads(raw) if "\\" in raw else raw[1:-1]  # no escape: as written
        if _SURROGATE.search(value):
            self.error("syntax", "string contains an unpaired surrogate escape", span)
            # the node is reported bad already; other messages that quote it must still print
            value = _SURROGATE.sub("\ufffd", value)
        return value

    def policy(
        self, ident: Piece | None, version: str | None, statements: list[Any], span: Span
    ) -> Policy | None:
        seen: set[str] = set()
        for sid, sid_span in self._sids:
            if sid in seen:
                self.error(
                    "duplicate-sid",
                    f"duplicate Sid `{sid}`",
                    sid_span,
                    "each statement's Sid must be unique within the policy",
                )
            seen.add(sid)
        self._sids = []
        if any(s is None for s in statements):
            return None
        return Policy(tuple(statements), version, None if ident is None else self.text(ident), span)

    def statement(
        self,
        effect: str,
        sid: Piece | None,
        principals: tuple[Any, bool] | None,
        actions: tuple[Any, bool],
        resources: tuple[Any, bool] | None,
        conditions: list[Condition | None] | None,
        span: Span,
    ) -> Statement | None:
        sid_text = None if sid is None else self.text(sid)
        if sid_text:
            assert sid is not None
            self._sids.append((sid_text, sid[2]))
        parts = (principals, actions, resources)
        if any(p is not None and p[0] is None for p in parts) or None in (conditions or ()):
            return None
        checked: tuple[Condition, ...] = tuple(conditions or ())  # type: ignore[arg-type]  # no None left
        if len(checked) > 1:
            seen: set[tuple[object, ...]] = set()
            for c in checked:
                same = (c.qualifier, c.operator, c.if_exists, c.key)  # operator_text, unspelt
                if same in seen:
                    self.error(
                        "duplicate-condition",
                        f"condition `{c.operator_text}` on `{c.key}` appears twice in one "
                        "statement",
                        c.span,  # type: ignore[arg-type]  # the builder gives every condition a span
                        "put all values in one list: the values of one condition are OR'ed",
                    )
                seen.add(same)
        return new_statement(
            Effect.ALLOW if effect == "allow" else Effect.DENY,
            actions[0],
            sid_text,
            None if principals is None else principals[0],
            principals is not None and principals[1],
            actions[1],
            None if resources is None else resources[0],
            resources is not None and resources[1],
            checked,
            span,
            (),
        )

    def clause(self, negated: bool, items: list[Any]) -> tuple[tuple[Any, ...] | None, bool]:
        """An action, resource or principal clause: its items (None if one is bad), negation."""
        ok = all(i is not None for i in items)
        return (tuple(items) if ok else None), negated

    def principals(
        self, negated: bool, items: list[Principal | None], span: Span
    ) -> tuple[tuple[Any, ...] | None, bool]:
        if len(items) > 1 and any(p is not None and p.kind is PrincipalKind.ANY for p in items):
            self.error(
                "any-principal-mixed",
                "the principal `*` cannot be combined with others",
                span,
                "`*` already means every principal",
            )
            return None, False
        return self.clause(negated, items)

    def any_principal(self, span: Span) -> Principal:
        return new_principal(PrincipalKind.ANY, "*", span)

    def principal(self, kind_word: str, value: Piece) -> Principal | None:
        kind, text = KINDS[kind_word], self.text(value)
        span = value[2]
        ok = self._problem(vocab.check_principal(kind, text), span)
        return new_principal(kind, text, span) if ok else None

    def action(self, piece: Piece) -> Action | None:
        name, span = self.text(piece), piece[2]
        return new_action(name, span) if self._problem(vocab.check_action(name), span) else None

    def resource(self, piece: Piece) -> Resource | None:
        arn, span = self.text(piece), piece[2]
        return new_resource(arn, span) if self._problem(vocab.check_resource(arn), span) else None

    def condition(
        self, operator: str, operator_span: Span, key_piece: Piece, values: list[ConditionValue]
    ) -> Condition | None:
        parsed = vocab.parse_operator(operator)
        ok = True
        if parsed is None:
            found = vocab.suggest_operator(operator)
            self.error(
                "unknown-operator",
                f"unknown condition operator `{operator}`",
                operator_span,
                f"did you mean `{found}`?" if found else None,
            )
            ok = False
        key = self.text(key_piece)
        problem = vocab.check_condition_key(key)
        if problem is not None:
            self.error("unknown-condition-key", problem[0], key_piece[2], problem[1])
            ok = False
        if not ok or parsed is None:
            return None
        qualifier, base, if_exists = parsed
        return new_condition(base, key, tuple(values), qualifier, if_exists, key_piece[2])

    def string_value(self, piece: Piece) -> ConditionValue:
        return new_condition_value(self.text(piece), piece[2])

    def bool_value(self, value: bool, span: Span) -> ConditionValue:
        return new_condition_value(value, span)

    def number_value(self, text: str, span: Span) -> ConditionValue:
        if len(text) > MAX_NUMBER_DIGITS:
            self.error("syntax", f"number has more than {MAX_NUMBER_DIGITS} characters", span)
            return new_condition_value(0, span)
        number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if number in (float("inf"), float("-inf")):
            self.error("syntax", f"number `{text}` is out of range", span)
        return new_condition_value(number, span)
