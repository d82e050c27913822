"""Diagnostics render like a compiler's: file:line:col, the source line, a caret, help."""

from __future__ import annotations

import pytest

from kmspolicy.errors import PolicyError, UserError
from kmspolicy.lang import Diagnostic, PolicySyntaxError, Span
from kmspolicy.lang.diagnostics import did_you_mean


def test_render_has_location_source_line_caret_and_help() -> None:
    text = "policy\nallow acton *\n"
    d = Diagnostic(
        "syntax", "unexpected `acton`", Span("f.kmsp", 2, 7, 2, 12), "did you mean `action`?"
    )
    assert d.render(text).splitlines() == [
        "f.kmsp:2:7: error[syntax]: unexpected `acton`",
        "2 | allow acton *",
        "  |       ^^^^^",
        "  help: did you mean `action`?",
    ]


def test_render_names_the_json_path() -> None:
    d = Diagnostic(
        "missing-effect", "statement has no `Effect`", Span("p.json", 1, 1, path="Statement[0]")
    )
    assert (
        d.render() == "p.json:1:1: error[missing-effect]: statement has no `Effect` "
        "(at Statement[0])"
    )


def test_render_without_span_or_source() -> None:
    assert Diagnostic("x", "bad").render("text") == "error[x]: bad"


def test_caret_never_runs_past_the_line() -> None:
    d = Diagnostic("x", "bad", Span("f", 1, 3, 4, 1))
    assert d.render("abcd\n\n\n").splitlines()[2] == "  |   ^^"


def test_policy_syntax_error_is_a_policy_error_whose_str_is_the_rendering() -> None:
    d = Diagnostic("x", "bad", Span("f", 1, 1))
    exc = PolicySyntaxError([d], "abc")
    assert isinstance(exc, PolicyError) and isinstance(exc, UserError)
    assert str(exc) == d.render("abc")
    assert exc.diagnostics == (d,)
    assert exc.span == Span("f", 1, 1)


@pytest.mark.parametrize(
    ("word", "expected"),
    [("StringEqual", "StringEquals"), ("stringequals", "StringEquals"), ("Zebra", None)],
)
def test_did_you_mean_is_case_insensitive(word: str, expected: str | None) -> None:
    assert did_you_mean(word, ["StringEquals", "Bool"]) == expected
