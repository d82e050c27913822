"""Cross-account use (two accounts, both sides must allow) and regional isolation of keys."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.server.conftest import BOB, Server

pytestmark = pytest.mark.server


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_cross_account_needs_the_key_policy_to_allow_the_other_account(fresh: Server) -> None:
    alice, bob = fresh.client(), fresh.client(BOB)
    key = alice.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as denied:
        bob.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert error_code(denied) == "AccessDeniedException"

    policy = json.loads(alice.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "AllowBobsAccount",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        }
    )
    alice.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    blob = bob.encrypt(KeyId=key["Arn"], Plaintext=b"shared")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    # the blob names its key: Bob may name it too (key ARN) or not at all, as in AWS
    assert bob.decrypt(CiphertextBlob=blob, KeyId=key["Arn"])["Plaintext"] == b"shared"
    assert bob.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    # a bare key id names a key of the caller's own account, not alice's
    with pytest.raises(ClientError) as missing:
        bob.describe_key(KeyId=key["KeyId"])
    assert error_code(missing) == "NotFoundException"
    # operations that never work across accounts stay refused
    with pytest.raises(ClientError) as refused:
        bob.disable_key(KeyId=key["Arn"])
    assert error_code(refused) in ("AccessDeniedException", "NotFoundException")


def test_a_key_belongs_to_the_creators_account(fresh: Server) -> None:
    key = fresh.client(BOB).create_key()["KeyMetadata"]
    assert key["AWSAccountId"] == "222222222222"
    assert key["Arn"].startswith("arn:aws:kms:us-east-1:222222222222:key/")
    assert key["KeyId"] not in [k["KeyId"] for k in fresh.client().list_keys()["Keys"]]


def test_keys_are_regional(fresh: Server) -> None:
    east, west = fresh.client(region="us-east-1"), fresh.client(region="eu-west-1")
    key = east.create_key()["KeyMetadata"]
    east.create_alias(AliasName="alias/regional", TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as by_id:
        west.describe_key(KeyId=key["KeyId"])
    assert error_code(by_id) == "NotFoundException"
    with pytest.raises(ClientError):
        west.encrypt(KeyId="alias/regional", Plaintext=b"x")
    assert key["KeyId"] not in [k["KeyId"] for k in west.list_keys()["Keys"]]
    west_key = west.create_key()["KeyMetadata"]
    assert west_key["Arn"].startswith("arn:aws:kms:eu-west-1:111111111111:key/")
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"east")["CiphertextBlob"]
    with pytest.raises(ClientError):
        west.decrypt(CiphertextBlob=blob)
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"east"


def test_a_region_that_is_not_served_is_refused_before_anything_runs(fresh: Server) -> None:
    """Issue 12 item 6: every region string in a SigV4 scope used to get a service instance of
    its own (no cap). Regions not served answer what AWS answers for a bad credential scope."""
    for region in ("moon-base-1", "us-east-1x", "cn-north-1"):
        with pytest.raises(ClientError) as refused:
            fresh.client(region=region).list_keys()
        assert error_code(refused) == "InvalidSignatureException"
        message = refused.value.response["Error"]["Message"]
        assert message.startswith(f"Credential should be scoped to a valid region, not '{region}'")
    assert fresh.client(region="ap-southeast-7").list_keys()["Keys"] == []  # a standard one
