"""Imported key material: tokens, first import, re-import of the same material only, deletion,
expiry (the unwrapping itself is the crypto layer's and is tested through the client)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from kmspolicy.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidImportTokenException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.lifecycle import imports
from kmspolicy.kms.model import ExpirationModelType, KeyMaterialState, OriginType
from kmspolicy.kms.states import KeyState

from .conftest import (
    KERNEL,
    T0,
    apply,
    apply_pair,
    make_key,
    new_version,
    rotated_on_demand,
    secret_of,
)


def accept(record, secret, **kwargs):  # type: ignore[no-untyped-def]
    """The record after ImportKeyMaterial (the material id is checked where it matters)."""
    return apply_pair(imports.accept_material, record, new_version(record, secret), **kwargs)[0]


NEVER = ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE.value
EXPIRES = ExpirationModelType.KEY_MATERIAL_EXPIRES.value


def external(**kw: object) -> object:
    return make_key(origin=OriginType.EXTERNAL, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def issued() -> tuple[object, imports.ImportParameters]:
    return apply_pair(
        imports.issue_import_parameters,
        external(),
        wrapping_algorithm="RSAES_OAEP_SHA_256",
        wrapping_key_spec="RSA_2048",
        now=T0,
        kernel=KERNEL,
    )


def test_parameters_valid_for_24_hours(issued) -> None:  # type: ignore[no-untyped-def]
    record, params = issued
    assert params.valid_to == T0 + timedelta(hours=24)
    assert params.public_key.startswith(b"\x30")  # DER SPKI
    found = imports.open_import_token(record, params.import_token, T0 + timedelta(hours=23))
    assert found.wrapping_algorithm == "RSAES_OAEP_SHA_256"
    assert "sealed_wrapping_key" not in repr(found)


def test_expired_token(issued) -> None:  # type: ignore[no-untyped-def]
    record, params = issued
    with pytest.raises(ExpiredImportTokenException):
        imports.open_import_token(record, params.import_token, T0 + timedelta(hours=24))


def test_token_of_another_key_is_invalid(issued) -> None:  # type: ignore[no-untyped-def]
    _, params = issued
    other = external(key_id="99999999-12ab-34cd-56ef-1234567890ab")
    with pytest.raises(InvalidImportTokenException):
        imports.open_import_token(other, params.import_token, T0)


@pytest.mark.parametrize("token", [b"", b"garbage", b"\x00" * 45])
def test_malformed_token_is_invalid(issued, token: bytes) -> None:  # type: ignore[no-untyped-def]
    record, _ = issued
    with pytest.raises(InvalidImportTokenException):
        imports.open_import_token(record, token, T0)


def test_expired_parameters_are_destroyed_but_token_still_reports_expiry(issued) -> None:  # type: ignore[no-untyped-def]
    record, params = issued
    later = T0 + timedelta(days=2)
    pruned = apply(imports.prune_import_parameters, record, later)
    assert pruned.pending_imports == ()
    with pytest.raises(ExpiredImportTokenException):
        imports.open_import_token(pruned, params.import_token, later)


def test_parameters_only_for_external_keys() -> None:
    with pytest.raises(UnsupportedOperationException, match="origin is AWS_KMS"):
        apply_pair(
            imports.issue_import_parameters,
            make_key(),
            wrapping_algorithm="RSAES_OAEP_SHA_256",
            wrapping_key_spec="RSA_2048",
            now=T0,
            kernel=KERNEL,
        )


@pytest.mark.parametrize(
    ("algorithm", "error"),
    [("RSAES_PKCS1_V1_5", ValidationException), ("SM2PKE", UnsupportedOperationException)],
)
def test_refused_wrapping_algorithms(algorithm: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        apply_pair(
            imports.issue_import_parameters,
            external(),
            wrapping_algorithm=algorithm,
            wrapping_key_spec="RSA_2048",
            now=T0,
            kernel=KERNEL,
        )


def test_first_import_enables_key() -> None:
    secret = os.urandom(32)
    key = accept(external(), secret, now=T0, expiration_model=NEVER)
    assert key.key_state is KeyState.ENABLED
    assert secret_of(key, key.current_material) == secret
    assert imports.expiration_summary(key) == (
        ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE,
        None,
    )


def test_wrong_length_symmetric_material() -> None:
    with pytest.raises(IncorrectKeyMaterialException):
        accept(external(), os.urandom(16), now=T0, expiration_model=NEVER)


def test_reimport_of_different_material_is_refused() -> None:
    key = accept(external(), os.urandom(32), now=T0, expiration_model=NEVER)
    with pytest.raises(IncorrectKeyMaterialException):
        accept(key, os.urandom(32), now=T0, expiration_model=NEVER)


def test_delete_then_reimport_same_material_restores_it() -> None:
    secret = os.urandom(32)
    key = accept(external(), secret, now=T0, expiration_model=NEVER)
    material_id = key.current_material_id
    gone, deleted_id = apply_pair(imports.delete_material, key)
    assert deleted_id == material_id
    assert gone.key_state is KeyState.PENDING_IMPORT
    assert gone.current_material is not None and gone.current_material.sealed is None
    back = accept(gone, secret, now=T0, expiration_model=NEVER)
    assert back.key_state is KeyState.ENABLED
    assert back.current_material_id == material_id
    assert secret_of(back, back.current_material) == secret


def test_delete_of_disabled_key_material_goes_to_pending_import() -> None:
    key = accept(external(), os.urandom(32), now=T0, expiration_model=NEVER)
    gone, _ = apply_pair(imports.delete_material, key.evolve(key_state=KeyState.DISABLED))
    assert gone.key_state is KeyState.PENDING_IMPORT


def test_reimport_into_disabled_key_keeps_it_disabled() -> None:
    secret = os.urandom(32)
    key = accept(external(), secret, now=T0, expiration_model=NEVER)
    again = accept(key.evolve(key_state=KeyState.DISABLED), secret, now=T0, expiration_model=NEVER)
    assert again.key_state is KeyState.DISABLED


def test_expires_requires_a_future_valid_to_within_365_days() -> None:
    secret = os.urandom(32)
    for valid_to in (None, T0, T0 + timedelta(days=366)):
        with pytest.raises(ValidationException):
            accept(external(), secret, now=T0, expiration_model=EXPIRES, valid_to=valid_to)
    with pytest.raises(ValidationException):
        accept(external(), secret, now=T0, expiration_model=NEVER, valid_to=T0 + timedelta(days=1))


def test_default_expiration_model_is_expires() -> None:
    with pytest.raises(ValidationException, match="ValidTo is required"):
        accept(external(), os.urandom(32), now=T0)


def test_expiry_moves_key_to_pending_import() -> None:
    valid_to = T0 + timedelta(days=10)
    key = accept(external(), os.urandom(32), now=T0, expiration_model=EXPIRES, valid_to=valid_to)
    assert imports.expiration_summary(key) == (ExpirationModelType.KEY_MATERIAL_EXPIRES, valid_to)
    assert apply(imports.expire_materials, key, valid_to - timedelta(seconds=1)) is key
    expired = apply(imports.expire_materials, key, valid_to)
    assert expired.key_state is KeyState.PENDING_IMPORT
    assert expired.current_material is not None and expired.current_material.sealed is None


def test_expiry_during_pending_deletion_keeps_the_state() -> None:
    valid_to = T0 + timedelta(days=1)
    key = accept(
        external(), os.urandom(32), now=T0, expiration_model=EXPIRES, valid_to=valid_to
    ).evolve(key_state=KeyState.PENDING_DELETION)
    assert apply(imports.expire_materials, key, valid_to).key_state is KeyState.PENDING_DELETION


def test_new_material_waits_for_on_demand_rotation() -> None:
    key = accept(external(), os.urandom(32), now=T0, expiration_model=NEVER)
    first = key.current_material_id
    key = accept(
        key, os.urandom(32), now=T0, expiration_model=NEVER, import_type="NEW_KEY_MATERIAL"
    )
    pending = [m for m in key.materials if m.state is KeyMaterialState.PENDING_ROTATION]
    assert len(pending) == 1 and key.current_material_id == first
    rotated = rotated_on_demand(key, T0)
    assert rotated.current_material_id == pending[0].material_id
    assert rotated.material_by_id(first).state is KeyMaterialState.NON_CURRENT  # type: ignore[union-attr]


def test_asymmetric_import_accepts_only_its_own_key() -> None:
    from kmspolicy.crypto.material import generate_key

    one = generate_key("ECC_NIST_P256").secret
    other = generate_key("ECC_NIST_P256").secret
    key = external(spec="ECC_NIST_P256", usage="SIGN_VERIFY")
    key = accept(key, one, now=T0, expiration_model=NEVER)
    assert key.key_state is KeyState.ENABLED
    assert key.current_material is not None and key.current_material.public_key
    with pytest.raises(IncorrectKeyMaterialException):
        accept(key, other, now=T0, expiration_model=NEVER)
    with pytest.raises(ValidationException):
        accept(key, one, now=T0, expiration_model=NEVER, import_type="NEW_KEY_MATERIAL")
