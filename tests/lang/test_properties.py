"""Properties: both faces round-trip generated ASTs, and no input makes a reader crash."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.lang import (
    Policy,
    PolicySyntaxError,
    format_dsl,
    parse_dsl,
    read_json,
    write_json,
)

from .strategies import policies

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(policies())
def test_dsl_round_trip(policy: Policy) -> None:
    assert parse_dsl(format_dsl([policy])) == [policy]


@FAST
@given(policies())
def test_json_round_trip(policy: Policy) -> None:
    assert read_json(write_json(policy)) == policy


@FAST
@given(policies())
def test_dsl_to_json_to_dsl_is_stable(policy: Policy) -> None:
    dsl = format_dsl([policy])
    (again,) = parse_dsl(dsl)
    via_json = read_json(write_json(again))
    assert via_json == again
    # JSON has no comments; apart from them the DSL text is unchanged
    without_comments = dataclasses.replace(
        again,
        comments=(),
        statements=tuple(dataclasses.replace(s, comments=()) for s in again.statements),
    )
    assert format_dsl([via_json]) == format_dsl([without_comments])


@FAST
@given(policies())
def test_comments_survive_fmt(policy: Policy) -> None:
    (again,) = parse_dsl(format_dsl([policy]))
    assert [s.comments for s in again.statements] == [s.comments for s in policy.statements]


def _assert_positioned(exc: PolicySyntaxError) -> None:
    assert exc.diagnostics
    for d in exc.diagnostics:
        assert d.span is not None and d.span.line >= 1 and d.span.column >= 1
    assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_dsl_text_gives_ast_or_positioned_error(text: str) -> None:
    try:
        parse_dsl(text)
    except PolicySyntaxError as exc:
        _assert_positioned(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_ast_or_positioned_error(data: bytes) -> None:
    for reader in (parse_dsl, read_json):
        try:
            reader(data)
        except PolicySyntaxError as exc:
            _assert_positioned(exc)


mutations = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace"]),
        st.integers(0, 10**6),
        st.sampled_from(
            [
                *'{}[]",:*#\n ',
                "allow",
                "not",
                "when",
                "and",
                "1e9",
                "principal",
                "\\u",
                "true",
                "kms:",
            ]
        ),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(text: str, edits: list[tuple[str, int, str]]) -> str:
    for kind, at, piece in edits:
        i = at % (len(text) + 1)
        if kind == "delete":
            text = text[:i] + text[i + 1 :]
        elif kind == "insert":
            text = text[:i] + piece + text[i:]
        else:
            text = text[:i] + piece + text[i + len(piece) :]
    return text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), mutations)
def test_mutated_dsl_gives_ast_or_positioned_error(
    policy: Policy, edits: list[tuple[str, int, str]]
) -> None:
    text = _mutate(format_dsl([policy]), edits)
    try:
        parse_dsl(text)
    except PolicySyntaxError as exc:
        _assert_positioned(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), mutations, st.booleans())
def test_mutated_json_gives_ast_or_positioned_error(
    policy: Policy, edits: list[tuple[str, int, str]], key_policy: bool
) -> None:
    text = _mutate(write_json(policy), edits)
    try:
        read_json(text, key_policy=key_policy)
    except PolicySyntaxError as exc:
        _assert_positioned(exc)


def test_json_float_and_int_types_survive() -> None:
    text = json.dumps(
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Condition": {"NumericEquals": {"aws:EpochTime": [1, 1.0, 1e300, -0.5]}},
            }
        }
    )
    policy = read_json(text)
    values = [v.value for v in policy.statements[0].conditions[0].values]
    assert [type(v) for v in values] == [int, float, float, float]
    assert [
        type(v.value) for v in parse_dsl(format_dsl(policy))[0].statements[0].conditions[0].values
    ] == [int, float, float, float]
