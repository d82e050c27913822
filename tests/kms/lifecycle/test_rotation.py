"""Rotation rules: eligibility, period bounds, the material ring, the on-demand limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kmspolicy.errors import (
    ConflictException,
    LimitExceededException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.lifecycle import rotation
from kmspolicy.kms.model import KeyManagerType, KeyMaterialState, OriginType, RotationType
from kmspolicy.kms.states import KeyState

from .conftest import KERNEL, T0, apply, make_key, rotated_on_demand


@pytest.mark.parametrize("days", [90, 365, 2560])
def test_rotation_period_bounds_accepted(days: int) -> None:
    assert rotation.validate_rotation_period(days) == days


@pytest.mark.parametrize("days", [89, 2561, 0, -1])
def test_rotation_period_out_of_bounds(days: int) -> None:
    with pytest.raises(ValidationException, match="between 90 and 2560"):
        rotation.validate_rotation_period(days)


def test_rotation_period_default_is_365() -> None:
    assert rotation.validate_rotation_period(None) == 365


def test_enable_rotation_schedules_from_now() -> None:
    key = apply(rotation.enable_rotation, make_key(), 180, T0)
    assert key.rotation_enabled and key.rotation_period_days == 180
    assert key.next_rotation_date == T0 + timedelta(days=180)


@pytest.mark.parametrize(
    ("spec", "usage", "origin"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT", OriginType.AWS_KMS),
        ("HMAC_256", "GENERATE_VERIFY_MAC", OriginType.AWS_KMS),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", OriginType.EXTERNAL),
    ],
)
def test_automatic_rotation_only_for_kms_made_symmetric_keys(
    spec: str, usage: str, origin: OriginType
) -> None:
    with pytest.raises(UnsupportedOperationException):
        apply(rotation.enable_rotation, make_key(spec=spec, usage=usage, origin=origin), 365, T0)


_AUTOMATIC: dict[str, object] = {}
_HISTORY: dict[str, object] = {"origins": rotation.ON_DEMAND_ROTATION_ORIGINS}
_ON_DEMAND: dict[str, object] = {**_HISTORY, "aws_managed": False}


@pytest.mark.parametrize(
    ("key", "params", "refusal"),
    [
        ({}, _AUTOMATIC, None),
        ({}, _ON_DEMAND, None),
        ({"origin": OriginType.EXTERNAL}, _AUTOMATIC, "origin is EXTERNAL"),
        ({"origin": OriginType.EXTERNAL}, _HISTORY, None),
        ({"origin": OriginType.AWS_CLOUDHSM}, _HISTORY, "origin is AWS_CLOUDHSM"),
        ({"spec": "HMAC_256", "usage": "GENERATE_VERIFY_MAC"}, _HISTORY, "key spec HMAC_256"),
        ({"manager": KeyManagerType.AWS}, _AUTOMATIC, None),
        ({"manager": KeyManagerType.AWS}, _ON_DEMAND, "AWS managed key"),
        ({"store": "cks-1234567890abcdef0"}, _AUTOMATIC, "custom key store"),
    ],
    ids=[
        "automatic",
        "on-demand",
        "external-automatic",
        "external-history",
        "cloudhsm-history",
        "hmac",
        "aws-managed-automatic",
        "aws-managed-on-demand",
        "custom-key-store",
    ],
)
def test_require_rotation_support(
    key: dict[str, object], params: dict[str, object], refusal: str | None
) -> None:
    key = dict(key)  # the parameter rows are shared: do not consume them
    manager, store = key.pop("manager", None), key.pop("store", None)
    record = make_key(**key)  # type: ignore[arg-type]  # the parametrised keyword arguments
    if manager is not None:
        record = record.evolve(key_manager=manager)
    if store is not None:
        record = record.evolve(custom_key_store_id=store)
    if refusal is None:
        rotation.require_rotation_support(record, **params)  # type: ignore[arg-type]
        return
    with pytest.raises(UnsupportedOperationException, match=refusal):
        rotation.require_rotation_support(record, **params)  # type: ignore[arg-type]


def test_rotate_keeps_every_version_and_moves_current() -> None:
    key = make_key()
    first = key.current_material_id
    rotated = apply(
        rotation.rotate, key, when=T0, rotation_type=RotationType.AUTOMATIC, kernel=KERNEL
    )
    assert rotated.key_id == key.key_id and rotated.arn == key.arn
    assert len(rotated.materials) == 2
    assert rotated.current_material_id != first
    old = rotated.material_by_id(first)  # type: ignore[arg-type]
    assert old is not None and old.state is KeyMaterialState.NON_CURRENT
    assert old.sealed == key.materials[0].sealed
    assert rotated.current_material is not None
    assert rotated.current_material.state is KeyMaterialState.CURRENT
    assert rotated.current_material.rotation_type is RotationType.AUTOMATIC


def test_on_demand_limit_is_25() -> None:
    key = make_key()
    for _ in range(25):
        key = rotated_on_demand(key, T0)
    assert len(key.materials) == 26 and key.on_demand_rotations == 25
    with pytest.raises(LimitExceededException):
        apply(rotation.start_on_demand, key, now=T0)


def test_on_demand_rotation_is_started_then_completed() -> None:
    key = make_key()
    started = apply(rotation.start_on_demand, key, now=T0)
    assert started.on_demand_rotation_start_date == T0 and started.materials == key.materials
    assert started.on_demand_rotations == 1
    due = T0 + rotation.ON_DEMAND_ROTATION_TAKES
    assert not rotation.on_demand_due(started, due - timedelta(milliseconds=1))
    assert rotation.on_demand_due(started, due)
    with pytest.raises(ConflictException, match="in progress"):
        apply(rotation.start_on_demand, started, now=T0 + timedelta(seconds=1))
    done = apply(rotation.finish_on_demand, started, KERNEL)
    assert done.on_demand_rotation_start_date is None and len(done.materials) == 2
    assert done.current_material is not None
    assert done.current_material.rotation_date == due
    assert done.current_material.rotation_type is RotationType.ON_DEMAND


def test_on_demand_conflicts_with_imminent_automatic_rotation() -> None:
    key = apply(rotation.enable_rotation, make_key(), 90, T0)
    due = key.next_rotation_date
    assert due is not None
    for early in (timedelta(minutes=20), timedelta(minutes=10), timedelta(0)):
        with pytest.raises(ConflictException, match="20 minutes"):
            apply(rotation.start_on_demand, key, now=due - early)
    # just outside the window: accepted
    later = due - timedelta(minutes=20, milliseconds=1)
    assert apply(rotation.start_on_demand, key, now=later).on_demand_rotation_start_date == later


def test_on_demand_does_not_move_the_automatic_schedule() -> None:
    key = apply(rotation.enable_rotation, make_key(), 90, T0)
    rotated = rotated_on_demand(key, T0 + timedelta(days=1))
    assert rotated.next_rotation_date == key.next_rotation_date


def test_status_is_false_while_pending_deletion() -> None:
    key = apply(rotation.enable_rotation, make_key(), 365, T0)
    assert rotation.rotation_enabled_for_status(key)
    doomed = key.evolve(key_state=KeyState.PENDING_DELETION)
    assert not rotation.rotation_enabled_for_status(doomed)
