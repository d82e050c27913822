"""The six custom key store operations on CloudHSM key stores: validation, connection states,
errors and authorization as the API reference describes them (SoftHSM2 tokens as clusters)."""

from __future__ import annotations

import json

import pytest

from kmspolicy import KMS
from kmspolicy.errors import ValidationException
from kmspolicy.kms.quotas import Quotas
from tests.kms.audit_log import RecordedAudit
from tests.kms.keystores.conftest import (
    CLONE,
    CLUSTER,
    NO_TOKEN,
    OTHER_CLUSTER,
    OTHER_PASSWORD,
    PASSWORD,
    connector,
    create_store,
    describe,
)
from tests.kms.principals import ACCOUNT, ALICE, BOB, MALLORY, policy, raises_code

pytestmark = pytest.mark.hsm
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


# --- CreateCustomKeyStore ----------------------------------------------------------------------


def test_a_new_store_is_disconnected_and_described_with_its_cluster(hsm_client, trust_anchor):
    store_id = create_store(hsm_client, trust_anchor)
    assert store_id.startswith("cks-") and len(store_id) == 21
    entry = describe(hsm_client, store_id)
    assert entry["CustomKeyStoreName"] == "store-one"
    assert entry["CustomKeyStoreType"] == "AWS_CLOUDHSM"
    assert entry["CloudHsmClusterId"] == CLUSTER
    assert entry["TrustAnchorCertificate"] == trust_anchor
    assert entry["ConnectionState"] == "DISCONNECTED"
    assert "ConnectionErrorCode" not in entry
    assert "KeyStorePassword" not in json.dumps(entry, default=str)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"CloudHsmClusterId": "cluster-77777777777z"}, "CloudHsmClusterNotFoundException"),
        ({"TrustAnchorCertificate": "not a certificate"}, "IncorrectTrustAnchorException"),
        (
            {"TrustAnchorCertificate": f"{BEGIN}\nAAAA\n{END}"},
            "IncorrectTrustAnchorException",
        ),
        ({"KeyStorePassword": None}, "ValidationException"),
        ({"XksProxyUriPath": "/example/kms/xks/v1"}, "ValidationException"),
    ],
)
def test_create_refuses_bad_cloudhsm_members(hsm_client, trust_anchor, changes, code) -> None:
    params = {
        "CustomKeyStoreName": "bad",
        "CloudHsmClusterId": CLUSTER,
        "TrustAnchorCertificate": trust_anchor,
        "KeyStorePassword": PASSWORD,
        **changes,
    }
    with raises_code(code):
        hsm_client.create_custom_key_store(**{k: v for k, v in params.items() if v is not None})
    assert hsm_client.describe_custom_key_stores()["CustomKeyStores"] == []


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("KeyStorePassword", "six666"),  # 7-32 characters
        ("KeyStorePassword", "p" * 33),
        ("CloudHsmClusterId", "cluster-1234"),  # cluster-[2-7a-zA-Z]{11,16}
        ("TrustAnchorCertificate", "c" * 5001),
    ],
)
def test_the_model_limits_hold(hsm_service, trust_anchor, member, value) -> None:
    params = {
        "CustomKeyStoreName": "limits",
        "CloudHsmClusterId": CLUSTER,
        "TrustAnchorCertificate": trust_anchor,
        "KeyStorePassword": PASSWORD,
        member: value,
    }
    with pytest.raises(ValidationException):
        hsm_service.create_custom_key_store(**params)


def test_names_are_unique_and_a_cluster_serves_one_store(hsm_client, trust_anchor) -> None:
    create_store(hsm_client, trust_anchor)
    with raises_code("CustomKeyStoreNameInUseException"):
        create_store(hsm_client, trust_anchor, cluster=OTHER_CLUSTER, password=OTHER_PASSWORD)
    with raises_code("CloudHsmClusterInUseException"):
        create_store(hsm_client, trust_anchor, name="again")
    with raises_code("CloudHsmClusterInUseException"):  # the same token under another id
        create_store(hsm_client, trust_anchor, name="clone", cluster=CLONE)


def test_an_external_key_store_without_its_connector_is_a_clear_error(hsm_client) -> None:
    with raises_code("UnsupportedOperationException") as info:
        hsm_client.create_custom_key_store(
            CustomKeyStoreName="xks",
            CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyUriEndpoint="https://proxy.example.com",
            XksProxyUriPath="/example/kms/xks/v1",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyAuthenticationCredential={
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
                "RawSecretAccessKey": "a" * 43,
            },
        )
    assert "EXTERNAL_KEY_STORE" in info.value.response["Error"]["Message"]


def test_the_store_quota(softhsm_conf, trust_anchor) -> None:
    service = KMS(
        account=ACCOUNT,
        quotas=Quotas(custom_key_stores_per_region=1),
        key_stores=[connector(softhsm_conf)],
    )
    client = service.client()
    create_store(client, trust_anchor)
    with raises_code("LimitExceededException"):
        create_store(client, trust_anchor, name="two", cluster=OTHER_CLUSTER)


# --- ConnectCustomKeyStore / DisconnectCustomKeyStore ------------------------------------------


def test_connect_then_disconnect(hsm_client, trust_anchor) -> None:
    store_id = create_store(hsm_client, trust_anchor)
    assert hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)["ResponseMetadata"]
    assert describe(hsm_client, store_id)["ConnectionState"] == "CONNECTED"
    hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)  # connected: a no-op
    assert describe(hsm_client, store_id)["ConnectionState"] == "CONNECTED"
    hsm_client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(hsm_client, store_id)["ConnectionState"] == "DISCONNECTED"
    with raises_code("CustomKeyStoreInvalidStateException"):
        hsm_client.disconnect_custom_key_store(CustomKeyStoreId=store_id)


@pytest.mark.parametrize(
    ("cluster", "password", "code"),
    [
        (CLUSTER, "wrong-password", "INVALID_CREDENTIALS"),
        (NO_TOKEN, PASSWORD, "CLUSTER_NOT_FOUND"),
    ],
)
def test_a_failed_connection_says_why_and_needs_a_disconnect(
    hsm_client, trust_anchor, cluster, password, code
) -> None:
    store_id = create_store(hsm_client, trust_anchor, cluster=cluster, password=password)
    hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = describe(hsm_client, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == ("FAILED", code)
    with raises_code("CustomKeyStoreInvalidStateException"):  # FAILED: disconnect first
        hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)
    with raises_code("CustomKeyStoreInvalidStateException"):
        hsm_client.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    hsm_client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    entry = describe(hsm_client, store_id)
    assert entry["ConnectionState"] == "DISCONNECTED" and "ConnectionErrorCode" not in entry


def test_a_wrong_password_fails_even_while_the_token_is_logged_in(
    hsm_client, trust_anchor, softhsm_conf
) -> None:
    good = create_store(hsm_client, trust_anchor)
    hsm_client.connect_custom_key_store(CustomKeyStoreId=good)
    other = KMS(account="999988887777", key_stores=[connector(softhsm_conf)])
    try:
        client = other.client()
        bad = create_store(client, trust_anchor, password="not-the-pin")
        client.connect_custom_key_store(CustomKeyStoreId=bad)
        assert describe(client, bad)["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    finally:
        other.close()


def test_unknown_stores_are_not_found(hsm_client) -> None:
    for call in (
        hsm_client.connect_custom_key_store,
        hsm_client.disconnect_custom_key_store,
        hsm_client.delete_custom_key_store,
        hsm_client.update_custom_key_store,
        hsm_client.describe_custom_key_stores,
    ):
        with raises_code("CustomKeyStoreNotFoundException"):
            call(CustomKeyStoreId="cks-1234567890abcdef0")


# --- DescribeCustomKeyStores -------------------------------------------------------------------


def test_describe_filters_by_id_or_name_and_pages(hsm_client, trust_anchor) -> None:
    one = create_store(hsm_client, trust_anchor)
    two = create_store(hsm_client, trust_anchor, name="two", cluster=OTHER_CLUSTER)
    everything = hsm_client.describe_custom_key_stores()["CustomKeyStores"]
    assert sorted(s["CustomKeyStoreId"] for s in everything) == sorted([one, two])
    named = hsm_client.describe_custom_key_stores(CustomKeyStoreName="two")["CustomKeyStores"]
    assert [s["CustomKeyStoreId"] for s in named] == [two]
    with raises_code("CustomKeyStoreNotFoundException"):
        hsm_client.describe_custom_key_stores(CustomKeyStoreName="three")
    first = hsm_client.describe_custom_key_stores(Limit=1)
    assert first["Truncated"] is True and len(first["CustomKeyStores"]) == 1
    rest = hsm_client.describe_custom_key_stores(Limit=1, Marker=first["NextMarker"])
    assert rest["Truncated"] is False
    ids = {
        first["CustomKeyStores"][0]["CustomKeyStoreId"],
        rest["CustomKeyStores"][0]["CustomKeyStoreId"],
    }
    assert ids == {one, two}
    with raises_code("InvalidMarkerException"):
        hsm_client.describe_custom_key_stores(Marker="garbage!")


# --- UpdateCustomKeyStore ----------------------------------------------------------------------


def test_update_while_connected_renames_only(hsm_client, trust_anchor) -> None:
    store_id = create_store(hsm_client, trust_anchor)
    hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)
    hsm_client.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
    assert describe(hsm_client, store_id)["CustomKeyStoreName"] == "renamed"
    with raises_code("CustomKeyStoreInvalidStateException"):
        hsm_client.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="another-1")
    with raises_code("CustomKeyStoreInvalidStateException"):
        hsm_client.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=CLONE)


def test_update_while_disconnected(hsm_client, trust_anchor) -> None:
    store_id = create_store(hsm_client, trust_anchor, password="wrong-password")
    create_store(hsm_client, trust_anchor, name="taken", cluster=OTHER_CLUSTER)
    with raises_code("CustomKeyStoreNameInUseException"):
        hsm_client.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="taken")
    with raises_code("CloudHsmClusterNotRelatedException"):  # another token
        hsm_client.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=NO_TOKEN)
    with raises_code("CloudHsmClusterNotFoundException"):
        hsm_client.update_custom_key_store(
            CustomKeyStoreId=store_id, CloudHsmClusterId="cluster-77777777777z"
        )
    hsm_client.update_custom_key_store(
        CustomKeyStoreId=store_id, CloudHsmClusterId=CLONE, KeyStorePassword=PASSWORD
    )
    assert describe(hsm_client, store_id)["CloudHsmClusterId"] == CLONE
    hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)  # the new password works
    assert describe(hsm_client, store_id)["ConnectionState"] == "CONNECTED"


# --- DeleteCustomKeyStore ----------------------------------------------------------------------


def test_delete_needs_a_disconnected_store_without_keys(hsm_service, hsm_client, trust_anchor):
    store_id = create_store(hsm_client, trust_anchor)
    hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)
    key_id = hsm_client.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"][
        "KeyId"
    ]
    with raises_code("CustomKeyStoreInvalidStateException"):
        hsm_client.delete_custom_key_store(CustomKeyStoreId=store_id)
    hsm_client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    hsm_client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with raises_code("CustomKeyStoreHasCMKsException"):  # pending deletion still counts
        hsm_client.delete_custom_key_store(CustomKeyStoreId=store_id)
    hsm_service.clock.advance(days=8)
    hsm_service.sweep()
    hsm_client.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert hsm_client.describe_custom_key_stores()["CustomKeyStores"] == []


# --- authorization: account-level actions, IAM policies alone ----------------------------------


def test_identity_policies_decide_and_other_accounts_see_nothing(hsm_service, trust_anchor):
    root = hsm_service.client()
    store_id = create_store(root, trust_anchor)
    bob = hsm_service.client(BOB)  # no identity policy
    with raises_code("AccessDeniedException"):
        bob.describe_custom_key_stores()
    with raises_code("AccessDeniedException"):
        bob.connect_custom_key_store(CustomKeyStoreId=store_id)
    alice = hsm_service.client(ALICE)  # kms:* in her account
    assert [
        s["CustomKeyStoreId"] for s in alice.describe_custom_key_stores()["CustomKeyStores"]
    ] == [store_id]
    mallory = hsm_service.client(MALLORY)  # kms:* in another account
    assert mallory.describe_custom_key_stores()["CustomKeyStores"] == []
    with raises_code("CustomKeyStoreNotFoundException"):
        mallory.connect_custom_key_store(CustomKeyStoreId=store_id)


def test_a_deny_on_one_action_is_honoured(softhsm_conf, trust_anchor) -> None:
    from kmspolicy import Identities, Identity

    deny_create = policy(
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:CreateCustomKeyStore", "Resource": "*"},
    )
    service = KMS(
        account=ACCOUNT,
        identities=Identities([Identity.of(ALICE, policies=[deny_create])]),
        key_stores=[connector(softhsm_conf)],
    )
    with raises_code("AccessDeniedException"):
        create_store(service.client(ALICE), trust_anchor)
    assert service.client(ALICE).describe_custom_key_stores()["CustomKeyStores"] == []


# --- audit: every decision, never the password -------------------------------------------------


def test_every_operation_is_audited_and_no_record_holds_the_password(softhsm_conf, trust_anchor):
    log = RecordedAudit()
    service = KMS(account=ACCOUNT, audit=log, key_stores=[connector(softhsm_conf)])
    try:
        client = service.client()
        store_id = create_store(client, trust_anchor)
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        client.describe_custom_key_stores()
        client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        client.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="new-password")
        client.delete_custom_key_store(CustomKeyStoreId=store_id)
    finally:
        service.close()
    calls = [(r.operation, r.event, r.actions) for r in log.records]
    assert calls == [
        ("CreateCustomKeyStore", "AwsApiCall", ("kms:CreateCustomKeyStore",)),
        ("ConnectCustomKeyStore", "AwsApiCall", ("kms:ConnectCustomKeyStore",)),
        ("ConnectCustomKeyStore", "AwsServiceEvent", ()),  # the outcome of the attempt
        ("DescribeCustomKeyStores", "AwsApiCall", ("kms:DescribeCustomKeyStores",)),
        ("DisconnectCustomKeyStore", "AwsApiCall", ("kms:DisconnectCustomKeyStore",)),
        ("UpdateCustomKeyStore", "AwsApiCall", ("kms:UpdateCustomKeyStore",)),
        ("DeleteCustomKeyStore", "AwsApiCall", ("kms:DeleteCustomKeyStore",)),
    ]
    assert log.records[2].context == {"connectionState": "CONNECTED"}
    assert all(r.allowed for r in log.records)
    text = repr(log.records)
    assert PASSWORD not in text and "new-password" not in text


def test_the_password_is_stored_sealed(hsm_service: KMS, trust_anchor: str) -> None:
    client = hsm_service.client()
    store_id = create_store(client, trust_anchor)
    with hsm_service.store.transaction(readonly=True) as tx:
        record = tx.get_custom_key_store(store_id)
    assert record is not None
    assert PASSWORD.encode() not in record.sealed_credential
    assert PASSWORD not in repr(record)
    assert (
        hsm_service.store.root_key.unseal(
            record.sealed_credential,
            b"kmspolicy/custom-key-store-credential/v1\x00" + store_id.encode(),
        )
        == PASSWORD.encode()
    )
