"""``kmspolicy test -k EXPR``: choose cases by a keyword expression, as ``pytest -k`` does.

Layer: testing (pure). An expression is words joined by ``and``, ``or``, ``not`` and
parentheses; a word matches a case when it is a case-insensitive substring of the case's id
(``suite name::case name``) or of its suite file's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kmspolicy.errors import ConfigError

Matcher = Callable[[str], bool]
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def keyword_matcher(expression: str) -> Matcher:
    """A predicate over the text a case is known by; ConfigError for a malformed expression."""
    tokens = [m.group(1) for m in _TOKEN.finditer(expression)]
    if not tokens:
        raise ConfigError("-k: empty expression")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        token = peek()
        if token is None:
            raise ConfigError(f"-k `{expression}`: the expression ends too early")
        position += 1
        return token

    def disjunction() -> Matcher:
        left = conjunction()
        while peek() == "or":
            take()
            left = _or(left, conjunction())
        return left

    def conjunction() -> Matcher:
        left = negation()
        while peek() == "and":
            take()
            left = _and(left, negation())
        return left

    def negation() -> Matcher:
        if peek() == "not":
            take()
            inner = negation()
            return lambda text: not inner(text)
        return atom()

    def atom() -> Matcher:
        token = take()
        if token == "(":
            inner = disjunction()
            if take() != ")":
                raise ConfigError(f"-k `{expression}`: expected `)`")
            return inner
        if token in (")", "and", "or", "not"):
            raise ConfigError(f"-k `{expression}`: unexpected `{token}`")
        word = token.lower()
        return lambda text: word in text.lower()

    matcher = disjunction()
    if position != len(tokens):
        raise ConfigError(f"-k `{expression}`: unexpected `{tokens[position]}`")
    return matcher


def _or(a: Matcher, b: Matcher) -> Matcher:
    return lambda text: a(text) or b(text)


def _and(a: Matcher, b: Matcher) -> Matcher:
    return lambda text: a(text) and b(text)
