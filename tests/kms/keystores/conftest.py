"""Fixtures of the custom key store tests: CloudHSM clusters over the session's SoftHSM2 tokens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS, Identities
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.keystores import CloudHsmConnector

sys.path.insert(0, str(Path(__file__).parents[2]))  # tests/ is not a package
from softhsm_tokens import SOFTHSM_MODULE, SOFTHSM_TOKENS

from tests.kms.principals import ACCOUNT

pytestmark = pytest.mark.hsm

CLUSTER = "cluster-234567abcdef"  # token ks-one
CLONE = "cluster-aaaaaabbbbbb"  # ks-one again: shares CLUSTER's backup history
OTHER_CLUSTER = "cluster-zzzzzz222222"  # token ks-two
NO_TOKEN = "cluster-nnnnnnnnnnnn"  # configured, but its token does not exist
PASSWORD = SOFTHSM_TOKENS["ks-one"]
OTHER_PASSWORD = SOFTHSM_TOKENS["ks-two"]


def token_uri(token: str) -> str:
    return f"pkcs11:module={SOFTHSM_MODULE};token={token}"


CLUSTERS = {
    CLUSTER: token_uri("ks-one"),
    CLONE: token_uri("ks-one"),
    OTHER_CLUSTER: token_uri("ks-two"),
    NO_TOKEN: token_uri("no-such-token"),
}


def connector(softhsm_conf: Path) -> CloudHsmConnector:
    from kmspolicy.store.pkcs11_cluster import Pkcs11Cluster

    return CloudHsmConnector({cid: Pkcs11Cluster(cid, uri) for cid, uri in CLUSTERS.items()})


@pytest.fixture
def hsm_service(softhsm_conf: Path, clock: FakeClock, identities: Identities) -> Iterator[KMS]:
    service = KMS(
        clock=clock,
        account=ACCOUNT,
        identities=identities,
        key_stores=[connector(softhsm_conf)],
    )
    yield service
    service.close()


@pytest.fixture
def hsm_client(hsm_service: KMS) -> Any:
    return hsm_service.client()


def create_store(
    client: Any,
    trust_anchor: str,
    name: str = "store-one",
    cluster: str = CLUSTER,
    password: str = PASSWORD,
) -> str:
    return str(
        client.create_custom_key_store(
            CustomKeyStoreName=name,
            CloudHsmClusterId=cluster,
            TrustAnchorCertificate=trust_anchor,
            KeyStorePassword=password,
        )["CustomKeyStoreId"]
    )


def describe(client: Any, store_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = client.describe_custom_key_stores(CustomKeyStoreId=store_id)[
        "CustomKeyStores"
    ][0]
    return entry


@pytest.fixture
def connected_store(hsm_client: Any, trust_anchor: str) -> str:
    store_id = create_store(hsm_client, trust_anchor)
    hsm_client.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert describe(hsm_client, store_id)["ConnectionState"] == "CONNECTED"
    return store_id
