"""Alias rules through the boto3 client (KMS.md 3.7)."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, messages
from tests.kms.principals import ACCOUNT, ALICE, BOB, raises_code


def test_alias_names_a_key_by_name_and_by_arn(client: Any, key_id: str) -> None:
    client.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    assert client.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == key_id
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"
    blob = client.encrypt(KeyId=arn, Plaintext=b"p")["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob)["KeyId"].endswith(key_id)
    (entry,) = client.list_aliases(KeyId=key_id)["Aliases"]
    assert entry["AliasName"] == "alias/app" and entry["AliasArn"] == arn
    assert entry["TargetKeyId"] == key_id


def test_duplicate_alias_already_exists(client: Any, key_id: str) -> None:
    client.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    with pytest.raises(client.exceptions.AlreadyExistsException):
        client.create_alias(AliasName="alias/app", TargetKeyId=key_id)


@pytest.mark.parametrize("name", ["alias/aws/s3", "alias/aws/mine", "alias/aws"])
def test_aws_prefix_is_reserved(client: Any, key_id: str, name: str) -> None:
    """AWS answers NotAuthorizedException with no message (recorded by moto), even to the
    account's root user: create, update and delete alike, and nothing changes."""
    with raises_code("NotAuthorizedException") as info:
        client.create_alias(AliasName=name, TargetKeyId=key_id)
    assert info.value.response["Error"]["Message"] == messages.RESERVED_ALIAS == ""
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with raises_code("NotAuthorizedException"):
        client.update_alias(AliasName=name, TargetKeyId=key_id)
    with raises_code("NotAuthorizedException"):
        client.delete_alias(AliasName=name)
    assert client.list_aliases(KeyId=key_id)["Aliases"] == []


def test_aws_managed_alias_cannot_be_moved_or_deleted(client: Any, key_id: str) -> None:
    managed = client.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"]
    with raises_code("NotAuthorizedException"):
        client.update_alias(AliasName="alias/aws/s3", TargetKeyId=key_id)
    with raises_code("NotAuthorizedException"):
        client.delete_alias(AliasName="alias/aws/s3")
    assert client.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == managed


def test_alias_name_must_start_with_alias_prefix(client: Any, key_id: str) -> None:
    with raises_code("ValidationException") as info:
        client.create_alias(AliasName="app", TargetKeyId=key_id)
    message = info.value.response["Error"]["Message"]
    assert message == messages.ALIAS_PREFIX
    assert message.endswith(
        "Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
    )


def test_unknown_alias_is_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.NotFoundException):
        client.encrypt(KeyId="alias/missing", Plaintext=b"p")


def test_update_alias_moves_it_and_delete_removes_it(client: Any, key_id: str) -> None:
    other = client.create_key()["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    client.update_alias(AliasName="alias/app", TargetKeyId=other)
    assert client.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == other
    signer = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    with raises_code("ValidationException"):  # only to a key of the same type and usage
        client.update_alias(AliasName="alias/app", TargetKeyId=signer["KeyMetadata"]["KeyId"])
    client.delete_alias(AliasName="alias/app")
    assert client.list_aliases()["Aliases"] == []


def test_alias_operations_need_permission_on_alias_and_key(
    service: KMS, client: Any, key_id: str
) -> None:
    # Alice's IAM policy allows kms:* — but only on her own alias prefix for aliases
    service.identities.add(
        __import__("kmspolicy").Identity.of(
            ALICE,
            policies=[
                '{"Version":"2012-10-17","Statement":['
                '{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/*"},'
                '{"Effect":"Allow","Action":"kms:CreateAlias",'
                '"Resource":"arn:aws:kms:*:*:alias/alice-*"}]}'
            ],
        )
    )
    alice = service.client(ALICE)
    alice.create_alias(AliasName="alias/alice-app", TargetKeyId=key_id)
    with raises_code("AccessDeniedException"):
        alice.create_alias(AliasName="alias/bob-app", TargetKeyId=key_id)
    with raises_code("AccessDeniedException"):  # no key permission at all
        service.client(BOB).create_alias(AliasName="alias/b", TargetKeyId=key_id)


def test_request_alias_condition(service: KMS, client: Any, key_id: str) -> None:
    client.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    client.put_key_policy(
        KeyId=key_id,
        Policy=(
            '{"Version":"2012-10-17","Statement":['
            f'{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},'
            '"Action":"kms:*","Resource":"*"},'
            f'{{"Effect":"Allow","Principal":{{"AWS":"{BOB}"}},"Action":"kms:Encrypt",'
            '"Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/app"}}}]}'
        ),
    )
    bob = service.client(BOB)
    bob.encrypt(KeyId="alias/app", Plaintext=b"p")
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key_id, Plaintext=b"p")
