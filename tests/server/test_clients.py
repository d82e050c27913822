"""The AWS CLI and the AWS Encryption SDK, unchanged, against a real `kmspolicy serve`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.server.aws_cli import aws
from tests.server.conftest import Server

pytestmark = pytest.mark.server


def test_aws_cli_create_key_encrypt_decrypt(fresh: Server, tmp_path: Path) -> None:
    created = json.loads(aws(fresh, "create-key", "--description", "from the cli", tmp=tmp_path))
    key_id = created["KeyMetadata"]["KeyId"]
    assert created["KeyMetadata"]["Description"] == "from the cli"
    secret = tmp_path / "plain.bin"
    secret.write_bytes(b"hello from the aws cli")
    enc = json.loads(
        aws(fresh, "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{secret}", tmp=tmp_path)
    )
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = json.loads(aws(fresh, "decrypt", "--ciphertext-blob", f"fileb://{blob}", tmp=tmp_path))
    assert base64.b64decode(dec["Plaintext"]) == b"hello from the aws cli"
    assert dec["KeyId"].endswith(key_id)


def test_aws_encryption_sdk_round_trip(fresh: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import aws_encryption_sdk
    import botocore.session
    from aws_encryption_sdk import CommitmentPolicy, StrictAwsKmsMasterKeyProvider

    key_arn = fresh.client().create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", fresh.url)
    session = botocore.session.Session()
    session.set_credentials("AKIAALICE00000000001", "alice-secret")
    provider = StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=session)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    message = b"a message for the encryption sdk" * 100
    ciphertext, header = client.encrypt(
        source=message, key_provider=provider, encryption_context={"app": "interop"}
    )
    assert ciphertext != message
    assert header.encryption_context["app"] == "interop"
    plaintext, dec_header = client.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == message
    assert dec_header.encryption_context["app"] == "interop"
