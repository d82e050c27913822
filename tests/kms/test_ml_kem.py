"""ML-KEM keys through boto3 in-process: CreateKey, DescribeKey, GetPublicKey, Encapsulate,
Decapsulate, grants, data key pairs and imported key material. ML_KEM_512 is refused with its
reason (pyca/cryptography has ML-KEM-768 and ML-KEM-1024 only). Over HTTP:
tests/server/test_ml_kem.py."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mlkem

from tests.kms.lifecycle.importing import wrap_rsa_aes
from tests.kms.principals import BOB, raises_code

SPECS = {"ML_KEM_768": 1088, "ML_KEM_1024": 1568}


def kem_key(client: Any, spec: str = "ML_KEM_768", **params: Any) -> dict[str, Any]:
    return dict(
        client.create_key(KeySpec=spec, KeyUsage="ENCAPSULATE_DECAPSULATE", **params)["KeyMetadata"]
    )


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_encapsulate_then_decapsulate(client: Any, spec: str) -> None:
    key = kem_key(client, spec)
    assert key["EncapsulationAlgorithms"] == ["ML_KEM"]
    assert (key["KeySpec"], key["KeyUsage"]) == (spec, "ENCAPSULATE_DECAPSULATE")
    out = client.encapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM")
    assert out["KeyId"] == key["Arn"] and out["EncapsulationAlgorithm"] == "ML_KEM"
    assert len(out["SharedSecret"]) == 32
    assert len(out["SharedSecretCiphertextBlob"]) == SPECS[spec]
    back = client.decapsulate(
        KeyId=key["KeyId"],
        SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
        EncapsulationAlgorithm="ML_KEM",
    )
    assert back["SharedSecret"] == out["SharedSecret"]


def test_a_peer_encapsulates_to_the_public_key_and_kms_decapsulates(client: Any) -> None:
    key = kem_key(client, "ML_KEM_1024")
    answer = client.get_public_key(KeyId=key["KeyId"])
    assert (answer["KeyUsage"], answer["EncapsulationAlgorithms"]) == (
        "ENCAPSULATE_DECAPSULATE",
        ["ML_KEM"],
    )
    public = serialization.load_der_public_key(answer["PublicKey"])
    assert isinstance(public, mlkem.MLKEM1024PublicKey)
    secret, ciphertext = public.encapsulate()
    out = client.decapsulate(
        KeyId=key["Arn"], SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM"
    )
    assert out["SharedSecret"] == secret


def test_wrong_keys_specs_and_ciphertexts_are_refused(client: Any) -> None:
    with raises_code("UnsupportedOperationException") as unsupported:
        kem_key(client, "ML_KEM_512")
    assert "ML-KEM-768 and ML-KEM-1024" in unsupported.value.response["Error"]["Message"]
    with raises_code("ValidationException"):
        client.create_key(KeySpec="ML_KEM_768", KeyUsage="KEY_AGREEMENT")
    with raises_code("ValidationException"):  # KeyUsage has no default but for symmetric keys
        client.create_key(KeySpec="ML_KEM_768")
    symmetric = client.create_key()["KeyMetadata"]["KeyId"]
    with raises_code("InvalidKeyUsageException"):
        client.encapsulate(KeyId=symmetric, EncapsulationAlgorithm="ML_KEM")
    key = kem_key(client)["KeyId"]
    with raises_code("InvalidKeyUsageException"):
        client.encrypt(KeyId=key, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with raises_code("InvalidCiphertextException"):
        client.decapsulate(
            KeyId=key, SharedSecretCiphertextBlob=b"\x00" * 1568, EncapsulationAlgorithm="ML_KEM"
        )
    with raises_code("DryRunOperationException"):
        client.encapsulate(KeyId=key, EncapsulationAlgorithm="ML_KEM", DryRun=True)


def test_grants_allow_encapsulate_and_decapsulate(service: Any, client: Any) -> None:
    key = kem_key(client)
    bob = service.client(BOB)
    with raises_code("AccessDeniedException"):
        bob.encapsulate(KeyId=key["Arn"], EncapsulationAlgorithm="ML_KEM")
    client.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=BOB, Operations=["Encapsulate", "Decapsulate"]
    )
    out = bob.encapsulate(KeyId=key["Arn"], EncapsulationAlgorithm="ML_KEM")
    back = bob.decapsulate(
        KeyId=key["Arn"],
        SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
        EncapsulationAlgorithm="ML_KEM",
    )
    assert back["SharedSecret"] == out["SharedSecret"]
    # a grant operation the key cannot do is refused, and Encapsulate on other keys too
    with raises_code("ValidationException"):
        client.create_grant(KeyId=key["KeyId"], GranteePrincipal=BOB, Operations=["Decrypt"])
    symmetric = client.create_key()["KeyMetadata"]["KeyId"]
    with raises_code("ValidationException"):
        client.create_grant(KeyId=symmetric, GranteePrincipal=BOB, Operations=["Encapsulate"])


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_data_key_pairs_of_ml_kem(client: Any, spec: str) -> None:
    wrapping = client.create_key()["KeyMetadata"]["KeyId"]
    pair = client.generate_data_key_pair(KeyId=wrapping, KeyPairSpec=spec)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    assert (
        private.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == pair["PublicKey"]
    )
    opened = client.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
    assert opened == pair["PrivateKeyPlaintext"]
    with raises_code("UnsupportedOperationException"):
        client.generate_data_key_pair_without_plaintext(KeyId=wrapping, KeyPairSpec="ML_KEM_512")


def test_imported_ml_kem_key_material(client: Any) -> None:
    mine = mlkem.MLKEM768PrivateKey.from_seed_bytes(os.urandom(64))
    der = mine.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_id = kem_key(client, Origin="EXTERNAL")["KeyId"]
    params = client.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    client.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap_rsa_aes(params["PublicKey"], der),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    secret, ciphertext = mine.public_key().encapsulate()
    out = client.decapsulate(
        KeyId=key_id, SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM"
    )
    assert out["SharedSecret"] == secret
