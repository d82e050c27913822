"""Imported key material (BYOK) through the boto3 client, wrapped with plain ``cryptography``
exactly as the AWS Developer Guide tells a user to (RSAES_OAEP_SHA_256 over the raw key)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES
from tests.kms.lifecycle.importing import (
    import_material,
    wrap_oaep_sha256,
    wrap_rsa_aes,
)
from tests.kms.principals import raises_code
from tests.kms.rotations import rotate_on_demand


@pytest.fixture
def external_key(client: Any) -> str:
    meta = client.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and meta["Origin"] == "EXTERNAL"
    return str(meta["KeyId"])


def test_import_then_use_then_delete_and_reimport(client: Any, external_key: str) -> None:
    material = os.urandom(32)
    with raises_code("KMSInvalidStateException") as err:
        client.encrypt(KeyId=external_key, Plaintext=b"too early")
    assert "is pending import." in err.value.response["Error"]["Message"]

    out = import_material(client, external_key, material)
    assert len(out["KeyMaterialId"]) == 64
    assert client.describe_key(KeyId=external_key)["KeyMetadata"]["KeyState"] == "Enabled"
    blob = client.encrypt(KeyId=external_key, Plaintext=b"byok")["CiphertextBlob"]

    deleted = client.delete_imported_key_material(KeyId=external_key)
    assert deleted["KeyMaterialId"] == out["KeyMaterialId"]
    assert client.describe_key(KeyId=external_key)["KeyMetadata"]["KeyState"] == "PendingImport"
    with raises_code("KMSInvalidStateException"):
        client.decrypt(CiphertextBlob=blob)

    with raises_code("IncorrectKeyMaterialException"):
        import_material(client, external_key, os.urandom(32))
    import_material(client, external_key, material)
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"


def test_expiring_material_moves_the_key_to_pending_import(
    client: Any, external_key: str, clock: FakeClock
) -> None:
    valid_to = clock.now() + timedelta(days=3)
    import_material(
        client,
        external_key,
        os.urandom(32),
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=valid_to,
    )
    meta = client.describe_key(KeyId=external_key)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and meta["ValidTo"] == valid_to
    clock.advance(days=3)
    meta = client.describe_key(KeyId=external_key)["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport"


def test_expired_token(client: Any, external_key: str, clock: FakeClock) -> None:
    params = client.get_parameters_for_import(
        KeyId=external_key, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048"
    )
    assert params["ParametersValidTo"] == clock.now() + timedelta(hours=24)
    clock.advance(hours=24)
    with raises_code("ExpiredImportTokenException"):
        client.import_key_material(
            KeyId=external_key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=b"\x00" * 256,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )


def test_token_of_another_key_is_invalid(client: Any, external_key: str) -> None:
    other = client.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = client.get_parameters_for_import(
        KeyId=other, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    with raises_code("InvalidImportTokenException"):
        client.import_key_material(
            KeyId=external_key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap_oaep_sha256(params["PublicKey"], os.urandom(32)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )


def test_garbage_wrapped_material_is_invalid_ciphertext(client: Any, external_key: str) -> None:
    params = client.get_parameters_for_import(
        KeyId=external_key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    with raises_code("InvalidCiphertextException"):
        client.import_key_material(
            KeyId=external_key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=os.urandom(256),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )


# Every algorithm with RSA_2048, every wrapping key size once (RSA_4096 generation is slow).
_WRAPPINGS = [
    *[
        (algorithm, "RSA_2048")
        for algorithm in (
            "RSAES_OAEP_SHA_1",
            "RSAES_OAEP_SHA_256",
            "RSA_AES_KEY_WRAP_SHA_1",
            "RSA_AES_KEY_WRAP_SHA_256",
        )
    ],
    ("RSAES_OAEP_SHA_256", "RSA_3072"),
    ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
]


@pytest.mark.parametrize(("algorithm", "wrapping_spec"), _WRAPPINGS)
def test_every_wrapping_algorithm_and_key_spec(
    client: Any, external_key: str, algorithm: str, wrapping_spec: str
) -> None:
    params = client.get_parameters_for_import(
        KeyId=external_key, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    assert public.key_size == int(wrapping_spec.split("_")[1])  # type: ignore[union-attr]
    digest = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)
    material = os.urandom(32)
    if algorithm.startswith("RSAES"):
        wrapped = public.encrypt(material, oaep)  # type: ignore[union-attr,call-arg]
    else:
        aes = os.urandom(32)
        wrapped = public.encrypt(aes, oaep) + keywrap.aes_key_wrap_with_padding(  # type: ignore[union-attr,call-arg,operator]
            aes, material
        )
    client.import_key_material(
        KeyId=external_key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert client.describe_key(KeyId=external_key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_imported_signing_key(client: Any) -> None:
    key_id = client.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")[
        "KeyMetadata"
    ]["KeyId"]
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    params = client.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    client.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap_rsa_aes(params["PublicKey"], der),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    signature = client.sign(KeyId=key_id, Message=b"hello", SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    private.public_key().verify(signature, b"hello", ec.ECDSA(hashes.SHA256()))


def test_parameters_refused_for_kms_made_keys(client: Any, key_id: str) -> None:
    with raises_code("UnsupportedOperationException") as err:
        client.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    assert "origin is AWS_KMS" in err.value.response["Error"]["Message"]


def test_new_material_then_on_demand_rotation(
    client: Any, external_key: str, clock: FakeClock
) -> None:
    import_material(client, external_key, os.urandom(32))
    old = client.encrypt(KeyId=external_key, Plaintext=b"old")["CiphertextBlob"]
    import_material(client, external_key, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    rotations = client.list_key_rotations(KeyId=external_key, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    states = ["CURRENT", "PENDING_ROTATION"]
    assert [r["KeyMaterialState"] for r in rotations["Rotations"]] == states
    client.rotate_key_on_demand(KeyId=external_key)
    # started, not done: the new material still waits
    rotations = client.list_key_rotations(KeyId=external_key, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert [r["KeyMaterialState"] for r in rotations["Rotations"]] == states
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    new = client.encrypt(KeyId=external_key, Plaintext=b"new")["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert (
        client.decrypt(CiphertextBlob=new)["KeyMaterialId"]
        != client.decrypt(CiphertextBlob=old)["KeyMaterialId"]
    )


def test_imported_hmac_key_computes_the_standard_mac(client: Any) -> None:
    import hashlib
    import hmac

    key_id = client.create_key(
        Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"
    )["KeyMetadata"]["KeyId"]
    secret = os.urandom(32)
    import_material(client, key_id, secret)
    mac = client.generate_mac(KeyId=key_id, Message=b"msg", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(secret, b"msg", hashlib.sha256).digest()
    with raises_code("ValidationException"):  # ImportType is for symmetric encryption keys
        import_material(client, key_id, secret, ImportType="EXISTING_KEY_MATERIAL")


def test_describe_key_reports_the_earliest_expiry_of_all_materials(
    client: Any, external_key: str, clock: FakeClock
) -> None:
    soon = clock.now() + timedelta(days=5)
    import_material(
        client, external_key, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=soon
    )
    import_material(client, external_key, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    rotate_on_demand(client, clock, external_key)
    # the current material never expires, but the older one still does: AWS shows that one
    meta = client.describe_key(KeyId=external_key)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and meta["ValidTo"] == soon
