"""Record builders for the pure lifecycle tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from kmspolicy.crypto.seal import RootKey
from kmspolicy.crypto.wrapping import validate_import_material
from kmspolicy.kms.backends import MATERIAL, NewVersion
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.model import KeyChanges, KeyMaterial, KeyRecord, OriginType
from kmspolicy.kms.states import KeyState

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "111122223333"
REGION = "us-east-1"
#: The kernel the pure lifecycle functions make and seal material with in these tests.
KERNEL = Kernel(RootKey.generate(), os.urandom)


def new_version(record: KeyRecord, secret: bytes) -> NewVersion:
    """``secret`` as ImportKeyMaterial hands it to the lifecycle: checked and sealed."""
    return KERNEL.backend_for(record).adopt(
        record, validate_import_material(record.key_spec, secret)
    )


def secret_of(record: KeyRecord, material: KeyMaterial | None) -> bytes | None:
    """The plaintext behind a sealed version (None: no material), opened as the kernel would."""
    if material is None or material.sealed is None:
        return None
    return KERNEL.backend_for(record).open_secret(
        record.arn, MATERIAL, material.material_id, material.sealed
    )


def make_key(
    *,
    key_id: str = "1234abcd-12ab-34cd-56ef-1234567890ab",
    spec: str = "SYMMETRIC_DEFAULT",
    usage: str = "ENCRYPT_DECRYPT",
    origin: OriginType = OriginType.AWS_KMS,
    state: KeyState | None = None,
) -> KeyRecord:
    if state is None:
        state = KeyState.PENDING_IMPORT if origin is OriginType.EXTERNAL else KeyState.ENABLED
    record = KeyRecord(
        key_id=key_id,
        arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}",
        account=ACCOUNT,
        region=REGION,
        creation_date=T0,
        key_spec=spec,
        key_usage=usage,
        key_state=state,
        policy="{}",
        origin=origin,
    )
    if origin is OriginType.AWS_KMS and spec == "SYMMETRIC_DEFAULT":
        new = KERNEL.new_material(record)
        material = KeyMaterial(material_id=new.material_id, sealed=new.sealed, created=T0)
        record = record.evolve(materials=(material,), current_material_id=new.material_id)
    return record


def apply(
    rule: Callable[..., KeyChanges], record: KeyRecord, *args: Any, **kwargs: Any
) -> KeyRecord:
    """``record`` with the changes a lifecycle rule returns for it (itself when none)."""
    changes = rule(record, *args, **kwargs)
    return record.evolve(**changes) if changes else record


def rotated_on_demand(record: KeyRecord, now: datetime) -> KeyRecord:
    """``record`` after RotateKeyOnDemand at ``now`` and the due work that completes it."""
    from kmspolicy.kms.lifecycle.rotation import finish_on_demand, start_on_demand

    started = apply(start_on_demand, record, now=now)
    return apply(finish_on_demand, started, KERNEL)


def apply_pair(
    rule: Callable[..., tuple[KeyChanges, T]], record: KeyRecord, *args: Any, **kwargs: Any
) -> tuple[KeyRecord, T]:
    """As ``apply``, for the rules that return something beside the changes."""
    changes, other = rule(record, *args, **kwargs)
    return (record.evolve(**changes) if changes else record), other


@pytest.fixture
def kernel() -> Kernel:
    return KERNEL
