"""The DSL reader: ``.kmsp`` text → policies.

Layer: lang (pure). Two readers build the same AST through one ``Builder`` (``dslbuild``, which
also holds the checks both faces share: operators, well-known condition keys, ARNs, duplicate
Sids): ``dslscan`` reads well-formed text in one pass, and Lark's LALR parser with a one-to-one
Transformer reads whatever that one gives up on, so every syntax error, with its expected
tokens and named mistakes (``syntaxerrors``), comes from the grammar. All problems are reported
together as one PolicySyntaxError. Comments are attached to the policy or statement they
precede (see docs/dsl.md).
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError
from lark.tree import Meta

from kmspolicy._cache import Once
from kmspolicy.lang.ast import ConditionValue, Policy, Principal
from kmspolicy.lang.awsjson import decode_text
from kmspolicy.lang.diagnostics import PolicySyntaxError
from kmspolicy.lang.dslbuild import Builder, Piece
from kmspolicy.lang.dslscan import Scanner, Terminals
from kmspolicy.lang.gcpause import gc_paused
from kmspolicy.lang.grammar import COMMENTS, parser
from kmspolicy.lang.span import Span
from kmspolicy.lang.syntaxerrors import syntax_diagnostic

#: the grammar's terminal patterns for ``dslscan``, built with the parser on first use
terminals = Once(lambda: Terminals(parser()))

#: a comment: its line and its text as written (``# ...``)
Comment = tuple[int, str]


def parse_dsl(text: str | bytes, source: str = "<string>") -> list[Policy]:
    """Parse a ``.kmsp`` text (one or more policies). Raises PolicySyntaxError with positions."""
    decoded = decode_text(text, source)
    with gc_paused(len(decoded)):
        read = Scanner(decoded, source, terminals()).read() or _read_with_lark(decoded, source)
    return _attach_comments(*read)


def _read_with_lark(decoded: str, source: str) -> tuple[list[Policy], list[Comment]]:
    tokens: list[Token] = []
    reset = COMMENTS.set(tokens)
    builder = _ToAst(source)
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
    diagnostics = builder.build.diagnostics
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise PolicySyntaxError(diagnostics, decoded)
    return policies, [(t.line or 0, str(t)) for t in tokens]


def _span(source: str, at: Meta | Token) -> Span:
    return Span(source, at.line or 1, at.column or 1, at.end_line, at.end_column)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """One method per grammar rule: Lark's tokens and positions handed to the ``Builder``."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.build = Builder(source)

    def _piece(self, token: Token) -> Piece:
        return str(token), token.type == "STRING", _span(self.source, token)

    def _optional(self, token: Token | None) -> Piece | None:
        return None if token is None else self._piece(token)

    def start(self, meta: Meta, policies: list[Policy | None]) -> list[Policy | None]:
        return policies

    def policy(self, meta: Meta, children: list[Any]) -> Policy | None:
        ident, version, *statements = children
        return self.build.policy(
            self._optional(ident),
            None if version is None else str(version),
            statements,
            _span(self.source, meta),
        )

    def statement(self, meta: Meta, children: list[Any]) -> Any:
        effect, sid, principals, actions, resources, conditions = children
        return self.build.statement(
            str(effect),
            self._optional(sid),
            principals,
            actions,
            resources,
            conditions,
            _span(self.source, meta),
        )

    def principals(self, meta: Meta, children: list[Any]) -> tuple[Any, bool]:
        negation, *items = children
        return self.build.principals(negation is not None, items, _span(self.source, meta))

    def any_principal(self, meta: Meta, children: list[Any]) -> Principal:
        return self.build.any_principal(_span(self.source, meta))

    def principal(self, meta: Meta, children: list[Token]) -> Principal | None:
        kind, value = children
        return self.build.principal(str(kind), self._piece(value))

    def actions(self, meta: Meta, children: list[Any]) -> tuple[Any, bool]:
        return self.build.clause(children[0] is not None, children[1:])

    def action(self, meta: Meta, children: list[Token]) -> Any:
        return self.build.action(self._piece(children[0]))

    def resources(self, meta: Meta, children: list[Any]) -> tuple[Any, bool]:
        return self.build.clause(children[0] is not None, children[1:])

    def resource(self, meta: Meta, children: list[Token]) -> Any:
        return self.build.resource(self._piece(children[0]))

    def conditions(self, meta: Meta, children: list[Any]) -> list[Any]:
        return children

    def condition(self, meta: Meta, children: list[Any]) -> Any:
        operator, key, values = children
        return self.build.condition(
            str(operator), _span(self.source, operator), self._piece(key), values
        )

    def one_value(self, meta: Meta, children: list[ConditionValue]) -> list[ConditionValue]:
        return children

    def value_list(self, meta: Meta, children: list[ConditionValue]) -> list[ConditionValue]:
        return children

    def string_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return self.build.string_value(self._piece(children[0]))

    def number_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return self.build.number_value(str(children[0]), _span(self.source, children[0]))

    def true_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return self.build.bool_value(True, _span(self.source, children[0]))

    def false_value(self, meta: Meta, children: list[Token]) -> ConditionValue:
        return self.build.bool_value(False, _span(self.source, children[0]))


def _attach_comments(policies: list[Policy], comments: list[Comment]) -> list[Policy]:
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
    for line, raw in comments:
        i = bisect.bisect_right(starts, line) - 1  # the last anchor starting on or before it
        if i >= 0 and anchors[i][3] is not None and line <= anchors[i][1]:
            target = anchors[i][2], anchors[i][3]
        elif i + 1 < len(anchors):
            target = anchors[i + 1][2], anchors[i + 1][3]
        else:
            target = len(policies) - 1, len(policies[-1].statements) - 1
        found.setdefault(target, []).append(_comment_text(raw))
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
