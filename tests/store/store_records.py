"""Builders of model records for the store tests (imported by path from the test modules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kmspolicy.crypto import KeySpec, generate_key, public_key_der
from kmspolicy.kms.model import (
    AliasRecord,
    ExpirationModelType,
    GrantConstraints,
    GrantRecord,
    ImportState,
    KeyMaterial,
    KeyMaterialState,
    KeyRecord,
    KeyState,
    OriginType,
    PendingImportParameters,
    RotationType,
    Tag,
)
from kmspolicy.kms.sealed import Sealed

ACCOUNT = "111122223333"
REGION = "us-east-1"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def key_arn(key_id: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def material(n: int, secret: bytes | None = None, public: bytes | None = None) -> KeyMaterial:
    return KeyMaterial(
        material_id=f"{n:064x}",
        sealed=Sealed(secret if secret is not None else bytes([n % 256]) * 32),
        state=KeyMaterialState.CURRENT,
        created=T0 + timedelta(days=n),
        public_key=public,
    )


def key(
    key_id: str,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    spec: str = "SYMMETRIC_DEFAULT",
    state: KeyState = KeyState.ENABLED,
    materials: tuple[KeyMaterial, ...] | None = None,
    tags: tuple[Tag, ...] = (),
    **extra: object,
) -> KeyRecord:
    mats = materials if materials is not None else (material(1),)
    record = KeyRecord(
        key_id=key_id,
        arn=key_arn(key_id, account, region),
        account=account,
        region=region,
        creation_date=T0,
        key_spec=spec,
        key_usage="ENCRYPT_DECRYPT",
        key_state=state,
        policy='{"Version":"2012-10-17","Statement":[]}',
        tags=tags,
        materials=mats,
        current_material_id=mats[-1].material_id if mats else None,
    )
    return record.evolve(**extra) if extra else record


def rich_key(key_id: str) -> KeyRecord:
    """A key exercising every field kind: several versions, tags, imports, dates, enums."""
    asym = generate_key(KeySpec.ECC_NIST_P256)
    old = KeyMaterial(
        material_id="a" * 64,
        sealed=Sealed(b"\x01" * 32),
        state=KeyMaterialState.NON_CURRENT,
        created=T0,
        expiration_model=ExpirationModelType.KEY_MATERIAL_EXPIRES,
        valid_to=T0 + timedelta(days=365),
        import_state=ImportState.IMPORTED,
        description="first import",
    )
    pending = KeyMaterial(
        material_id="b" * 64,
        sealed=None,
        state=KeyMaterialState.PENDING_ROTATION,
        import_state=ImportState.PENDING_IMPORT,
    )
    current = KeyMaterial(
        material_id="c" * 64,
        sealed=Sealed(asym.secret),
        state=KeyMaterialState.CURRENT,
        created=T0 + timedelta(days=90),
        rotation_date=T0 + timedelta(days=90),
        rotation_type=RotationType.ON_DEMAND,
        public_key=public_key_der(asym),
    )
    imports = (
        PendingImportParameters(
            import_token_id="token-1",
            wrapping_key_spec="RSA_2048",
            wrapping_algorithm="RSAES_OAEP_SHA_256",
            sealed_wrapping_key=Sealed(b"wrapping-private-key-DER" * 4),
            valid_to=T0 + timedelta(hours=24),
        ),
    )
    return key(
        key_id,
        materials=(old, pending, current),
        tags=(Tag("team", "finance"), Tag("env", "prod")),
        origin=OriginType.EXTERNAL,
        description="a rich key — with ünïcödé",
        pending_imports=imports,
        rotation_enabled=True,
        rotation_period_days=365,
        next_rotation_date=T0 + timedelta(days=455),
        on_demand_rotations=1,
        deletion_date=None,
    )


def alias(
    name: str, target: str | None, account: str = ACCOUNT, region: str = REGION
) -> AliasRecord:
    return AliasRecord(
        name=name,
        arn=f"arn:aws:kms:{region}:{account}:{name}",
        account=account,
        region=region,
        target_key_id=target,
        creation_date=T0,
        last_updated_date=T0 + timedelta(minutes=5),
    )


def grant(
    grant_id: str,
    key_id: str,
    *,
    retiring: str | None = None,
    constraints: GrantConstraints | None = None,
) -> GrantRecord:
    return GrantRecord(
        grant_id=grant_id,
        key_arn=key_arn(key_id),
        grantee_principal=f"arn:aws:iam::{ACCOUNT}:role/app",
        operations=("Decrypt", "Encrypt"),
        issuing_account=f"arn:aws:iam::{ACCOUNT}:root",
        creation_date=T0,
        name=None,
        retiring_principal=retiring,
        constraints=constraints,
    )
