"""Scheduled deletion through the boto3 client, with the clock moved past the window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kmspolicy.kms.clock import FakeClock
from tests.kms.principals import ALICE, raises_code


def test_deletion_after_the_window_leaves_nothing(
    service: Any, client: Any, key_id: str, clock: FakeClock
) -> None:
    blob = client.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    client.create_alias(AliasName="alias/doomed", TargetKeyId=key_id)
    client.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])
    out = client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7
    assert out["DeletionDate"] == clock.now() + timedelta(days=7)
    meta = client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["Enabled"] is False
    with raises_code("KMSInvalidStateException") as err:
        client.decrypt(CiphertextBlob=blob)
    assert "is pending deletion." in err.value.response["Error"]["Message"]

    clock.advance(days=7)
    with raises_code("NotFoundException"):
        client.describe_key(KeyId=key_id)
    with raises_code("InvalidCiphertextException"):
        client.decrypt(CiphertextBlob=blob)
    assert [a["AliasName"] for a in client.list_aliases()["Aliases"]].count("alias/doomed") == 0
    with service.store.transaction() as tx:
        assert all(k.key_id != key_id for k in tx.iter_all_keys())
        assert list(tx.list_grants(meta["Arn"])) == []


def test_key_survives_until_the_last_second(client: Any, key_id: str, clock: FakeClock) -> None:
    client.schedule_key_deletion(KeyId=key_id)  # default window: 30 days
    clock.advance(days=29, hours=23, minutes=59)
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.advance(minutes=1)
    with raises_code("NotFoundException"):
        client.describe_key(KeyId=key_id)


@pytest.mark.parametrize("days", [6, 31])
def test_window_outside_7_to_30(client: Any, key_id: str, days: int) -> None:
    with raises_code("ValidationException"):
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)


def test_cancel_returns_the_key_disabled(client: Any, key_id: str) -> None:
    blob = client.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with raises_code("KMSInvalidStateException"):
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    client.cancel_key_deletion(KeyId=key_id)
    meta = client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and "DeletionDate" not in meta
    with raises_code("DisabledException"):
        client.decrypt(CiphertextBlob=blob)
    client.enable_key(KeyId=key_id)
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_cancel_of_a_key_not_pending_deletion(client: Any, key_id: str) -> None:
    with raises_code("KMSInvalidStateException") as err:
        client.cancel_key_deletion(KeyId=key_id)
    assert "is not pending deletion." in err.value.response["Error"]["Message"]


def test_pending_deletion_refuses_management(client: Any, key_id: str) -> None:
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    for call in (
        lambda: client.enable_key(KeyId=key_id),
        lambda: client.enable_key_rotation(KeyId=key_id),
        lambda: client.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "b"}]),
        lambda: client.create_alias(AliasName="alias/late", TargetKeyId=key_id),
    ):
        with raises_code("KMSInvalidStateException"):
            call()
    client.get_key_policy(KeyId=key_id, PolicyName="default")  # reads still work
