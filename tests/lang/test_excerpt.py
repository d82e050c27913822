"""The source excerpt under a diagnostic: a window around the column on long (minified) lines,
the line the readers counted (``\\n`` only), and a short quote of a huge unexpected token."""

from __future__ import annotations

import json

import pytest

from kmspolicy.lang import PolicySyntaxError, parse_dsl, read_json
from kmspolicy.lang.diagnostics import EXCERPT_CONTEXT, excerpt
from kmspolicy.lang.span import Span


def _minified(effect_at: int, statements: int = 12) -> str:
    body = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::1:root"},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
        }
        for i in range(statements)
    ]
    body[effect_at]["Effect"] = "Alow"
    return json.dumps({"Version": "2012-10-17", "Statement": body}, separators=(",", ":"))


class _Rendered(str):
    def splitlines(self, keepends: bool = False) -> list[str]:  # type: ignore[override]
        return self.split("\n")  # as the readers count lines (U+2028 is not a break)


def _error(text: str) -> _Rendered:
    """The rendered ``invalid-effect`` diagnostic of ``text``."""
    with pytest.raises(PolicySyntaxError) as info:
        read_json(text, "p.json")
    found = [d for d in info.value.diagnostics if d.code == "invalid-effect"]
    assert found, info.value.render()
    return _Rendered(found[0].render(text))


def test_a_long_line_is_cut_to_a_window_around_the_column() -> None:
    text = _minified(effect_at=7)
    column = text.index('"Alow"') + 1
    rendered = _error(text).splitlines()
    assert rendered[0].startswith(f"p.json:1:{column}: error[invalid-effect]")
    source, caret = rendered[1], rendered[2]
    assert source.startswith("1 | …") and source.endswith("…")
    assert len(source) <= len("1 | ") + 2 * EXCERPT_CONTEXT + len('"Alow"') + 2
    # the caret sits under the offending value, whatever was cut on the left
    at = caret.index("^")
    assert source[at : at + len('"Alow"')] == '"Alow"'
    assert caret[at:].strip() == "^" * len('"Alow"')


def test_a_short_line_is_shown_whole_without_ellipses() -> None:
    text = '{"Version":"2012-10-17","Statement":{"Effect":"Alow","Action":"*","Resource":"*"}}'
    source, caret = _error(text).splitlines()[1:3]
    assert source == f"1 | {text}"
    assert source[caret.index("^") :].startswith('"Alow"')


def test_a_column_near_the_end_of_a_long_line_has_only_a_left_ellipsis() -> None:
    ok = '{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"},' * 5
    text = '{"Version":"2012-10-17","Statement":[' + ok + '{"Action":"*","Effect":"Alow"}]}'
    source = _error(text).splitlines()[1]
    assert source.startswith("1 | …") and not source.endswith("…")


def test_the_excerpt_uses_the_line_the_reader_counted_despite_unicode_line_separators() -> None:
    # U+2028 inside a string is valid JSON; str.splitlines() would count it as a line break
    text = (
        '{"Version":"2012-10-17","Statement":[{"Sid":"a\u2028b",\n"Effect":"Alow","Action":"*"}]}'
    )
    rendered = _error(text).splitlines()
    assert rendered[0].startswith("p.json:2:10:")
    assert rendered[1] == '2 | "Effect":"Alow","Action":"*"}]}'


def test_excerpt_without_underline_puts_one_caret() -> None:
    lines = excerpt("abc\n" + "x" * 300, Span("f", 2, 200, 2, 210), underline=False)
    assert lines[1].count("^") == 1 and lines[0].startswith("2 | …")
    assert lines[0][lines[1].index("^")] == "x"


def test_a_huge_unexpected_token_is_quoted_short() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_dsl('policy "x" version 2012-10-17\nallow\n  principal aws ' + "(" * 5000, "p.kmsp")
    message = info.value.render().splitlines()[0]
    assert "unexpected `" + "(" * 40 + "…`" in message and len(message) < 200
