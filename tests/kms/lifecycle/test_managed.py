"""AWS managed keys: created once per service, fixed policy, yearly rotation, not manageable."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kmspolicy.errors import (
    AccessDeniedException,
    NotFoundException,
    TagException,
    UnsupportedOperationException,
)
from kmspolicy.kms.implemented import load_operations
from kmspolicy.kms.lifecycle import managed
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.model import KeyManagerType

from .conftest import ACCOUNT, KERNEL, REGION, T0


def test_created_once_per_service() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        first = managed.ensure_aws_managed_key(
            tx, account=ACCOUNT, region=REGION, service="s3", now=T0, kernel=KERNEL
        )
        again = managed.ensure_aws_managed_key(
            tx, account=ACCOUNT, region=REGION, service="s3", now=T0, kernel=KERNEL
        )
        alias = tx.get_alias(f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3")
    assert first.key_id == again.key_id
    assert alias is not None and alias.target_key_id == first.key_id
    assert first.key_manager is KeyManagerType.AWS
    assert first.rotation_enabled and first.next_rotation_date == T0 + timedelta(days=365)


def test_unknown_service_alias_is_not_found() -> None:
    with MemoryStore().transaction() as tx, pytest.raises(NotFoundException):
        managed.ensure_aws_managed_key(
            tx, account=ACCOUNT, region=REGION, service="nope", now=T0, kernel=KERNEL
        )


def test_policy_allows_use_only_via_the_service_in_the_account() -> None:
    policy = json.loads(managed.managed_key_policy(ACCOUNT, REGION, "ebs"))
    use, meta = policy["Statement"]
    assert use["Principal"] == {"AWS": "*"}
    assert use["Condition"]["StringEquals"] == {
        "kms:CallerAccount": ACCOUNT,
        "kms:ViaService": f"ec2.{REGION}.amazonaws.com",
    }
    assert meta["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "kms:PutKeyPolicy" not in meta["Action"]


@pytest.mark.parametrize(
    ("via", "service"),
    [
        ("s3.us-east-1.amazonaws.com", "s3"),
        ("ec2.eu-west-1.amazonaws.com", "ebs"),
        ("unknown.us-east-1.amazonaws.com", None),
        ("not a host", None),
    ],
)
def test_service_for_via(via: str, service: str | None) -> None:
    assert managed.service_for_via(via) == service


def test_service_for_alias() -> None:
    assert managed.service_for_alias("alias/aws/s3") == "s3"
    assert managed.service_for_alias("alias/aws/unknown") is None
    assert managed.service_for_alias("alias/s3") is None


# What AWS refuses on AWS managed keys, declared in the operation table: UnsupportedOperation
# where the model lists it for the operation, TagException for tags, else AccessDenied (what the
# fixed key policy answers anyway).
REFUSED = {
    "CancelKeyDeletion": AccessDeniedException,
    "CreateAlias": AccessDeniedException,
    "DeleteAlias": AccessDeniedException,
    "DeleteImportedKeyMaterial": UnsupportedOperationException,
    "DisableKey": AccessDeniedException,
    "DisableKeyRotation": UnsupportedOperationException,
    "EnableKey": AccessDeniedException,
    "EnableKeyRotation": UnsupportedOperationException,
    "GetParametersForImport": UnsupportedOperationException,
    "ImportKeyMaterial": UnsupportedOperationException,
    "PutKeyPolicy": UnsupportedOperationException,
    "RotateKeyOnDemand": UnsupportedOperationException,
    "ScheduleKeyDeletion": AccessDeniedException,
    "TagResource": TagException,
    "UntagResource": TagException,
    "UpdateAlias": AccessDeniedException,
    "UpdateKeyDescription": AccessDeniedException,
}


def test_management_operations_declare_their_refusal() -> None:
    operations = load_operations()
    with MemoryStore().transaction() as tx:
        key = managed.ensure_aws_managed_key(
            tx, account=ACCOUNT, region=REGION, service="s3", now=T0, kernel=KERNEL
        )
    for name, op in operations.items():
        assert op.refuse_aws_managed is REFUSED.get(name), name
        if name in REFUSED:
            with pytest.raises(REFUSED[name], match="AWS managed key"):
                op.check_key(key)
    operations["DescribeKey"].check_key(key)
    operations["GetKeyRotationStatus"].check_key(key)
