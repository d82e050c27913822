"""AWS managed keys through the boto3 client: created on first use, usable only via the
service by principals of the account, not manageable, always rotating."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmspolicy import KMS
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.memory import MemoryStore
from tests.kms.principals import ACCOUNT, raises_code

VIA_S3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}


def test_created_by_describe_key_of_the_predefined_alias(client: Any) -> None:
    meta = client.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled"
    assert client.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == meta["KeyId"]
    aliases = client.list_aliases(KeyId=meta["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/aws/s3"]


def test_unknown_service_alias_is_not_found(client: Any) -> None:
    with raises_code("NotFoundException"):
        client.describe_key(KeyId="alias/aws/no-such-service")


def test_used_via_the_service_only(service: Any, client: Any) -> None:
    via_s3 = service.client(context=VIA_S3)
    blob = via_s3.encrypt(KeyId="alias/aws/s3", Plaintext=b"object")["CiphertextBlob"]
    assert via_s3.decrypt(CiphertextBlob=blob)["Plaintext"] == b"object"
    with raises_code("AccessDeniedException"):
        client.decrypt(CiphertextBlob=blob)  # directly, not through S3
    via_ebs = service.client(context={"kms:ViaService": "ec2.us-east-1.amazonaws.com"})
    with raises_code("AccessDeniedException"):
        via_ebs.decrypt(CiphertextBlob=blob)


def test_fixed_policy_is_readable(service: Any, client: Any) -> None:
    key_id = service.aws_managed_key("s3")["KeyId"]
    policy = json.loads(client.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    condition = policy["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {"kms:CallerAccount": ACCOUNT, **VIA_S3}


@pytest.mark.parametrize(
    "operation",
    [
        lambda c, k: c.disable_key(KeyId=k),
        lambda c, k: c.schedule_key_deletion(KeyId=k),
        lambda c, k: c.disable_key_rotation(KeyId=k),
        lambda c, k: c.put_key_policy(KeyId=k, PolicyName="default", Policy="{}"),
        lambda c, k: c.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "b"}]),
        lambda c, k: c.update_key_description(KeyId=k, Description="mine now"),
    ],
    ids=[
        "DisableKey",
        "ScheduleKeyDeletion",
        "DisableKeyRotation",
        "PutKeyPolicy",
        "TagResource",
        "UpdateKeyDescription",
    ],
)
def test_management_is_refused(service: Any, client: Any, operation: Any) -> None:
    key_id = service.aws_managed_key("s3")["KeyId"]
    with raises_code("AccessDeniedException"):
        operation(client, key_id)
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_rotates_every_year(service: Any, client: Any, clock: FakeClock) -> None:
    key_id = service.aws_managed_key("s3")["KeyId"]
    status = client.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    before = service.client(context=VIA_S3).encrypt(KeyId=key_id, Plaintext=b"y1")
    clock.advance(days=365)
    rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    via = service.client(context=VIA_S3)
    assert via.decrypt(CiphertextBlob=before["CiphertextBlob"])["Plaintext"] == b"y1"


ALLOW_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
        ],
    }
)


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        (lambda c, k: c.disable_key(KeyId=k), "AccessDeniedException"),
        (lambda c, k: c.enable_key(KeyId=k), "AccessDeniedException"),
        (lambda c, k: c.schedule_key_deletion(KeyId=k), "AccessDeniedException"),
        (lambda c, k: c.cancel_key_deletion(KeyId=k), "AccessDeniedException"),
        (lambda c, k: c.update_key_description(KeyId=k, Description="x"), "AccessDeniedException"),
        (
            lambda c, k: c.create_alias(AliasName="alias/mine", TargetKeyId=k),
            "AccessDeniedException",
        ),
        (
            lambda c, k: c.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "b"}]),
            "TagException",
        ),
        (lambda c, k: c.untag_resource(KeyId=k, TagKeys=["a"]), "TagException"),
        (
            lambda c, k: c.put_key_policy(KeyId=k, PolicyName="default", Policy=ALLOW_ALL),
            "UnsupportedOperationException",
        ),
        (lambda c, k: c.enable_key_rotation(KeyId=k), "UnsupportedOperationException"),
        (lambda c, k: c.disable_key_rotation(KeyId=k), "UnsupportedOperationException"),
        (lambda c, k: c.rotate_key_on_demand(KeyId=k), "UnsupportedOperationException"),
        (
            lambda c, k: c.get_parameters_for_import(
                KeyId=k, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
            ),
            "UnsupportedOperationException",
        ),
        (lambda c, k: c.delete_imported_key_material(KeyId=k), "UnsupportedOperationException"),
    ],
)
def test_refused_even_if_its_policy_allowed_everything(
    service: Any, client: Any, operation: Any, code: str
) -> None:
    """The wall behind the fixed policy: a policy that (somehow) allowed everything still
    leaves the key unmanageable, with the error the operation declares."""
    key_id = service.aws_managed_key("s3")["KeyId"]
    with service.store.transaction() as tx:
        record = tx.get_key(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}")
        tx.put_key(record.evolve(policy=ALLOW_ALL))
    with raises_code(code) as err:
        operation(client, key_id)
    assert "AWS managed key" in err.value.response["Error"]["Message"]
    meta = client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Description"].startswith("Default key")


class _RecordingStore:
    """A store that notes whether each transaction was opened read-only."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.root_key = self.inner.root_key
        self.opened: list[bool] = []

    def transaction(self, *, readonly: bool = False) -> Any:
        self.opened.append(readonly)
        return self.inner.transaction(readonly=readonly)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda kms: kms.client().describe_key(KeyId="alias/aws/s3"),
        lambda kms: kms.client(context=VIA_S3).get_public_key(KeyId="alias/aws/s3"),
    ],
    ids=["DescribeKey", "via-service-read"],
)
def test_creating_the_managed_key_does_not_make_the_read_writable(call: Any) -> None:
    store = _RecordingStore()
    kms = KMS(store=store, clock=FakeClock(), account=ACCOUNT)
    with contextlib.suppress(ClientError):  # GetPublicKey of a symmetric key is refused
        call(kms)
    # the read's own attempts stay read-only; the creation commits in a transaction of its own
    assert store.opened == [True, False, True]
    assert kms.client().describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyManager"] == "AWS"
