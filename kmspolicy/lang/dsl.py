"""The DSL reader: ``.kmsp`` text → policies, through the LALR grammar and a one-to-one Transformer.

Layer: lang (pure). The Transformer only maps parse-tree rules onto AST classes; the checks both
faces share (operators, well-known condition keys, ARNs, duplicate Sids) come from ``vocab`` and
are reported together as one PolicySyntaxError. Comments are attached to the policy or statement
they precede (see docs/dsl.md).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from types import MappingProxyType
from typing import Any

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError
from lark.tree import Meta

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
)
from kmspolicy.lang.awsjson import decode_text
from kmspolicy.lang.diagnostics import Diagnostic, PolicySyntaxError
from kmspolicy.lang.gcpause import gc_paused
from kmspolicy.lang.grammar import COMMENTS, parser
from kmspolicy.lang.jsonscan import MAX_NUMBER_DIGITS
from kmspolicy.lang.span import Span
from kmspolicy.lang.syntaxerrors import syntax_diagnostic

_KINDS = MappingProxyType(
    {
        "aws": PrincipalKind.AWS,
        "service": PrincipalKind.SERVICE,
        "federated": PrincipalKind.FEDERATED,
        "canonical-user": PrincipalKind.CANONICAL_USER,
    }
)


def parse_dsl(text: str | bytes, source: str = "<string>") -> list[Policy]:
    """Parse a ``.kmsp`` text (one or more policies). Raises PolicySyntaxError with positions."""
    decoded = decode_text(text, source)
    comments: list[Token] = []
    reset = COMMENTS.set(comments)
    builder = _ToAst(source)
    with gc_paused(len(decoded)):
        try:
            tree = parser().parse(decoded)
        except UnexpectedInput as exc:
            diagnostic = syntax_diagnostic(exc, parser(), decoded, source)
            raise PolicySyntaxError([diagnostic], decoded) from None
        finally:
            COMMENTS.reset(reset)
        try:
            policies: list[Policy] = builder.transform(tree)
        except VisitError as exc:  # a bug in a callback, not bad input: surface the original
            raise exc.orig_exc from None
    if builder.diagnostics:
        builder.diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise PolicySyntaxError(builder.diagnostics, decoded)
    return _attach_comments(policies, comments)


def _span(source: str, at: Meta | Token) -> Span:
    return Span(source, at.line or 1, at.column or 1, at.end_line, at.end_column)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """One method per grammar rule; returns AST nodes (None for a node already reported bad)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        #: Sids of the policy being built, with their positions (policies close after statements)
        self._sids: list[tuple[str, Span]] = []

    def _error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, help))

    def _problem(self, problem: vocab.Problem | None, span: Span) -> bool:
        if problem is not None:
            self._error(problem.code, problem.message, span, problem.help)
        return problem is None

    def _text(self, token: Token) -> str:
        if token.type != "STRING":
            return str(token)
        value: str = json.loads(token)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            self._error(
                "syntax", "string contains an unpaired surrogate escape", _span(self.source, token)
            )
        return value

    def start(self, meta: Meta, policies: list[Policy | None]) -> list[Policy | None]:
        return policies

    def policy(self, meta: Meta, children: list[Any]) -> Policy | None:
        ident, version, *statements = children
        seen: set[str] = set()
        for sid, span in self._sids:
            if sid in seen:
                self._error(
                    "duplicate-sid",
                    f"duplicate Sid `{sid}`",
                    span,
                    "each statement's Sid must be unique within the policy",
                )
            seen.add(sid)
        self._sids = []
        if any(s is None for s in statements):
            return None
        return Policy(
            tuple(statements),
            None if version is None else str(version),
            None if ident is None else self._text(ident),
            _span(self.source, meta),
        )

    def statement(self, meta: Meta, children: list[Any]) -> Statement | None:
        effect, sid, principals, actions, resources, conditions = children
        sid_text = None if sid is None else self._text(sid)
        if sid_text:
            self._sids.append((sid_text, _span(self.source, sid)))
        parts = (principals, actions, resources)
        if any(p is not None and p[0] is None for p in parts) or None in (conditions or ()):
            return None
        span = _span(self.source, meta)
        conditions = conditions or ()
        seen: set[tuple[str, str]] = set()
        for c in conditions:
            if (c.operator_text, c.key) in seen:
                self._error(
                    "duplicate-condition",
                    f"condition `{c.operator_text}` on `{c.key}` appears twice in one statement",
                    c.span,
                    "put all values in one list: the values of one condition are OR'ed",
                )
            seen.add((c.operator_text, c.key))
        return Statement(
            effect=Effect.ALLOW if effect == "allow" else Effect.DENY,
            actions=actions[0],
            sid=sid_text,
            principals=None if principals is None else principals[0],
            not_principal=principals is not None and principals[1],
            not_action=actions[1],
            resources=None if resources is None else resources[0],
            not_resource=resources is not None and resources[1],
            conditions=tuple(conditions),
            span=span,
        )

    def _list(
        self, negation: Token | None, items: list[Any]
    ) -> tuple[tuple[Any, ...] | None, bool]:
        ok = all(i is not None for i in items)
        return (tuple(items) if ok else None), negation is not None

    def principals(self, meta: Meta, children: list[Any]) -> tuple[Any, bool]:
        negation, *items = children
        if len(items) > 1 and any(p is not None and p.kind is PrincipalKind.ANY for p in items):
            self._error(
                "any-principal-mixed",
                "the principal `*` cannot be combined with others",
                _span(self.source, meta),
                "`*` already means every principal",
            )
            return None, False
        return self._list(negation, items)

    def any_principal(self, meta: Meta, children: list[Any]) -> Principal:
        return Principal(PrincipalKind.ANY, "*", _span(self.source, meta))

    def principal(self, meta: Meta, children: list[Token]) -> Principal | None:
        kind_token, value_token = children
        kind, value = _KINDS[str(kind_token)], self._text(value_token)
        span = _span(self.source, value_token)
        return (
            Principal(kind, value, span)
            if self._problem(vocab.check_principal(kind, value), span)
            else None
        )

    def actions(self, meta: Meta, children: list[Any]) -> tuple[Any, bool]:
        return self._list(children[0], children[1:])

    def action(self, meta: Meta, children: list[Token]) -> Action | None:
        name, span = self._text(children[0]), _span(self.source, children[0])
        return Action(name, span) if self._problem(vocab.check_action(name), span) else None

    def resources(self, meta: Meta, children: list[Any]) -> tuple[Any, bool]:
        return self._list(children[0], children[1:])

    def resource(self, meta: Meta, children: list[Token]) -> Resource | None:
        arn, span = self._text(children[0]), _span(self.source, children[0])
        return Resource(arn, span) if self._problem(vocab.check_resource(arn), span) else None

    def conditions(self, meta: Meta, children: list[Any]) -> list[Condition | None]:
        return children

    def condition(self, meta: Meta, children: list[Any]) -> Condition | None:
        op_token, key_token, values = children
        parsed = vocab.parse_operator(str(op_token))
        ok = True
        if parsed is None:
            found = vocab.suggest_operator(str(op_token))
            self._error(
                "unknown-operator",
                f"unknown condition operator `{op_token}`",
                _span(self.source, op_token),
                f"did you mean `{found}`?" if found else None,
            )
            ok = False
        key = self._text(key_token)
        problem = vocab.check_condition_key(key)
        if problem is not None:
            self._error(
                "unknown-condition-key", problem[0], _span(self.source, key_token), problem[1]
            )
            ok = False
        if not ok or parsed is None:
            return None
        qualifier, operator, if_exists = parsed
        return Condition(
            operator, key, tuple(values), qualifier, if_exists, _span(self.source, key_token)
        )

    def one_value(self, meta: Meta, children: list[ConditionValue]) -> list[ConditionValue]:
        return children

    def value_list(self, meta: Meta, children: list[ConditionValue]) -> list[ConditionValue]:
        return children

    def string_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return ConditionValue(self._text(children[0]), _span(self.source, children[0]))

    def number_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        text, span = str(children[0]), _span(self.source, children[0])
        if len(text) > MAX_NUMBER_DIGITS:
            self._error("syntax", f"number has more than {MAX_NUMBER_DIGITS} characters", span)
            return ConditionValue(0, span)
        number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if number in (float("inf"), float("-inf")):
            self._error("syntax", f"number `{text}` is out of range", span)
        return ConditionValue(number, span)

    def true_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return ConditionValue(True, _span(self.source, children[0]))

    def false_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return ConditionValue(False, _span(self.source, children[0]))


def _attach_comments(policies: list[Policy], comments: list[Token]) -> list[Policy]:
    """Give each comment to the statement it sits in (by line) or else to the next policy or
    statement below it; comments after the last statement go to that statement."""
    if not comments or not policies:
        return policies
    # (first line, last line, policy index, statement index or None for the policy header)
    anchors: list[tuple[int, int, int, int | None]] = []
    for pi, p in enumerate(policies):
        assert p.span is not None  # INVARIANT: the parser gives every node a span
        anchors.append((p.span.line, p.span.line - 1, pi, None))
        for si, st in enumerate(p.statements):
            assert st.span is not None
            anchors.append((st.span.line, st.span.end_line or st.span.line, pi, si))
    starts = [a[0] for a in anchors]
    found: dict[tuple[int, int | None], list[str]] = {}
    for token in comments:
        line = token.line or 0
        i = bisect.bisect_right(starts, line) - 1  # the last anchor starting on or before it
        if i >= 0 and anchors[i][3] is not None and line <= anchors[i][1]:
            target = anchors[i][2], anchors[i][3]
        elif i + 1 < len(anchors):
            target = anchors[i + 1][2], anchors[i + 1][3]
        else:
            target = len(policies) - 1, len(policies[-1].statements) - 1
        found.setdefault(target, []).append(_comment_text(str(token)))
    out = []
    for pi, p in enumerate(policies):
        statements = tuple(
            dataclasses.replace(s, comments=tuple(found[(pi, si)])) if (pi, si) in found else s
            for si, s in enumerate(p.statements)
        )
        out.append(
            dataclasses.replace(p, statements=statements, comments=tuple(found.get((pi, None), ())))
        )
    return out


def _comment_text(raw: str) -> str:
    """``# text`` → ``text`` (one space after ``#`` is layout, not content)."""
    body = raw[1:].rstrip()
    return body[1:] if body.startswith(" ") else body
