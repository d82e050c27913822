"""The one-pass DSL reader: well-formed ``.kmsp`` text → AST, without a parse tree.

Layer: lang (pure). One C regex scan splits the text into quoted strings, punctuation and
words; a recursive descent over them follows the grammar (grammar/kmspolicy.lark) and hands
each piece to the shared ``Builder``. Every word is checked against the very terminal regex of
the grammar that Lark's contextual lexer would try in that place, so both readers see the same
tokens. It gives up (returns None) at the first thing that is not plainly well-formed: a syntax
error, a check that fails, a character the grammar does not know. ``parse_dsl`` then reads the
text with Lark, the reader of record for every diagnostic, so errors and positions are exactly
Lark's; ``tests/lang/test_dsl_readers.py`` checks that both readers agree on every text this one
accepts.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from lark import Lark

from kmspolicy.lang.ast import ConditionValue, Policy, Principal
from kmspolicy.lang.dslbuild import KINDS, Builder, Piece
from kmspolicy.lang.span import Span

_EFFECTS = frozenset({"allow", "deny"})
_BOOLEANS = MappingProxyType({"true": True, "false": False})


class Terminals:
    """The grammar's terminal patterns this reader matches words against (built once, with the
    parser: ``grammar.parser``)."""

    def __init__(self, parser: Lark) -> None:
        def pattern(name: str) -> re.Pattern[str]:
            return re.compile(parser.get_terminal(name).pattern.to_regexp())

        self.action = pattern("ACTION")
        self.operator = pattern("OPERATOR")
        self.key = pattern("KEY")
        self.number = pattern("NUMBER")
        self.version = pattern("VERSION")
        string, comment = pattern("STRING").pattern, pattern("COMMENT").pattern
        # matched on each line: blanks, then a comment, a string, punctuation or a word; any
        # other character (a form feed, a lone quote) is group 5
        self.tokens = re.compile(
            rf"[ \t\r]*(?:({comment})|({string})|([,\[\]])|([^\s,\[\]\"#]+)|([^ \t\r]))"
        )


class _GiveUp(Exception):
    """Not plainly well-formed: leave the text to Lark."""


class Scanner:
    """Reads one text. ``read()`` → (policies, comments as (line, text)), or None."""

    def __init__(self, text: str, source: str, terminals: Terminals) -> None:
        self.text = text
        self.source = source
        self.t = terminals
        self.build = Builder(source)
        #: (text, is_string, line, column) of every string, punctuation mark and word
        self.tokens: list[tuple[str, bool, int, int]] = []
        #: the same tokens' text when a word or punctuation mark, None for a string; then ""
        self.words: list[str | None] = []
        self.comments: list[tuple[int, str]] = []
        self.i = 0

    def read(self) -> tuple[list[Policy], list[tuple[int, str]]] | None:
        try:
            self._tokenize()
            policies = self._policies()
        except _GiveUp:
            return None
        if self.build.diagnostics:
            return None
        return policies, self.comments

    def _tokenize(self) -> None:
        tokens, words, comments = self.tokens, self.words, self.comments
        finditer = self.t.tokens.finditer
        for line, text in enumerate(self.text.split("\n"), 1):
            for m in finditer(text):
                group = m.lastindex or 5  # every alternative is a group: never None
                if group == 1:
                    comments.append((line, m.group(1)))
                    continue
                if group == 5:
                    raise _GiveUp
                word = m.group(group)
                tokens.append((word, group == 2, line, m.start(group) + 1))
                words.append(None if group == 2 else word)
        words.append("")  # the end: no rule reads an empty word

    # --- the grammar, rule by rule (each consumes its tokens; _GiveUp on anything else)

    def _peek(self) -> str | None:
        """The next word or punctuation mark (None for a string, "" at the end)."""
        return self.words[self.i]

    def _piece(self) -> Piece:
        text, quoted, line, column = self.tokens[self.i]
        self.i += 1
        return text, quoted, Span(self.source, line, column, line, column + len(text))

    def _string(self) -> Piece | None:
        """An optional quoted string."""
        return self._piece() if self.words[self.i] is None else None

    def _expect(self, word: str) -> Span:
        if self.words[self.i] != word:
            raise _GiveUp
        return self._piece()[2]

    def _word(self, pattern: re.Pattern[str]) -> Piece:
        """A word the grammar's terminal ``pattern`` matches whole."""
        word = self.words[self.i]
        if not word or pattern.fullmatch(word) is None:
            raise _GiveUp
        return self._piece()

    def _end(self) -> tuple[int, int]:
        """Where the last consumed token ends (line, column)."""
        text, _, line, column = self.tokens[self.i - 1]
        return line, column + len(text)

    def _span_from(self, start: Span) -> Span:
        return Span(self.source, start.line, start.column, *self._end())

    def _policies(self) -> list[Policy]:
        out = []
        while self.words[self.i] != "":
            start = self._expect("policy")
            ident = self._string()
            version = None
            if self._peek() == "version":
                self.i += 1
                version = self._word(self.t.version)[0]
            statements = [self._statement()]
            while self._peek() in _EFFECTS:
                statements.append(self._statement())
            policy = self.build.policy(ident, version, statements, self._span_from(start))
            if policy is None:
                raise _GiveUp
            out.append(policy)
        return out

    def _statement(self) -> Any:
        if self._peek() not in _EFFECTS:
            raise _GiveUp
        effect, _, start = self._piece()
        sid = self._string()
        principals = self._clause("principal")
        actions = self._clause("action")
        if actions is None:
            raise _GiveUp
        resources = self._clause("resource")
        conditions = None
        if self._peek() == "when":
            self.i += 1
            conditions = [self._condition()]
            while self._peek() == "and":
                self.i += 1
                conditions.append(self._condition())
        return self.build.statement(
            effect, sid, principals, actions, resources, conditions, self._span_from(start)
        )

    def _clause(self, keyword: str) -> tuple[Any, bool] | None:
        """``[not] keyword item ("," item)*`` when it starts here, else None (nothing read)."""
        start = self.i
        negated = self._peek() == "not"
        self.i += negated
        if self._peek() != keyword:
            self.i = start
            return None
        self.i += 1
        item = self._principal if keyword == "principal" else self._pattern
        items = [item(keyword)]
        while self._peek() == ",":
            self.i += 1
            items.append(item(keyword))
        if keyword == "principal":
            _, _, line, column = self.tokens[start]  # `not` or `principal`
            span = Span(self.source, line, column, *self._end())
            return self.build.principals(negated, items, span)
        return self.build.clause(negated, items)

    def _principal(self, keyword: str) -> Principal | None:
        if self._peek() == "*":
            return self.build.any_principal(self._piece()[2])
        kind = self._peek()
        if kind is None or kind not in KINDS:
            raise _GiveUp
        self.i += 1
        value = self._string() or self._star()
        if value is None:
            raise _GiveUp
        return self.build.principal(kind, value)

    def _pattern(self, keyword: str) -> Any:
        """An action (``kms:Decrypt``, a string or ``*``) or a resource (a string or ``*``)."""
        piece = self._string() or self._star()
        if piece is None and keyword == "action":
            piece = self._word(self.t.action)
        if piece is None:
            raise _GiveUp
        return self.build.action(piece) if keyword == "action" else self.build.resource(piece)

    def _star(self) -> Piece | None:
        return self._piece() if self._peek() == "*" else None

    def _condition(self) -> Any:
        operator, _, operator_span = self._word(self.t.operator)
        key = self._string() or self._word(self.t.key)
        values = []
        if self._peek() == "[":
            self.i += 1
            values.append(self._value())
            while self._peek() == ",":
                self.i += 1
                values.append(self._value())
            self._expect("]")
        else:
            values.append(self._value())
        return self.build.condition(operator, operator_span, key, values)

    def _value(self) -> ConditionValue:
        piece = self._string()
        if piece is not None:
            return self.build.string_value(piece)
        word = self._peek()
        if word is not None and word in _BOOLEANS:
            return self.build.bool_value(_BOOLEANS[word], self._piece()[2])
        text, _, span = self._word(self.t.number)
        return self.build.number_value(text, span)
