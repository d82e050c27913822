"""Fixtures for the KMS service tests: a service on a fake clock, boto3 clients per principal."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, Identities, Identity
from kmspolicy.kms.clock import FakeClock
from tests.kms.principals import ACCOUNT, ALICE, BOB, KMS_ADMIN, MALLORY


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def identities() -> Identities:
    return Identities(
        [
            Identity.of(ALICE, policies=[KMS_ADMIN]),
            Identity.of(BOB),
            Identity.of(MALLORY, policies=[KMS_ADMIN]),
        ]
    )


@pytest.fixture
def service(clock: FakeClock, identities: Identities) -> KMS:
    return KMS(clock=clock, account=ACCOUNT, identities=identities)


@pytest.fixture
def client(service: KMS) -> Any:
    """The account root user's boto3 client."""
    return service.client()


@pytest.fixture
def key_id(client: Any) -> str:
    return client.create_key(Description="test key")["KeyMetadata"]["KeyId"]
