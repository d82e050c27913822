"""Error texts AWS sends, as recorded against AWS (LocalStack's snapshot tests), through boto3.

The expected strings are typed out here once more on purpose: kmspolicy.messages could be
wrong, and these tests are what would notice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.kms.principals import ACCOUNT, raises_code


def _error(info: Any) -> tuple[str, str]:
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_digest_of_the_wrong_length(client: Any) -> None:
    key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with raises_code("ValidationException") as info:
        client.sign(
            KeyId=key["KeyId"],
            Message=b"\x01" * 31,
            MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256",
        )
    assert _error(info)[1] == "Digest is invalid length for algorithm ECDSA_SHA_256."


def test_an_invalid_signature_has_no_message(client: Any) -> None:
    key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    digest = hashlib.sha256(b"message").digest()
    signature = client.sign(
        KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    with pytest.raises(client.exceptions.KMSInvalidSignatureException) as info:
        client.verify(
            KeyId=key["KeyId"],
            Message=hashlib.sha256(b"another").digest(),
            MessageType="DIGEST",
            Signature=signature,
            SigningAlgorithm="ECDSA_SHA_256",
        )
    assert _error(info) == ("KMSInvalidSignatureException", "")


def test_an_invalid_mac_has_no_message(client: Any) -> None:
    key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    with pytest.raises(client.exceptions.KMSInvalidMacException) as info:
        client.verify_mac(
            KeyId=key["KeyId"], Message=b"m", Mac=b"\x00" * 32, MacAlgorithm="HMAC_SHA_256"
        )
    assert _error(info) == ("KMSInvalidMacException", "")


def test_a_ciphertext_that_does_not_open_has_no_message(client: Any) -> None:
    """Recorded: Decrypt without the encryption context the ciphertext was made with."""
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    blob = client.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"k": "v"})
    tampered = bytearray(blob["CiphertextBlob"])
    tampered[-1] ^= 1
    rsa = client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    for request in (
        {"CiphertextBlob": blob["CiphertextBlob"]},  # the context is missing
        {"CiphertextBlob": bytes(tampered), "EncryptionContext": {"k": "v"}},
        {"CiphertextBlob": b"\x01" * 64},  # no key named at all
        {
            "CiphertextBlob": b"\x00" * 256,
            "KeyId": rsa["KeyId"],
            "EncryptionAlgorithm": "RSAES_OAEP_SHA_256",
        },
    ):
        with pytest.raises(client.exceptions.InvalidCiphertextException) as info:
            client.decrypt(**request)
        assert _error(info) == ("InvalidCiphertextException", "")


@pytest.mark.parametrize("spec", ["HMAC_256", "RSA_2048", "ECC_NIST_P256"])
def test_create_key_needs_key_usage_except_for_symmetric_keys(client: Any, spec: str) -> None:
    with raises_code("ValidationException") as info:
        client.create_key(KeySpec=spec)
    assert _error(info)[1] == (
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    )
    assert client.list_keys()["Keys"] == []
    client.create_key(KeySpec="SYMMETRIC_DEFAULT")  # the one spec with a default usage


def test_mac_algorithm_incompatible_with_key_spec(client: Any) -> None:
    key = client.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    with pytest.raises(client.exceptions.InvalidKeyUsageException) as info:
        client.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert _error(info)[1] == "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224."


def test_signing_algorithm_incompatible_with_key_spec(client: Any) -> None:
    key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(client.exceptions.InvalidKeyUsageException) as info:
        client.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert _error(info)[1] == "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."


def test_rsa_plaintext_over_the_limit(client: Any) -> None:
    key = client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    with raises_code("ValidationException") as info:
        client.encrypt(
            KeyId=key["KeyId"], Plaintext=b"p" * 215, EncryptionAlgorithm="RSAES_OAEP_SHA_1"
        )
    assert _error(info)[1] == (
        "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than "
        "214 bytes."
    )


def test_key_arn_of_another_region(client: Any, key_id: str) -> None:
    arn = f"arn:aws:kms:ap-southeast-1:{ACCOUNT}:key/{key_id}"
    with pytest.raises(client.exceptions.NotFoundException) as info:
        client.describe_key(KeyId=arn)
    assert _error(info)[1] == "Invalid arn ap-southeast-1"


def test_key_usage_not_valid_for_the_operation(client: Any) -> None:
    key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    with pytest.raises(client.exceptions.InvalidKeyUsageException) as info:
        client.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert _error(info)[1] == (
        f"{key['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Sign."
    )
