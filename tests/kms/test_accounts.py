"""Accounts: keys of one account are invisible to another unless both sides allow."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS
from tests.kms.principals import ACCOUNT, BOB, MALLORY, OTHER_ACCOUNT, policy, raises_code


def test_keys_of_one_account_are_invisible_to_another(
    service: KMS, client: Any, key_id: str
) -> None:
    other = service.client(f"arn:aws:iam::{OTHER_ACCOUNT}:root")
    assert other.list_keys()["Keys"] == []
    with pytest.raises(other.exceptions.NotFoundException):
        other.describe_key(KeyId=key_id)  # a bare key id names a key of the caller's account
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    with raises_code("AccessDeniedException"):
        other.describe_key(KeyId=arn)
    with raises_code("AccessDeniedException"):
        other.encrypt(KeyId=arn, Plaintext=b"p")
    mine = other.create_key()["KeyMetadata"]
    assert mine["AWSAccountId"] == OTHER_ACCOUNT
    assert [k["KeyId"] for k in client.list_keys()["Keys"]] == [key_id]


def test_cross_account_use_needs_key_policy_and_caller_iam(service: KMS, client: Any) -> None:
    shared = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:PutKeyPolicy"],
            "Resource": "*",
        },
    )
    arn = client.create_key(Policy=shared)["KeyMetadata"]["Arn"]
    mallory = service.client(MALLORY)  # kms:* in her own account's IAM
    blob = mallory.encrypt(KeyId=arn, Plaintext=b"p")["CiphertextBlob"]
    assert mallory.decrypt(CiphertextBlob=blob, KeyId=arn)["Plaintext"] == b"p"
    with raises_code("AccessDeniedException"):  # not a cross-account operation
        mallory.put_key_policy(KeyId=arn, Policy=shared)
    nobody = service.client(f"arn:aws:iam::{OTHER_ACCOUNT}:user/nobody")  # no IAM policy
    with raises_code("AccessDeniedException"):
        nobody.encrypt(KeyId=arn, Plaintext=b"p")


def test_account_parameter_must_be_an_account_id() -> None:
    with pytest.raises(ValueError):
        KMS(account="not-an-account")


def test_cross_account_decrypt_and_reencrypt_without_key_id(service: KMS, client: Any) -> None:
    shared = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*"],
            "Resource": "*",
        },
    )
    arn = client.create_key(Policy=shared)["KeyMetadata"]["Arn"]
    blob = client.encrypt(KeyId=arn, Plaintext=b"p")["CiphertextBlob"]
    mallory = service.client(MALLORY)  # kms:* in her own account's IAM
    # the blob names only the key id: the key is found across accounts, then authorized
    out = mallory.decrypt(CiphertextBlob=blob)
    assert (out["Plaintext"], out["KeyId"]) == (b"p", arn)
    hers = mallory.create_key()["KeyMetadata"]["Arn"]
    moved = mallory.re_encrypt(CiphertextBlob=blob, DestinationKeyId=hers)
    assert moved["SourceKeyId"] == arn and moved["KeyId"] == hers
    assert mallory.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"p"

    # authorization still applies: a key whose policy does not admit the other account
    private = client.create_key()["KeyMetadata"]["Arn"]
    secret = client.encrypt(KeyId=private, Plaintext=b"s")["CiphertextBlob"]
    with raises_code("AccessDeniedException"):
        mallory.decrypt(CiphertextBlob=secret)
    with raises_code("AccessDeniedException"):
        mallory.re_encrypt(CiphertextBlob=secret, DestinationKeyId=hers)
    # a key of another Region is not found from this one's blob header
    west = KMS(store=service.store, region="eu-west-1", identities=service.identities)
    west = west.client(MALLORY)
    with raises_code("InvalidCiphertextException"):
        west.decrypt(CiphertextBlob=blob)


def test_denial_through_another_accounts_alias_does_not_name_the_key(
    service: KMS, client: Any, key_id: str
) -> None:
    """Issue 12 item 11: mallory named account A's alias ARN and the denial told her the key
    behind it. AWS words such denials "on this resource"."""
    client.create_alias(AliasName="alias/payroll", TargetKeyId=key_id)
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/payroll"
    mallory = service.client(MALLORY)
    for call in (
        lambda: mallory.encrypt(KeyId=alias_arn, Plaintext=b"p"),
        lambda: mallory.describe_key(KeyId=alias_arn),
        lambda: mallory.generate_data_key(KeyId=alias_arn, KeySpec="AES_256"),
    ):
        with raises_code("AccessDeniedException") as info:
            call()
        message = info.value.response["Error"]["Message"]
        assert key_id not in message and "on this resource" in message, message
    # by key ARN, or inside the key's own account, the denial names the key as before
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    with raises_code("AccessDeniedException") as info:
        mallory.encrypt(KeyId=arn, Plaintext=b"p")
    assert arn in info.value.response["Error"]["Message"]
    with raises_code("AccessDeniedException") as info:
        service.client(BOB).encrypt(KeyId="alias/payroll", Plaintext=b"p")
    assert key_id in info.value.response["Error"]["Message"]
