"""The readers' fast node builders (kmspolicy.lang.ast ``new_*``) make exactly the node the
dataclass constructor makes: every field in place (spans and comments included), equal, same
hash, still frozen, and pickled alike."""

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
        assert params == tuple(f.name for f in dataclasses.fields(cls))
