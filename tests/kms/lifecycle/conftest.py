"""Record builders for the pure lifecycle tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from kmspolicy.crypto.material import generate_key, key_material_id
from kmspolicy.kms.model import KeyMaterial, KeyRecord, OriginType
from kmspolicy.kms.states import KeyState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "111122223333"
REGION = "us-east-1"


def make_key(
    *,
    key_id: str = "1234abcd-12ab-34cd-56ef-1234567890ab",
    spec: str = "SYMMETRIC_DEFAULT",
    usage: str = "ENCRYPT_DECRYPT",
    origin: OriginType = OriginType.AWS_KMS,
    state: KeyState | None = None,
) -> KeyRecord:
    materials: tuple[KeyMaterial, ...] = ()
    current = None
    if origin is OriginType.AWS_KMS and spec == "SYMMETRIC_DEFAULT":
        secret = generate_key(spec, os.urandom)
        current = key_material_id(key_id, secret)
        materials = (KeyMaterial(material_id=current, material=secret.secret, created=T0),)
    if state is None:
        state = KeyState.PENDING_IMPORT if origin is OriginType.EXTERNAL else KeyState.ENABLED
    return KeyRecord(
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
        materials=materials,
        current_material_id=current,
    )


@pytest.fixture
def rng() -> object:
    return os.urandom
