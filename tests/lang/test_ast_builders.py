"""The readers' fast node builders (kmspolicy.lang.ast ``new_*``) make exactly the node the
dataclass constructor makes: every field in place (spans and comments included), equal, same
hash, still frozen, and pickled alike; a span left to be made on first read (its key, locator
and step given) reads as the Span the locator gives, made once."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from kmspolicy.lang import ast
from kmspolicy.lang.span import Span

BUILDERS: list[tuple[type, Callable[..., Any]]] = [
    (ast.Action, ast.new_action),
    (ast.Resource, ast.new_resource),
    (ast.Principal, ast.new_principal),
    (ast.ConditionValue, ast.new_condition_value),
    (ast.Condition, ast.new_condition),
    (ast.Statement, ast.new_statement),
    (ast.Policy, ast.new_policy),
]


@pytest.mark.parametrize(("cls", "build"), BUILDERS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_builder_sets_every_field_like_the_constructor(
    cls: type, build: Callable[..., Any]
) -> None:
    # a distinct value for each field: a builder that swaps or skips a field is caught
    values = [
        Span("p.json", n + 1, n + 2) if f.name == "span" else (f"v{n}",)
        for n, f in enumerate(dataclasses.fields(cls))
    ]
    made: Any = cls(*values)
    built: Any = build(*values)
    for f, value in zip(dataclasses.fields(cls), values, strict=True):
        assert getattr(built, f.name) is value
    assert built == made and hash(built) == hash(made)
    assert pickle.loads(pickle.dumps(built)) == made
    assert pickle.loads(pickle.dumps(built)).span == made.span
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.span = None
    assert type(built) is cls


def test_every_builder_takes_every_field() -> None:
    for cls, build in BUILDERS:
        params = build.__code__.co_varnames[: build.__code__.co_argcount]
        assert params == (*(f.name for f in dataclasses.fields(cls)), "locator", "step")


class _CountingLocator:
    """Gives each key and step a distinct location, and counts the calls."""

    source = "p.json"

    def __init__(self) -> None:
        self.calls: list[tuple[object, object]] = []

    def locate(self, key: Any, step: Any) -> tuple[int, int, int, int, str]:
        self.calls.append((key, step))
        return (len(key) + 1, 7, len(key) + 1, 9, f"{key}/{step}")


@pytest.mark.parametrize(("cls", "build"), BUILDERS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_span_left_to_first_read_is_made_once_and_located_when_read(
    cls: type, build: Callable[..., Any]
) -> None:
    locator = _CountingLocator()
    values = [
        ("Statement", 3) if f.name == "span" else (f"v{n}",)
        for n, f in enumerate(dataclasses.fields(cls))
    ]
    built: Any = build(*values, locator, 2)
    assert locator.calls == []  # nothing located while building
    span = built.span
    assert built.span is span  # made once, then kept
    assert locator.calls == []  # made, not yet located: a field read locates it
    assert (span.source, span.line, span.column, span.end_column) == ("p.json", 3, 7, 9)
    assert span.path == "('Statement', 3)/2"
    assert locator.calls == [(("Statement", 3), 2)]
    made: Any = cls(
        *(
            span if f.name == "span" else v
            for f, v in zip(dataclasses.fields(cls), values, strict=True)
        )
    )
    assert built == made and hash(built) == hash(made)
    assert pickle.loads(pickle.dumps(build(*values, _CountingLocator(), 2))).span == span
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.span = None
