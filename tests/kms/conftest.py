"""Fixtures for the KMS service tests: a service on a fake clock, boto3 clients per principal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmspolicy import KMS, Identities, Identity
from kmspolicy.kms.clock import FakeClock

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"  # IAM admin of KMS in her account
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"  # no identity policies at all
MALLORY = f"arn:aws:iam::{OTHER_ACCOUNT}:user/mallory"  # another account, full IAM rights


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


KMS_ADMIN = policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})


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
