"""Quotas: resource quotas (LimitExceededException) and request quotas per account and Region
(ThrottlingException), counted in one-second windows of the injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, Identities, Identity
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.quotas import ASYMMETRIC, SYMMETRIC, Quotas, request_bucket
from tests.kms.principals import ACCOUNT, KMS_ADMIN, MALLORY, policy, raises_code


def _service(clock: FakeClock, quotas: Quotas) -> KMS:
    ids = Identities([Identity.of(MALLORY, policies=[KMS_ADMIN])])
    return KMS(clock=clock, account=ACCOUNT, identities=ids, quotas=quotas)


def test_request_quotas_throttle_per_account_within_a_second(clock: FakeClock) -> None:
    service = _service(clock, Quotas(requests=True, request_rates={"CreateKey": 2}))
    client = service.client()
    client.create_key()
    client.create_key()
    with raises_code("ThrottlingException") as info:
        client.create_key()
    assert "CreateKey: 2 requests per second" in info.value.response["Error"]["Message"]
    service.client(MALLORY).create_key()  # another account has its own quota
    assert len(client.list_keys()["Keys"]) == 2  # the throttled request changed nothing
    clock.advance(seconds=1)
    client.create_key()  # a new second, a new window


def test_cross_account_requests_count_against_the_callers_account(clock: FakeClock) -> None:
    service = _service(clock, Quotas(requests=True, request_rates={SYMMETRIC: 1}))
    shared = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": MALLORY},
            "Action": "kms:Encrypt",
            "Resource": "*",
        },
    )
    owner = service.client()
    arn = owner.create_key(Policy=shared)["KeyMetadata"]["Arn"]
    service.client(MALLORY).encrypt(KeyId=arn, Plaintext=b"p")
    owner.encrypt(KeyId=arn, Plaintext=b"p")  # the key owner's account was not charged
    with raises_code("ThrottlingException"):
        owner.generate_data_key(KeyId=arn, KeySpec="AES_256")  # one shared symmetric quota


def test_request_quotas_are_off_by_default_in_process(clock: FakeClock) -> None:
    client = _service(clock, Quotas()).client()
    for _ in range(10):  # the AWS CreateKey quota is 5 per second
        client.create_key()


def test_aws_default_rates_and_buckets() -> None:
    aws = Quotas(requests=True)
    assert aws.rate(SYMMETRIC, "us-east-1") == 100_000
    assert aws.rate(SYMMETRIC, "eu-central-1") == 20_000
    assert aws.rate(SYMMETRIC, "ca-central-1") == 10_000
    assert aws.rate("CreateKey", "us-east-1") == 5
    assert aws.rate("GetParametersForImport", "us-east-1") == 1
    assert aws.rate(request_bucket("Sign", {}), "us-east-1") == 1_000
    assert request_bucket("Verify", {}) == ASYMMETRIC
    pair = request_bucket("GenerateDataKeyPairWithoutPlaintext", {"KeyPairSpec": "RSA_4096"})
    assert aws.rate(pair, "us-east-1") == 1
    assert Quotas(requests=True, request_rates={SYMMETRIC: 7}).rate(SYMMETRIC, "us-east-1") == 7
    assert Quotas().rate("CreateKey", "us-east-1") is None


@pytest.mark.parametrize(
    ("quotas", "make_second"),
    [
        (Quotas(keys_per_region=1), lambda c, k: c.create_key()),
        (
            Quotas(aliases_per_key=1),
            lambda c, k: c.create_alias(AliasName="alias/b", TargetKeyId=k),
        ),
        (
            Quotas(grants_per_key=1),
            lambda c, k: c.create_grant(KeyId=k, GranteePrincipal=MALLORY, Operations=["Encrypt"]),
        ),
    ],
    ids=["keys", "aliases", "grants"],
)
def test_resource_quotas_are_configurable(
    clock: FakeClock, quotas: Quotas, make_second: Any
) -> None:
    client = _service(clock, quotas).client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/a", TargetKeyId=key_id)
    client.create_grant(KeyId=key_id, GranteePrincipal=MALLORY, Operations=["Decrypt"])
    with raises_code("LimitExceededException"):
        make_second(client, key_id)
