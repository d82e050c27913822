"""Key rotation: eligibility, the automatic schedule, on-demand rotation and the material ring.

Layer: kms (pure functions of ``KeyInfo``, returning ``KeyChanges``; the operation handlers in
``api_rotation.py`` and the due-work runner in ``due.py`` call them). A key is a ring of
material versions: rotation appends a new CURRENT version and keeps every older one, so every
ciphertext ever returned still decrypts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from kmspolicy.crypto.specs import KeySpec
from kmspolicy.errors import (
    ConflictException,
    KMSInvalidStateException,
    LimitExceededException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.model import (
    KeyChanges,
    KeyInfo,
    KeyManagerType,
    KeyMaterial,
    KeyMaterialState,
    MultiRegionKeyType,
    OriginType,
    RotationType,
)
from kmspolicy.kms.states import KeyState

__all__ = [
    "AUTOMATIC_ROTATION_ORIGINS",
    "AWS_MANAGED_ROTATION_DAYS",
    "DEFAULT_ROTATION_PERIOD_DAYS",
    "MAX_ON_DEMAND_ROTATIONS",
    "MAX_ROTATION_PERIOD_DAYS",
    "MIN_ROTATION_PERIOD_DAYS",
    "ON_DEMAND_ROTATION_ORIGINS",
    "ON_DEMAND_ROTATION_TAKES",
    "catch_up_on_enable",
    "disable_rotation",
    "enable_rotation",
    "finish_on_demand",
    "on_demand_due",
    "pending_rotation_material",
    "promote_imported",
    "require_imported",
    "require_rotation_support",
    "rotate",
    "rotation_enabled_for_status",
    "start_on_demand",
    "validate_rotation_period",
]

MIN_ROTATION_PERIOD_DAYS = 90
MAX_ROTATION_PERIOD_DAYS = 2560
DEFAULT_ROTATION_PERIOD_DAYS = 365
AWS_MANAGED_ROTATION_DAYS = 365  # AWS managed keys rotate yearly; nobody can change it
MAX_ON_DEMAND_ROTATIONS = 25  # per key, lifetime, not adjustable
# RotateKeyOnDemand is refused while an automatic rotation is this close (AWS: 20 minutes).
ON_DEMAND_CONFLICT_WINDOW = timedelta(minutes=20)
#: How long an on-demand rotation takes on the service clock: RotateKeyOnDemand only records
#: it as started, and due work completes it this long after (AWS rotates in a background
#: process, "a slight delay" after the request; LocalStack's tests recorded against AWS wait
#: up to 10 seconds for it). Far shorter than the conflict window, so no automatic rotation
#: can fall due while one is in progress.
ON_DEMAND_ROTATION_TAKES = timedelta(seconds=2)
# the least step between two rotation dates of one key (the wire carries epoch seconds as a
# float: a millisecond survives the round trip, a microsecond may not)
_TICK = timedelta(milliseconds=1)


def validate_rotation_period(days: int | None) -> int:
    """``RotationPeriodInDays`` as EnableKeyRotation accepts it (90–2560, default 365)."""
    if days is None:
        return DEFAULT_ROTATION_PERIOD_DAYS
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationException("RotationPeriodInDays must be an integer")
    if not MIN_ROTATION_PERIOD_DAYS <= days <= MAX_ROTATION_PERIOD_DAYS:
        raise ValidationException(
            f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to "
            f"satisfy constraint: Member must have value between {MIN_ROTATION_PERIOD_DAYS} "
            f"and {MAX_ROTATION_PERIOD_DAYS}"
        )
    return days


def _unsupported(record: KeyInfo, what: str) -> UnsupportedOperationException:
    return UnsupportedOperationException(
        f"{record.arn} {what} which is not valid for this operation."
    )


#: Origins whose keys rotate automatically (KMS made the material).
AUTOMATIC_ROTATION_ORIGINS = frozenset({OriginType.AWS_KMS})
#: Origins whose keys rotate on demand and have a rotation history (imported material too).
ON_DEMAND_ROTATION_ORIGINS = frozenset({OriginType.AWS_KMS, OriginType.EXTERNAL})


def require_rotation_support(
    record: KeyInfo,
    *,
    origins: frozenset[OriginType] = AUTOMATIC_ROTATION_ORIGINS,
    aws_managed: bool = True,
) -> None:
    """UnsupportedOperationException unless ``record`` can rotate: SYMMETRIC_DEFAULT, one of
    ``origins``, not in a custom key store and, unless ``aws_managed``, customer managed.

    Automatic rotation: the defaults. Rotation history (ListKeyRotations): ``origins=
    ON_DEMAND_ROTATION_ORIGINS``. RotateKeyOnDemand: that and ``aws_managed=False``.
    """
    if record.key_spec != KeySpec.SYMMETRIC_DEFAULT:
        raise _unsupported(record, f"has key spec {record.key_spec}")
    if record.origin not in origins:
        raise _unsupported(record, f"origin is {record.origin.value}")
    if record.custom_key_store_id is not None:
        raise _unsupported(record, "is in a custom key store")
    if not aws_managed and record.key_manager is KeyManagerType.AWS:
        raise _unsupported(record, "is an AWS managed key")


def enable_rotation(record: KeyInfo, period_days: int, now: datetime) -> KeyChanges:
    """Turn automatic rotation on (or change its period): the next rotation is now + period.

    Re-enabling or changing the period restarts the schedule from the request, as in AWS.
    """
    require_rotation_support(record)
    return {
        "rotation_enabled": True,
        "rotation_period_days": period_days,
        "next_rotation_date": now + timedelta(days=period_days),
    }


def disable_rotation(record: KeyInfo) -> KeyChanges:
    require_rotation_support(record)
    return {"rotation_enabled": False, "next_rotation_date": None}


def catch_up_on_enable(record: KeyInfo, now: datetime, kernel: Kernel) -> KeyChanges:
    """EnableKey's part of the schedule, for a key it brings back to Enabled: one that was not
    Enabled when its automatic rotation fell due (due work skips such keys) rotates as it comes
    back, and the period restarts."""
    if (
        # a multi-Region replica takes its rotations from its primary
        record.multi_region_key_type is MultiRegionKeyType.REPLICA
        or not record.rotation_enabled
        or record.next_rotation_date is None
        or record.rotation_period_days is None
        or record.next_rotation_date > now
    ):
        return {}
    rotated = rotate(record, when=now, rotation_type=RotationType.AUTOMATIC, kernel=kernel)
    return {**rotated, "next_rotation_date": now + timedelta(days=record.rotation_period_days)}


def rotation_enabled_for_status(record: KeyInfo) -> bool:
    """KeyRotationEnabled as GetKeyRotationStatus reports it (false while pending deletion)."""
    if record.key_state in (KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION):
        return False
    return record.rotation_enabled


def rotate(
    record: KeyInfo,
    *,
    when: datetime,
    rotation_type: RotationType,
    kernel: Kernel,
) -> KeyChanges:
    """Append fresh material as CURRENT and demote the old current to NON_CURRENT.

    The key id, ARN, aliases, policy and grants are untouched; no material is ever dropped.
    """
    when = after_last_rotation(record, when)
    fresh = kernel.new_material(record)  # made and sealed by the kernel
    new = KeyMaterial(
        material_id=fresh.material_id,
        sealed=fresh.sealed,
        public_key=fresh.public_key,
        state=KeyMaterialState.CURRENT,
        created=when,
        rotation_date=when,
        rotation_type=rotation_type,
        bound_to_set=record.multi_region,
    )
    return _make_current(record.materials, new)


def after_last_rotation(record: KeyInfo, when: datetime) -> datetime:
    """``when``, or just after the key's latest rotation if that is not earlier.

    A request reads the clock before its transaction takes the key's row lock, so two
    concurrent rotations can commit in the opposite order of their clock readings. The record
    read under the lock holds every earlier rotation, so rotation dates stay strictly
    increasing per key, in the order the rotations happened (issue 12 item 11).
    """
    latest = max((m.rotation_date for m in record.materials if m.rotation_date), default=None)
    if latest is not None and latest >= when:
        return latest + _TICK
    return when


def _make_current(materials: tuple[KeyMaterial, ...], new: KeyMaterial) -> KeyChanges:
    ring = tuple(
        replace(m, state=KeyMaterialState.NON_CURRENT) if m.state is KeyMaterialState.CURRENT else m
        for m in materials
        if m.material_id != new.material_id
    )
    return {"materials": (*ring, new), "current_material_id": new.material_id}


def start_on_demand(record: KeyInfo, *, now: datetime) -> KeyChanges:
    """RotateKeyOnDemand: the rotation recorded as started at ``now`` (GetKeyRotationStatus
    shows ``OnDemandRotationStartDate``); due work completes it ``ON_DEMAND_ROTATION_TAKES``
    later (``finish_on_demand``). It counts against the limit of 25 from the request on."""
    require_rotation_support(record, origins=ON_DEMAND_ROTATION_ORIGINS, aws_managed=False)
    if record.on_demand_rotation_start_date is not None:
        # AWS documents no answer for this; the conflict error is the one its model has
        raise ConflictException(
            f"{record.arn} has an on-demand rotation in progress; try again after it completes."
        )
    if record.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS:
        raise LimitExceededException(
            f"{record.arn} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations."
        )
    if (
        record.rotation_enabled
        and record.next_rotation_date is not None
        and record.next_rotation_date - now <= ON_DEMAND_CONFLICT_WINDOW
    ):
        raise ConflictException(
            f"{record.arn} has an automatic rotation scheduled within the next 20 minutes; "
            "try again after it completes."
        )
    if record.origin is OriginType.EXTERNAL:
        pending_rotation_material(record)  # refused now rather than failing in the background
    return {
        "on_demand_rotation_start_date": now,
        "on_demand_rotations": record.on_demand_rotations + 1,
    }


def on_demand_due(record: KeyInfo, now: datetime | None) -> bool:
    """Whether the on-demand rotation in progress on ``record`` completes by ``now`` (None:
    ever). A multi-Region replica shows its primary's rotation in progress but never
    completes it: the primary's completion reaches it (``multiregion.synchronize``)."""
    start = record.on_demand_rotation_start_date
    return (
        start is not None
        and record.multi_region_key_type is not MultiRegionKeyType.REPLICA
        and (now is None or start + ON_DEMAND_ROTATION_TAKES <= now)
    )


def finish_on_demand(record: KeyInfo, kernel: Kernel) -> KeyChanges:
    """The on-demand rotation in progress, completed: dated when it fell due (the lazy path and
    the sweeper agree), in whatever state the key is now (AWS: disabling automatic rotation
    does not cancel it). An imported key whose waiting material was deleted meanwhile cannot
    rotate: the rotation is dropped and does not count against the limit."""
    start = record.on_demand_rotation_start_date
    assert start is not None
    when = start + ON_DEMAND_ROTATION_TAKES
    done: KeyChanges = {"on_demand_rotation_start_date": None}
    if record.origin is not OriginType.EXTERNAL:
        rotated = rotate(record, when=when, rotation_type=RotationType.ON_DEMAND, kernel=kernel)
        return {**rotated, **done}
    try:
        pending = pending_rotation_material(record)
    except KMSInvalidStateException:
        return {**done, "on_demand_rotations": max(record.on_demand_rotations - 1, 0)}
    new = replace(
        pending,
        state=KeyMaterialState.CURRENT,
        rotation_date=after_last_rotation(record, when),
        rotation_type=RotationType.ON_DEMAND,
    )
    return {**_make_current(record.materials, new), **done}


def pending_rotation_material(record: KeyInfo) -> KeyMaterial:
    """The imported material an on-demand rotation of ``record`` makes current (imported
    beforehand with NEW_KEY_MATERIAL, waiting in PENDING_ROTATION)."""
    pending = [m for m in record.materials if m.state is KeyMaterialState.PENDING_ROTATION]
    if not pending or pending[0].sealed is None:
        raise KMSInvalidStateException(
            f"{record.arn} has no imported key material in PENDING_ROTATION state; import new "
            "key material with ImportType NEW_KEY_MATERIAL before rotating."
        )
    return pending[0]


def require_imported(replica: KeyInfo, material_id: str) -> None:
    """A multi-Region replica of an imported-material set must hold the new material its
    primary will rotate to (imported beforehand, waiting) before the set rotates."""
    waiting = replica.material_by_id(material_id)
    if waiting is None or waiting.sealed is None or not waiting.state.waiting:
        raise KMSInvalidStateException(
            f"{replica.arn} has not imported the new key material of its primary key; import "
            "it (ImportType NEW_KEY_MATERIAL) before rotating."
        )


def promote_imported(replica: KeyInfo, primary: KeyInfo) -> KeyChanges:
    """A multi-Region replica with imported material, rotated with its primary: the material
    the primary just made current, which the replica imported beforehand (waiting)."""
    current = primary.current_material
    assert current is not None and current.rotation_date is not None
    require_imported(replica, current.material_id)
    waiting = replica.material_by_id(current.material_id)
    assert waiting is not None
    new = replace(
        waiting,
        state=KeyMaterialState.CURRENT,
        rotation_date=current.rotation_date,
        rotation_type=RotationType.ON_DEMAND,
    )
    return _make_current(replica.materials, new)
