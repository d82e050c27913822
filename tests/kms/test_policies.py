"""Key policies: default policy, PutKeyPolicy, the lockout safety check, size and syntax."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmspolicy import KMS
from tests.kms.principals import ACCOUNT, ALICE, BOB, policy, raises_code

ROOT_ONLY = policy(
    {
        "Sid": "root",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
)
BOB_ENCRYPT_ONLY = policy(
    {"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:Encrypt", "Resource": "*"}
)


def test_default_policy_delegates_to_the_account(client: Any, key_id: str) -> None:
    text = client.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    doc = json.loads(text)
    (stmt,) = doc["Statement"]
    assert stmt["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert stmt["Action"] == "kms:*"
    assert client.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]


def test_iam_user_works_through_delegation_only_with_identity_policy(
    service: KMS, key_id: str
) -> None:
    service.client(ALICE).encrypt(KeyId=key_id, Plaintext=b"p")  # kms:* in her IAM policy
    with raises_code("AccessDeniedException") as err:
        service.client(BOB).encrypt(KeyId=key_id, Plaintext=b"p")  # no IAM policy
    message = err.value.response["Error"]["Message"]
    assert message.startswith(f"User: {BOB} is not authorized to perform: kms:Encrypt")
    assert "Statement" not in message and "kms:*" not in message  # no policy text leaks


def test_lockout_check_refuses_a_policy_that_locks_the_caller_out(client: Any, key_id: str) -> None:
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException) as err:
        client.put_key_policy(KeyId=key_id, PolicyName="default", Policy=BOB_ENCRYPT_ONLY)
    assert "will not allow you to update the key policy" in str(err.value)
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.create_key(Policy=BOB_ENCRYPT_ONLY)
    client.put_key_policy(KeyId=key_id, Policy=ROOT_ONLY)  # keeps the caller in: accepted


def test_bypass_skips_the_lockout_check(client: Any, key_id: str) -> None:
    client.put_key_policy(
        KeyId=key_id, Policy=BOB_ENCRYPT_ONLY, BypassPolicyLockoutSafetyCheck=True
    )
    with raises_code("AccessDeniedException"):
        client.describe_key(KeyId=key_id)


def test_malformed_and_oversized_policies(client: Any, key_id: str) -> None:
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.put_key_policy(KeyId=key_id, Policy='{"Statement": [}')
    no_principal = policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.put_key_policy(KeyId=key_id, Policy=no_principal)
    big = json.loads(ROOT_ONLY)
    big["Statement"][0]["Sid"] = "x" * 33_000
    with pytest.raises(client.exceptions.LimitExceededException):
        client.put_key_policy(KeyId=key_id, Policy=json.dumps(big))


def test_policy_name_must_be_default(client: Any, key_id: str) -> None:
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_key_policy(KeyId=key_id, PolicyName="other")


def test_tags_drive_abac_in_identity_policies(service: KMS, client: Any) -> None:
    from kmspolicy import Identity

    service.identities.add(
        Identity.of(
            BOB,
            policies=[
                policy(
                    {
                        "Effect": "Allow",
                        "Action": "kms:Encrypt",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}},
                    }
                )
            ],
        )
    )
    blue = client.create_key(Tags=[{"TagKey": "team", "TagValue": "blue"}])["KeyMetadata"]["KeyId"]
    red = client.create_key(Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    bob = service.client(BOB)
    bob.encrypt(KeyId=blue, Plaintext=b"p")
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=red, Plaintext=b"p")
    client.tag_resource(KeyId=red, Tags=[{"TagKey": "team", "TagValue": "blue"}])
    bob.encrypt(KeyId=red, Plaintext=b"p")
    client.untag_resource(KeyId=red, TagKeys=["team"])
    assert client.list_resource_tags(KeyId=red)["Tags"] == []
    with pytest.raises(client.exceptions.TagException):
        client.tag_resource(KeyId=red, Tags=[{"TagKey": "aws:x", "TagValue": "y"}])


def test_via_service_condition_from_the_client_context(service: KMS, client: Any) -> None:
    via = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": BOB},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        },
    )
    key = client.create_key(Policy=via)["KeyMetadata"]["KeyId"]
    through_s3 = service.client(BOB, context={"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    through_s3.encrypt(KeyId=key, Plaintext=b"p")
    with raises_code("AccessDeniedException"):
        service.client(BOB).encrypt(KeyId=key, Plaintext=b"p")


def test_dry_run_still_needs_authorization(service: KMS, client: Any, key_id: str) -> None:
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    with raises_code("AccessDeniedException"):
        service.client(BOB).decrypt(CiphertextBlob=blob, DryRun=True)
    with pytest.raises(client.exceptions.DryRunOperationException):
        client.decrypt(
            KeyId=key_id,
            CiphertextBlob=b"ignored",
            DryRun=True,
            DryRunModifiers=["IGNORE_CIPHERTEXT"],
        )


def test_time_conditions_follow_the_clock(service: KMS, client: Any, clock: Any) -> None:
    until = clock.now().replace(year=clock.now().year + 1)
    timed = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": BOB},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {
                "DateLessThan": {"aws:CurrentTime": until.strftime("%Y-%m-%dT%H:%M:%SZ")}
            },
        },
    )
    key = client.create_key(Policy=timed)["KeyMetadata"]["KeyId"]
    bob = service.client(BOB)
    bob.encrypt(KeyId=key, Plaintext=b"p")
    bob.encrypt(KeyId=key, Plaintext=b"p")  # same question twice: memoized or not, same answer
    clock.advance(days=400)
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key, Plaintext=b"p")


def test_policy_change_takes_effect_on_the_next_request(
    service: KMS, client: Any, key_id: str
) -> None:
    alice = service.client(ALICE)
    alice.encrypt(KeyId=key_id, Plaintext=b"p")
    client.put_key_policy(
        KeyId=key_id,
        Policy=ROOT_ONLY.replace("kms:*", "kms:*Policy*"),
        BypassPolicyLockoutSafetyCheck=True,
    )
    with raises_code("AccessDeniedException"):
        alice.encrypt(KeyId=key_id, Plaintext=b"p")
