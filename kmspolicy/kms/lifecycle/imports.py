"""Imported key material (BYOK): import parameters and tokens, import, deletion and expiry.

Layer: kms (pure functions of ``KeyInfo``, returning ``KeyChanges``; the kernel makes the
wrapping key pair, and unwraps, checks and seals the material between ``open_import_token`` and
``accept_material``). The wrapping private key lives only sealed, in ``pending_imports``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from kmspolicy.crypto.specs import (
    KeySpec,
    WrappingAlgorithm,
    WrappingKeySpec,
)
from kmspolicy.crypto.wrapping import check_wrapping
from kmspolicy.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.backends import NewVersion
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.model import (
    ExpirationModelType,
    ImportState,
    KeyChanges,
    KeyInfo,
    KeyMaterial,
    KeyMaterialState,
    OriginType,
    PendingImportParameters,
)
from kmspolicy.kms.states import Event, KeyState, transition

__all__ = [
    "IMPORT_PARAMETERS_LIFETIME",
    "ImportParameters",
    "ImportType",
    "accept_material",
    "delete_material",
    "expiration_summary",
    "expire_materials",
    "expiring",
    "issue_import_parameters",
    "open_import_token",
    "require_external_origin",
]

IMPORT_PARAMETERS_LIFETIME = timedelta(hours=24)
MAX_VALID_TO = timedelta(days=365)
# Outstanding wrapping key pairs kept per key; older ones are destroyed on the next request.
_MAX_PENDING = 5

_TOKEN_MAGIC = b"KPIT\x01"
_TOKEN = struct.Struct(">5s16s16sq")  # magic, token id, key binding, valid-to (unix seconds)


class ImportType:
    NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"
    EXISTING_KEY_MATERIAL = "EXISTING_KEY_MATERIAL"


@dataclass(frozen=True, slots=True)
class ImportParameters:
    """What GetParametersForImport returns (the private half stays in the record)."""

    public_key: bytes  # DER SubjectPublicKeyInfo of the wrapping key
    import_token: bytes = field(repr=False)
    valid_to: datetime


def require_external_origin(record: KeyInfo) -> None:
    if record.origin is not OriginType.EXTERNAL:
        raise UnsupportedOperationException(
            f"{record.arn} origin is {record.origin.value} which is not valid for this operation."
        )


def _binding(key_arn: str) -> bytes:
    return hashlib.sha256(b"kmspolicy import token\x00" + key_arn.encode()).digest()[:16]


def _check_wrapping_choice(record: KeyInfo, algorithm: str, key_spec: str) -> None:
    try:
        WrappingAlgorithm(algorithm)
        WrappingKeySpec(key_spec)
    except ValueError as exc:
        raise ValidationException(str(exc)) from None
    check_wrapping(record.key_spec, algorithm, key_spec)


def issue_import_parameters(
    record: KeyInfo,
    *,
    wrapping_algorithm: str,
    wrapping_key_spec: str,
    now: datetime,
    kernel: Kernel,
) -> tuple[KeyChanges, ImportParameters]:
    """A fresh wrapping key pair and a 24-hour token bound to this key and that pair."""
    require_external_origin(record)
    _check_wrapping_choice(record, wrapping_algorithm, wrapping_key_spec)
    token_id = kernel.rng(16)
    public, sealed = kernel.new_wrapping_key(record, wrapping_key_spec, token_id.hex())
    valid_to = now + IMPORT_PARAMETERS_LIFETIME
    token = _TOKEN.pack(_TOKEN_MAGIC, token_id, _binding(record.arn), int(valid_to.timestamp()))
    params = PendingImportParameters(
        import_token_id=token_id.hex(),
        wrapping_key_spec=wrapping_key_spec,
        wrapping_algorithm=wrapping_algorithm,
        valid_to=valid_to,
        sealed_wrapping_key=sealed,
    )
    kept = tuple(p for p in record.pending_imports if p.valid_to > now)[-(_MAX_PENDING - 1) :]
    return {"pending_imports": (*kept, params)}, ImportParameters(public, token, valid_to)


def open_import_token(record: KeyInfo, token: bytes, now: datetime) -> PendingImportParameters:
    """The wrapping parameters an import token names, if it is this key's and still valid."""
    require_external_origin(record)
    invalid = InvalidImportTokenException(
        "The import token is not valid for this KMS key; call GetParametersForImport again."
    )
    if len(token) != _TOKEN.size:
        raise invalid
    magic, token_id, binding, valid_to_s = _TOKEN.unpack(token)
    if magic != _TOKEN_MAGIC or not hmac.compare_digest(binding, _binding(record.arn)):
        raise invalid
    expired = ExpiredImportTokenException(
        "The import token has expired; call GetParametersForImport for a new one."
    )
    wanted = token_id.hex()
    for params in record.pending_imports:
        if hmac.compare_digest(params.import_token_id, wanted):
            if params.valid_to <= now:
                raise expired
            return params
    # Destroyed parameters: the token still says whether it would have expired by now.
    if datetime.fromtimestamp(valid_to_s, UTC) <= now:
        raise expired
    raise invalid


def _expiry(model: str | None, valid_to: datetime | None, now: datetime) -> ExpirationModelType:
    try:
        expiration = ExpirationModelType(model or ExpirationModelType.KEY_MATERIAL_EXPIRES)
    except ValueError as exc:
        raise ValidationException(str(exc)) from None
    if expiration is ExpirationModelType.KEY_MATERIAL_EXPIRES:
        if valid_to is None:
            raise ValidationException(
                "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES"
            )
        if valid_to <= now:
            raise ValidationException("ValidTo must be in the future")
        if valid_to > now + MAX_VALID_TO:
            raise ValidationException("ValidTo must be at most 365 days from now")
    elif valid_to is not None:
        raise ValidationException(
            "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
        )
    return expiration


def _live(materials: tuple[KeyMaterial, ...]) -> list[KeyMaterial]:
    """Materials a ciphertext may name (not merely waiting to be rotated in)."""
    return [m for m in materials if not m.state.waiting]


def accept_material(
    record: KeyInfo,
    new: NewVersion,
    *,
    now: datetime,
    expiration_model: str | None = None,
    valid_to: datetime | None = None,
    import_type: str | None = None,
    material_id: str | None = None,
    description: str | None = None,
) -> tuple[KeyChanges, str]:
    """ImportKeyMaterial after unwrapping: first import, re-import of known material, or (symmetric
    keys) new material that waits in PENDING_ROTATION for RotateKeyOnDemand. Returns the key's
    changes and the KeyMaterialId of the imported material."""
    require_external_origin(record)
    symmetric = record.key_spec == KeySpec.SYMMETRIC_DEFAULT
    if not symmetric and (import_type or material_id or description is not None):
        raise ValidationException(
            "ImportType, KeyMaterialId and KeyMaterialDescription apply only to symmetric keys"
        )
    if import_type not in (None, ImportType.NEW_KEY_MATERIAL, ImportType.EXISTING_KEY_MATERIAL):
        raise ValidationException(f"unknown ImportType {import_type!r}")
    if import_type == ImportType.NEW_KEY_MATERIAL and material_id:
        raise ValidationException("KeyMaterialId cannot be combined with NEW_KEY_MATERIAL")
    expiration = _expiry(expiration_model, valid_to, now)
    incoming = KeyMaterial(new.material_id, new.sealed, public_key=new.public_key)
    if material_id and not hmac.compare_digest(material_id, incoming.material_id):
        raise IncorrectKeyMaterialException(
            f"The key material does not match KeyMaterialId {material_id}."
        )
    kept_to = valid_to if expiration is ExpirationModelType.KEY_MATERIAL_EXPIRES else None

    def filled(m: KeyMaterial) -> KeyMaterial:
        return replace(
            m,
            sealed=incoming.sealed,
            import_state=ImportState.IMPORTED,
            expiration_model=expiration,
            valid_to=kept_to,
        )

    known = record.material_by_id(incoming.material_id)
    if not record.materials:
        if import_type == ImportType.EXISTING_KEY_MATERIAL:
            raise IncorrectKeyMaterialException(f"{record.arn} has no key material to re-import.")
        first = filled(
            replace(incoming, state=KeyMaterialState.CURRENT, created=now, description=description)
        )
        ring: tuple[KeyMaterial, ...] = (first,)
        current: str | None = first.material_id
    elif known is not None:
        if import_type == ImportType.NEW_KEY_MATERIAL:
            raise IncorrectKeyMaterialException(
                f"This key material is already associated with {record.arn}."
            )
        again = filled(known)
        if description is not None:
            again = replace(again, description=description)
        ring = tuple(again if m.material_id == known.material_id else m for m in record.materials)
        current = record.current_material_id
    else:
        if import_type != ImportType.NEW_KEY_MATERIAL or not symmetric:
            raise IncorrectKeyMaterialException(
                f"The key material is not the key material previously imported into {record.arn}."
            )
        if any(m.state.waiting for m in record.materials):
            raise ValidationException(
                f"{record.arn} already has new key material waiting for RotateKeyOnDemand."
            )
        waiting = filled(
            replace(
                incoming,
                state=KeyMaterialState.PENDING_ROTATION,
                created=now,
                description=description,
            )
        )
        ring = (*record.materials, waiting)
        current = record.current_material_id
    state = record.key_state
    complete = all(m.sealed is not None for m in _live(ring))
    if state is KeyState.PENDING_IMPORT and complete:
        state = transition(state, Event.IMPORT_MATERIAL)  # type: ignore[assignment]
    changes = {"materials": ring, "current_material_id": current, "key_state": state}
    return changes, incoming.material_id


def _clear(material: KeyMaterial) -> KeyMaterial:
    return replace(
        material,
        sealed=None,
        import_state=ImportState.PENDING_IMPORT,
        expiration_model=None,
        valid_to=None,
    )


def delete_material(
    record: KeyInfo, material_id: str | None = None
) -> tuple[KeyChanges, str | None]:
    """DeleteImportedKeyMaterial: drop the secret (the id stays, so the same material can come
    back); the whole key waits for re-import. Returns the key's changes and the
    KeyMaterialId."""
    require_external_origin(record)
    if not record.materials:
        return {}, None  # never imported: nothing to delete, no state change
    target_id = material_id or record.current_material_id
    target = record.material_by_id(target_id) if target_id else None
    if target is None:
        raise NotFoundException(f"Key material {material_id} is not associated with {record.arn}.")
    if target.state.waiting:
        if record.multi_region and record.on_demand_rotation_start_date is not None:
            # the set's rotation in progress makes this material current on every member
            # (replicas show their primary's rotation): deleted from one member, the set's
            # material would split. A single-Region key's rotation is dropped instead.
            raise KMSInvalidStateException(
                f"{record.arn} has an on-demand rotation in progress to key material "
                f"{target.material_id}; it cannot be deleted until the rotation completes."
            )
        ring = tuple(m for m in record.materials if m.material_id != target.material_id)
        return {"materials": ring}, target.material_id
    ring = tuple(_clear(m) if m.material_id == target.material_id else m for m in record.materials)
    state = transition(record.key_state, Event.DELETE_MATERIAL)
    return {"materials": ring, "key_state": state}, target.material_id


def expiring(record: KeyInfo) -> Iterator[KeyMaterial]:
    """The imported material of ``record`` that expires at its ValidTo (the one definition,
    for due work's moment and for the expiry itself)."""
    # waiting material a multi-Region set's rotation in progress makes current expires once
    # it is current, on every member alike (deleted before, one member would not rotate)
    rotating = record.multi_region and record.on_demand_rotation_start_date is not None
    return (
        m
        for m in record.materials
        if m.sealed is not None
        and m.expiration_model is ExpirationModelType.KEY_MATERIAL_EXPIRES
        and m.valid_to is not None
        and not (rotating and m.state.waiting)
    )


def expire_materials(record: KeyInfo, now: datetime) -> KeyChanges:
    """Due work: imported material whose ValidTo has passed is deleted, as by the API."""
    if record.origin is not OriginType.EXTERNAL:
        return {}
    expired = {
        m.material_id for m in expiring(record) if m.valid_to is not None and m.valid_to <= now
    }
    if not expired:
        return {}
    live_expired = any(m.material_id in expired and not m.state.waiting for m in record.materials)
    ring = tuple(
        m
        for m in (_clear(m) if m.material_id in expired else m for m in record.materials)
        if not (m.material_id in expired and m.state.waiting)
    )
    state = (
        transition(record.key_state, Event.MATERIAL_EXPIRED) if live_expired else record.key_state
    )
    return {"materials": ring, "key_state": state}


def prune_import_parameters(record: KeyInfo, now: datetime) -> KeyChanges:
    """Due work: destroy wrapping private keys whose token has expired."""
    kept = tuple(p for p in record.pending_imports if p.valid_to > now)
    if len(kept) == len(record.pending_imports):
        return {}
    return {"pending_imports": kept}


def expiration_summary(record: KeyInfo) -> tuple[ExpirationModelType | None, datetime | None]:
    """DescribeKey's ExpirationModel and ValidTo for an EXTERNAL key (earliest expiry wins)."""
    if record.origin is not OriginType.EXTERNAL:
        return None, None
    live = [m for m in record.materials if not m.state.waiting and m.has_material]
    if not live:
        return None, None
    expiring = [m.valid_to for m in live if m.valid_to is not None]
    if expiring:
        return ExpirationModelType.KEY_MATERIAL_EXPIRES, min(expiring)
    return ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE, None
