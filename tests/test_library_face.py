"""The library face (issue 15 §4): ``kmspolicy.authorize`` in one call, with policies as text,
paths, dicts or parsed objects; and the in-process client behind the AWS Encryption SDK's
keyring, with the key policy enforced on every call the keyring makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kmspolicy
from kmspolicy import DecisionKind, PolicySyntaxError, authorize, load_policies

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EC_POLICY = FIXTURES / "encryption-context-enforcement.kmsp"
PAYROLL = "arn:aws:iam::111122223333:role/Payroll"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(EC_POLICY, id="path"),
        pytest.param(str(EC_POLICY), id="path-string"),
        pytest.param(EC_POLICY.read_text(), id="dsl-text"),
        pytest.param((FIXTURES / "encryption-context-enforcement.json").read_text(), id="json"),
        pytest.param(
            json.loads((FIXTURES / "encryption-context-enforcement.json").read_text()), id="dict"
        ),
        pytest.param(load_policies(EC_POLICY, key_policy=True)[0], id="parsed"),
    ],
)
def test_one_call_decides_from_any_form_of_policy(given: object) -> None:
    allowed = authorize(
        key_policy=given,
        principal=PAYROLL,
        action="kms:Decrypt",
        resource=KEY,
        context={"kms:EncryptionContext:app": "payroll", "kms:EncryptionContextKeys": ["app"]},
    )
    assert allowed.kind is DecisionKind.ALLOWED and allowed.allowed
    assert [m.label() for m in allowed.matched_statements] == [
        "Allow payroll to use the key for payroll data"
    ]
    denied = authorize(key_policy=given, principal=PAYROLL, action="Decrypt", resource=KEY)
    assert denied.kind is DecisionKind.EXPLICIT_DENY
    assert "Deny cryptographic use without an encryption context" in denied.explain()


def test_identity_policies_count_where_the_key_policy_delegates_to_iam() -> None:
    analyst = "arn:aws:iam::111122223333:role/Analyst"
    allow_describe = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}],
    }
    key_policy = FIXTURES / "default-key-policy.kmsp"
    without = authorize(key_policy=key_policy, principal=analyst, action="kms:DescribeKey")
    assert without.kind is DecisionKind.IMPLICIT_DENY
    with_iam = authorize(
        key_policy=key_policy,
        identity_policies=allow_describe,  # one policy needs no list
        principal=analyst,
        action="kms:DescribeKey",
    )
    assert with_iam.allowed and with_iam.resource.startswith("arn:aws:kms:us-east-1:111122223333:")


def test_non_kms_actions_follow_iams_general_rules() -> None:
    policy = 'policy version 2012-10-17\nallow\n  action s3:GetObject\n  resource "*"\n'
    decision = authorize(
        identity_policies=[policy],
        principal="arn:aws:iam::111122223333:user/u",
        action="s3:GetObject",
    )
    assert decision.allowed and decision.resource == "*"


def test_a_bad_policy_is_a_positioned_error() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        authorize(
            key_policy='{"Version": "2012-10-17", "Statement": [',
            principal=PAYROLL,
            action="kms:Decrypt",
        )
    assert "<string>:1:" in info.value.render()


def test_authorize_is_part_of_the_facade() -> None:
    assert "authorize" in kmspolicy.__all__ and kmspolicy.authorize is authorize


# --- the AWS Encryption SDK's keyring over the in-process client ------------------------------

ENCRYPT_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt"], "Resource": "*"}
    ],
}


def test_encryption_sdk_keyring_over_the_in_process_client() -> None:
    import aws_cryptographic_material_providers.mpl as mpl
    import aws_encryption_sdk as esdk
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput

    from kmspolicy import KMS, Identities, Identity

    writer = "arn:aws:iam::111122223333:role/Writer"
    kms = KMS(identities=Identities([Identity.of(writer, policies=[json.dumps(ENCRYPT_ONLY)])]))
    key_arn = kms.client().create_key()["KeyMetadata"]["Arn"]
    providers = mpl.AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())

    def keyring(principal: str | None = None) -> object:
        client = kms.client(principal=principal) if principal else kms.client()
        return providers.create_aws_kms_keyring(
            input=CreateAwsKmsKeyringInput(kms_key_id=key_arn, kms_client=client)
        )

    sdk = esdk.EncryptionSDKClient(
        commitment_policy=esdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    # the writer's IAM policy allows GenerateDataKey (the keyring's encrypt) ...
    message, _ = sdk.encrypt(
        source=b"payroll 2026-01", keyring=keyring(writer), encryption_context={"app": "payroll"}
    )
    # ... the account root may decrypt (the default key policy) ...
    plaintext, header = sdk.decrypt(source=message, keyring=keyring())
    assert plaintext == b"payroll 2026-01" and header.encryption_context["app"] == "payroll"
    # ... and the writer may not: the keyring's Decrypt call is refused by policy
    with pytest.raises(Exception) as info:
        sdk.decrypt(source=message, keyring=keyring(writer))
    assert f"{writer} is not authorized to perform: kms:Decrypt" in repr(info.value)
