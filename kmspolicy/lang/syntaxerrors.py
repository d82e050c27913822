"""Turns Lark's parse errors into diagnostics: named by example, "expected ...", did-you-mean.

Layer: lang (pure). Common mistakes are recognised by matching the parser state against small
malformed examples (Lark's ``match_examples``); everything else gets "expected" from the set of
terminals the LALR table accepts at that point, in words a policy author knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from kmspolicy.lang.diagnostics import Diagnostic, did_you_mean
from kmspolicy.lang.span import Span

#: (code, message, help) → malformed examples that fail in the same parser state
_EXAMPLES: Mapping[tuple[str, str, str], list[str]] = MappingProxyType(
    {
        (
            "missing-policy-header",
            "a policy file starts with a `policy` header",
            'add `policy "my-key-policy" version 2012-10-17` above the first statement',
        ): [
            "allow action kms:*",
            "deny",
            'allow "x"',
        ],
        (
            "missing-action",
            "statement has no `action` clause",
            "every statement names its actions: `action kms:Decrypt` (after `principal`)",
        ): [
            "policy allow principal * resource *",
            "policy allow resource *",
            "policy allow principal * when Bool aws:SecureTransport true",
            'policy allow "s" principal * allow action *',
        ],
        (
            "clause-order",
            "clause is out of order",
            "each clause appears once, in the order `principal`, `action`, `resource`, `when`",
        ): [
            "policy allow action kms:* principal *",
            "policy allow action kms:* resource * principal *",
            "policy allow action kms:* when Bool aws:SecureTransport true resource *",
        ],
        (
            "unquoted-value",
            "this value must be a quoted string",
            'write ARNs, service names and condition values in double quotes: `"arn:aws:..."`',
        ): [
            "policy allow principal aws arn:aws:iam::111122223333:root",
            "policy allow action * resource arn:aws:kms:*",
            "policy allow action * when StringEquals kms:ViaService ec2.amazonaws.com",
        ],
        (
            "condition-shape",
            "a condition is `OPERATOR key value`",
            "write the operator first: "
            '`when StringEquals kms:ViaService "s3.us-east-1.amazonaws.com"`',
        ): [
            'policy allow action * when kms:ViaService StringEquals "x"',
            "policy allow action * when aws:SecureTransport Bool true",
        ],
        (
            "missing-condition-value",
            "condition has no value",
            "a condition is `OPERATOR key value`, e.g. "
            '`StringEquals kms:CallerAccount "111122223333"`',
        ): [
            "policy allow action * when StringEquals kms:CallerAccount resource *",
            "policy allow action * when StringEquals kms:CallerAccount",
        ],
    }
)

_LABELS = MappingProxyType({label[0]: label for label in _EXAMPLES})
_CLAUSES = ("principal", "action", "resource", "when")

_TERMINAL_WORDS = MappingProxyType(
    {
        "STRING": "a quoted string",
        "ACTION": "an action such as `kms:Decrypt`",
        "OPERATOR": "a condition operator such as `StringEquals`",
        "KEY": "a condition key such as `kms:ViaService`",
        "NUMBER": "a number",
        "EFFECT": "`allow` or `deny`",
        "PRINCIPAL_KIND": "a principal kind (`aws`, `service`, `federated`, `canonical-user`)",
        "VERSION": "`2012-10-17` or `2008-10-17`",
        "$END": "end of input",
    }
)
#: keyword terminals that are alternatives of one regex terminal
_TERMINAL_KEYWORDS = MappingProxyType(
    {
        "EFFECT": ("allow", "deny"),
        "PRINCIPAL_KIND": ("aws", "service", "federated", "canonical-user"),
    }
)
_WORD = re.compile(r"[^\s,\[\]\"#]+")


def _describe(parser: Lark, name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"`{pattern.value}`"


def _keywords(parser: Lark, name: str) -> tuple[str, ...]:
    if name in _TERMINAL_KEYWORDS:
        return _TERMINAL_KEYWORDS[name]
    described = _describe(parser, name)
    word = described.strip("`")
    return (word,) if described.startswith("`") and word.replace("-", "").isalpha() else ()


def _expected_words(parser: Lark, names: set[str]) -> str:
    words = sorted({_describe(parser, n) for n in names})
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


def _clip(word: str, limit: int = 40) -> str:
    """A token quoted in a message: a very long one (minified or garbage input) is cut short."""
    return word if len(word) <= limit else f"{word[:limit]}…"


def syntax_diagnostic(exc: UnexpectedInput, parser: Lark, text: str, source: str) -> Diagnostic:
    """One diagnostic for a Lark parse error, positioned on the offending text."""
    line, column = max(1, exc.line or 1), max(1, exc.column or 1)
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.accepts or exc.expected)
        if exc.token.type == "$END":
            found = "end of input"
            word = ""
        else:
            start = exc.token.start_pos
            m = _WORD.match(text, start) if start is not None else None
            word = m.group() if m and m.group().startswith(str(exc.token)) else str(exc.token)
            found = f"`{_clip(word)}`"
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
        pos = exc.pos_in_stream or 0
        m = _WORD.match(text, pos)
        word = m.group() if m else text[pos : pos + 1]
        found = f"`{_clip(word)}`"
    elif isinstance(exc, UnexpectedEOF):
        expected = set(exc.expected)
        found, word = "end of input", ""
    else:  # pragma: no cover - Lark raises only the three above
        found, word = "input", ""
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        line, column = _end_position(text)
    span = Span(source, line, column, line, column + max(1, len(word)))
    expected.discard("COMMENT")
    message = f"unexpected {found}; expected {_expected_words(parser, expected)}"
    help_text = None
    if word:
        keywords = [kw for n in expected for kw in _keywords(parser, n)]
        found_kw = did_you_mean(word, keywords, cutoff=0.6)
        if found_kw and found_kw != word:
            help_text = f"did you mean `{found_kw}`?"
    code = "syntax"
    if help_text is None and not isinstance(exc, UnexpectedEOF):
        label = exc.match_examples(parser.parse, _EXAMPLES, use_accepts=True)
        accepted = {kw for n in expected for kw in _keywords(parser, n)}
        if label is None and word in _CLAUSES and word not in accepted:
            # the examples cannot cover every value kind before the misplaced clause
            label = _LABELS["missing-action" if "action" in accepted else "clause-order"]
        if label is not None:
            code, headline, help_text = label
            message = f"{headline}: {message}"
    return Diagnostic(code, message, span, help_text)


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    return line, len(stripped) - (stripped.rfind("\n") + 1) + 1
