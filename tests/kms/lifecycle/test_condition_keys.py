"""The lifecycle's condition keys reach the decision point: an IAM policy can bound the
rotation period, the deletion window, the import expiry model and ValidTo, the wrapping
algorithm and key spec, and the key's origin."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest

from kmspolicy import KMS, Identities, Identity
from kmspolicy.kms.clock import FakeClock
from tests.kms.principals import ACCOUNT, policy, raises_code

CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"

GUARDRAILS = policy(
    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
    {
        "Effect": "Deny",
        "Action": "kms:EnableKeyRotation",
        "Resource": "*",
        "Condition": {"NumericGreaterThan": {"kms:RotationPeriodInDays": 180}},
    },
    {
        "Effect": "Deny",
        "Action": "kms:ScheduleKeyDeletion",
        "Resource": "*",
        "Condition": {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": 14}},
    },
    {
        "Effect": "Deny",
        "Action": "kms:GetParametersForImport",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:WrappingAlgorithm": "RSAES_OAEP_SHA_256"}},
    },
    {
        "Effect": "Deny",
        "Action": "kms:GetParametersForImport",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:WrappingKeySpec": "RSA_3072"}},
    },
    {
        "Effect": "Deny",
        "Action": "kms:ImportKeyMaterial",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}},
    },
    {
        "Effect": "Deny",
        "Action": "kms:ImportKeyMaterial",
        "Resource": "*",
        "Condition": {"NumericGreaterThan": {"kms:ValidTo": 1767225600 + 30 * 86400}},
    },
    {
        "Effect": "Deny",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:KeyOrigin": "EXTERNAL"}},
    },
)


@pytest.fixture
def carol() -> Any:
    clock = FakeClock()  # 2026-01-01T00:00:00Z = 1767225600
    service = KMS(
        clock=clock,
        account=ACCOUNT,
        identities=Identities([Identity.of(CAROL, policies=[GUARDRAILS])]),
    )
    return service.client(principal=CAROL)


def test_rotation_period(carol: Any) -> None:
    key_id = carol.create_key()["KeyMetadata"]["KeyId"]
    carol.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    with raises_code("AccessDeniedException"):
        carol.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=365)
    with raises_code("AccessDeniedException"):
        carol.enable_key_rotation(KeyId=key_id)  # the default, 365, counts


def test_deletion_window(carol: Any) -> None:
    key_id = carol.create_key()["KeyMetadata"]["KeyId"]
    with raises_code("AccessDeniedException"):
        carol.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    carol.schedule_key_deletion(KeyId=key_id)  # the default, 30, is fine


def test_wrapping_algorithm_and_key_spec(carol: Any) -> None:
    key_id = carol.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with raises_code("AccessDeniedException"):
        carol.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_3072"
        )
    with raises_code("AccessDeniedException"):
        carol.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    carol.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072"
    )


def test_expiration_model_valid_to_and_key_origin(carol: Any) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key_id = carol.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)

    def attempt(**extra: Any) -> Any:
        params = carol.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072"
        )
        public = serialization.load_der_public_key(params["PublicKey"])
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        return carol.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=public.encrypt(material, oaep),  # type: ignore[union-attr,call-arg]
            **extra,
        )

    start = FakeClock().now()
    with raises_code("AccessDeniedException"):
        attempt(ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    with raises_code("AccessDeniedException"):
        attempt(ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=start + timedelta(days=60))
    attempt(ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=start + timedelta(days=10))
    with raises_code("AccessDeniedException"):  # kms:KeyOrigin of the key itself
        carol.encrypt(KeyId=key_id, Plaintext=b"no")
