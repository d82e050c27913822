"""Symmetric encryption through the boto3 client: round trips, blob tamper, context, limits."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# keys that differ only in case are refused (tests/kms/test_case_twins.py), so none are drawn
_contexts = st.dictionaries(
    st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=5
).filter(lambda ec: len({k.lower() for k in ec}) == len(ec))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plaintext=st.binary(min_size=1, max_size=4096), context=_contexts)
def test_round_trip_any_size_and_context(
    client: Any, key_id: str, plaintext: bytes, context: dict[str, str]
) -> None:
    out = client.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)
    back = client.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=context)
    assert back["Plaintext"] == plaintext
    assert back["KeyId"] == out["KeyId"]
    assert back["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"


def test_plaintext_of_4097_bytes_is_a_validation_error(client: Any, key_id: str) -> None:
    with pytest.raises(ClientError) as err:
        client.encrypt(KeyId=key_id, Plaintext=b"x" * 4097)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 4096" in err.value.response["Error"]["Message"]


def test_every_single_byte_flip_is_an_invalid_ciphertext(client: Any, key_id: str) -> None:
    blob = client.encrypt(KeyId=key_id, Plaintext=b"attack at dawn", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    for i in range(len(blob)):
        tampered = blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :]
        with pytest.raises(client.exceptions.InvalidCiphertextException):
            client.decrypt(CiphertextBlob=tampered, EncryptionContext={"a": "b"})


@pytest.mark.parametrize(
    "wrong",
    [None, {"a": "B"}, {"A": "b"}, {"a": "b", "c": "d"}, {}],
    ids=["absent", "value-case", "key-case", "extra-pair", "empty"],
)
def test_wrong_encryption_context_is_an_invalid_ciphertext(
    client: Any, key_id: str, wrong: dict[str, str] | None
) -> None:
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    kwargs = {} if wrong is None else {"EncryptionContext": wrong}
    with pytest.raises(client.exceptions.InvalidCiphertextException):
        client.decrypt(CiphertextBlob=blob, **kwargs)


def test_key_id_naming_another_key_is_incorrect_key(client: Any, key_id: str) -> None:
    other = client.create_key()["KeyMetadata"]["KeyId"]
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(client.exceptions.IncorrectKeyException):
        client.decrypt(CiphertextBlob=blob, KeyId=other)
    assert client.decrypt(CiphertextBlob=blob, KeyId=key_id)["Plaintext"] == b"p"


def test_reencrypt_moves_ciphertext_to_another_key_and_context(client: Any, key_id: str) -> None:
    other = client.create_key()["KeyMetadata"]["Arn"]
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"x": "1"})[
        "CiphertextBlob"
    ]
    out = client.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"x": "1"},
        DestinationKeyId=other,
        DestinationEncryptionContext={"y": "2"},
    )
    assert out["KeyId"] == other and out["SourceKeyId"].endswith(key_id)
    back = client.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"y": "2"})
    assert back["Plaintext"] == b"p" and back["KeyId"] == other


def test_data_key_decrypts_to_its_plaintext(client: Any, key_id: str) -> None:
    out = client.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"f": "g"})
    assert len(out["Plaintext"]) == 32
    back = client.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"f": "g"})
    assert back["Plaintext"] == out["Plaintext"]
    bare = client.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=7)
    assert "Plaintext" not in bare
    assert len(client.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 7


def test_data_key_needs_exactly_one_of_key_spec_and_number_of_bytes(
    client: Any, key_id: str
) -> None:
    with pytest.raises(client.exceptions.ClientError) as err:
        client.generate_data_key(KeyId=key_id, KeySpec="AES_256", NumberOfBytes=32)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_dry_run_reports_success_without_encrypting(client: Any, key_id: str) -> None:
    with pytest.raises(client.exceptions.DryRunOperationException):
        client.encrypt(KeyId=key_id, Plaintext=b"p", DryRun=True)


def test_disabled_key_refuses_encrypt_until_enabled(client: Any, key_id: str) -> None:
    client.disable_key(KeyId=key_id)
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(client.exceptions.DisabledException):
        client.encrypt(KeyId=key_id, Plaintext=b"p")
    client.enable_key(KeyId=key_id)
    client.encrypt(KeyId=key_id, Plaintext=b"p")


def test_generate_random_bounds(client: Any) -> None:
    assert len(client.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    with pytest.raises(ClientError) as err:
        client.generate_random(NumberOfBytes=1025)
    assert err.value.response["Error"]["Code"] == "ValidationException"
