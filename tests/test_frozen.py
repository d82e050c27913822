"""``kmspolicy._frozen.quick_init``: a record built by it is the record the dataclass builds."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from kmspolicy._frozen import quick_init
from kmspolicy.kms.model import KeyMaterial, KeyRecord, KeyState


def _sample() -> dict[str, object]:
    return {
        "key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "account": "111122223333",
        "region": "us-east-1",
        "creation_date": datetime(2026, 1, 1, tzinfo=UTC),
        "key_spec": "SYMMETRIC_DEFAULT",
        "key_usage": "ENCRYPT_DECRYPT",
        "key_state": KeyState.ENABLED,
        "policy": "{}",
        "description": "d",
    }


def test_every_field_is_set_with_its_default() -> None:
    record = KeyRecord(**_sample())  # type: ignore[arg-type]
    assert type(record) is KeyRecord
    for f in dataclasses.fields(KeyRecord):
        expected = _sample().get(f.name, f.default)
        assert getattr(record, f.name) == expected, f.name


def test_positional_and_keyword_arguments_as_the_dataclass_takes_them() -> None:
    version = KeyMaterial("ab" * 32, None, created=datetime(2026, 1, 1, tzinfo=UTC))
    assert version.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert version.sealed is None and version.bound_to_set is False
    with pytest.raises(TypeError):
        KeyMaterial()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        KeyMaterial("ab" * 32, unknown=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        KeyMaterial("ab" * 32, material_id="cd" * 32)  # type: ignore[misc]


def test_still_frozen_and_equal_to_its_copies() -> None:
    record = KeyRecord(**_sample())  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.policy = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.policy  # type: ignore[misc]
    copy = dataclasses.replace(record)
    assert type(copy) is KeyRecord
    assert copy == record and hash(copy) == hash(record)
    assert dataclasses.replace(record, description="e") != record
    assert pickle.loads(pickle.dumps(record)) == record


def test_refuses_classes_it_cannot_build() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Post:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, Factory, Post):
        with pytest.raises(TypeError):
            quick_init(cls)


def test_a_subclass_keeps_its_own_type() -> None:
    @quick_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int
        b: str = "b"

    class Child(Base):  # inherits the quick __init__
        __slots__ = ("extra",)

        def twice(self) -> int:
            return 2 * self.a

    child = Child(1, "x")
    assert type(child) is Child
    assert (child.a, child.b, child.twice()) == (1, "x", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.a = 2  # type: ignore[misc]
    assert type(Base(1)) is Base
