"""The AWS JSON reader's deferred positions (docs/design.md, "Reading AWS JSON"): the C decoder
keeps none, so every span is located on first use by scanning the text. These properties check
the located spans against the text itself, and that the C decoder's fast path accepts only what
the positional scanner accepts, with the same values."""

from __future__ import annotations

import json
import math
import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.lang import Policy, PolicySyntaxError, PrincipalKind, Span, read_json, write_json
from kmspolicy.lang.awsjson import _decode, _NotDecoded, _plain
from kmspolicy.lang.jsonscan import JsonScanner, Positions

from .strategies import policies

SOME = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reformat(text: str, indent: int | None, compact: bool, ascii_only: bool) -> str:
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(
        json.loads(text), indent=indent, separators=separators, ensure_ascii=ascii_only
    )


def _slice(text: str, span: Span) -> str:
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    assert span.end_line is not None and span.end_column is not None
    return text[
        starts[span.line - 1] + span.column - 1 : starts[span.end_line - 1] + span.end_column - 1
    ]


def _at(text: str, span: Span | None) -> object:
    """The JSON value the span covers in the text (it must cover exactly one)."""
    assert span is not None
    return json.loads(_slice(text, span))


def _same(a: object, b: object) -> bool:
    """Equal with the same JSON type (1, 1.0 and True are three different values)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@SOME
@given(
    policies(),
    st.sampled_from([None, 0, 1, 4]),
    st.booleans(),
    st.booleans(),
)
def test_every_deferred_span_covers_its_node(
    policy: Policy, indent: int | None, compact: bool, ascii_only: bool
) -> None:
    text = _reformat(write_json(policy), indent, compact, ascii_only)
    read = read_json(text, "p.json")
    assert read == policy
    assert read.span is not None and _slice(text, read.span) == text.strip()
    for i, statement in enumerate(read.statements):
        where = f"Statement[{i}]"
        assert statement.span is not None and statement.span.path == where
        assert _at(text, statement.span)["Effect"] == statement.effect.value  # type: ignore[index]
        for principal in statement.principals or ():
            if principal.kind is PrincipalKind.ANY:
                assert _at(text, principal.span) == "*"
            else:
                assert _at(text, principal.span) == principal.value
                assert principal.span is not None and principal.span.path is not None
                assert f"rincipal.{principal.kind.value}" in principal.span.path
        element = "NotAction" if statement.not_action else "Action"
        for j, action in enumerate(statement.actions):
            assert _at(text, action.span) == action.name
            assert action.span is not None
            many = len(statement.actions) > 1
            assert action.span.path == f"{where}.{element}" + (f"[{j}]" if many else "")
        for resource in statement.resources or ():
            assert _at(text, resource.span) == resource.arn
        for condition in statement.conditions:
            assert condition.span is not None
            assert _at(text, condition.span) == condition.key  # the span of the key's name
            assert (
                condition.span.path
                == f"{where}.Condition.{condition.operator_text}.{condition.key}"
            )
            for value in condition.values:
                assert _same(_at(text, value.span), value.value)


def test_deferred_and_given_spans_compare_and_pickle_alike() -> None:
    text = '{\n  "Statement": {"Effect": "Allow", "Action": "kms:Decrypt"}\n}'
    action = read_json(text, "p.json").statements[0].actions[0]
    given_span = Span("p.json", 2, 46, 2, 59, "Statement.Action")
    assert action.span == given_span and hash(action.span) == hash(given_span)
    assert str(action.span) == "p.json:2:46" and repr(action.span) == repr(given_span)
    assert pickle.loads(pickle.dumps(action.span)) == given_span


def test_errors_found_through_the_fast_path_are_positioned() -> None:
    text = (
        '{"Statement": [\n  {"Effect": "Allow", "Action": "kms:Decrypt"},\n'
        '  {"Effect": "Alow", "Action": "kms:Decrypt"}]}'
    )
    try:
        read_json(text, "p.json")
    except PolicySyntaxError as exc:
        assert str(exc).splitlines()[0] == (
            "p.json:3:14: error[invalid-effect]: Effect `Alow` is neither `Allow` nor `Deny` "
            "(at Statement[1].Effect)"
        )
    else:
        raise AssertionError("the misspelt Effect was accepted")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
pieces = st.sampled_from(
    [*'{}[]",:-.eE0 \t\n\\', "NaN", "Infinity", "\\ud800", "\\udc00", "1e999", "9" * 120, "\x01"]
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.lists(st.tuples(st.integers(0, 10**4), pieces), max_size=3))
def test_the_c_decoder_accepts_only_what_the_scanner_accepts(
    value: object, edits: list[tuple[int, str]]
) -> None:
    text = json.dumps(value)
    for at, piece in edits:
        i = at % (len(text) + 1)
        text = text[:i] + piece + text[i:]
    try:
        decoded = _decode(text)
    except _NotDecoded:
        return  # the scanner reads it and reports whatever it finds
    scanner = JsonScanner(text, Positions(text, "t"))
    scanned = _plain(scanner.document())  # raises if the fast path took what it rejects
    assert scanner.diagnostics == []
    assert _strictly_equal(decoded, scanned)


def _strictly_equal(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return _same(a, b)
