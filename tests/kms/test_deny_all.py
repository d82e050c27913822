"""Authorization comes first: a deny-all key policy refuses every key operation of the table,
and a deny-all SCP refuses the operations that have no key. Parametrized over the registry, so
an operation added without a sample here fails ``test_every_operation_is_covered``."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, AccountPolicies, Identities
from kmspolicy.kms.implemented import load_operations
from tests.kms.principals import ACCOUNT, BOB, policy, raises_code
from tests.kms.test_unimplemented import SAMPLES as UNIMPLEMENTED

DENY_ALL = policy({"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"})

# "{key}": the key ARN, "{blob}": a ciphertext under it, "{grant}": a grant id on it
KEY_OPERATIONS: dict[str, dict[str, Any]] = {
    "CancelKeyDeletion": {"KeyId": "{key}"},
    "CreateAlias": {"AliasName": "alias/new", "TargetKeyId": "{key}"},
    "CreateGrant": {"KeyId": "{key}", "GranteePrincipal": BOB, "Operations": ["Encrypt"]},
    "Decrypt": {"CiphertextBlob": "{blob}"},
    "DeleteAlias": {"AliasName": "alias/existing"},
    "DeleteImportedKeyMaterial": {"KeyId": "{key}"},
    "DeriveSharedSecret": {"KeyId": "{key}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": b"x"},
    "DescribeKey": {"KeyId": "{key}"},
    "DisableKey": {"KeyId": "{key}"},
    "DisableKeyRotation": {"KeyId": "{key}"},
    "EnableKey": {"KeyId": "{key}"},
    "EnableKeyRotation": {"KeyId": "{key}"},
    "Encrypt": {"KeyId": "{key}", "Plaintext": b"p"},
    "GenerateDataKey": {"KeyId": "{key}", "KeySpec": "AES_256"},
    "GenerateDataKeyWithoutPlaintext": {"KeyId": "{key}", "KeySpec": "AES_256"},
    "GenerateDataKeyPair": {"KeyId": "{key}", "KeyPairSpec": "ECC_NIST_P256"},
    "GenerateDataKeyPairWithoutPlaintext": {"KeyId": "{key}", "KeyPairSpec": "ECC_NIST_P256"},
    "GenerateMac": {"KeyId": "{key}", "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
    "GetKeyPolicy": {"KeyId": "{key}", "PolicyName": "default"},
    "GetKeyRotationStatus": {"KeyId": "{key}"},
    "GetKeyLastUsage": {"KeyId": "{key}"},
    "GetParametersForImport": {
        "KeyId": "{key}",
        "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
        "WrappingKeySpec": "RSA_2048",
    },
    "GetPublicKey": {"KeyId": "{key}"},
    "ImportKeyMaterial": {
        "KeyId": "{key}",
        "ImportToken": b"t",
        "EncryptedKeyMaterial": b"m",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    },
    "ListGrants": {"KeyId": "{key}"},
    "ListKeyPolicies": {"KeyId": "{key}"},
    "ListKeyRotations": {"KeyId": "{key}"},
    "ListResourceTags": {"KeyId": "{key}"},
    "PutKeyPolicy": {"KeyId": "{key}", "Policy": DENY_ALL, "PolicyName": "default"},
    "ReEncrypt": {"CiphertextBlob": "{blob}", "DestinationKeyId": "{key}"},
    "ReplicateKey": {"KeyId": "{key}", "ReplicaRegion": "eu-west-1"},
    "Encapsulate": {"KeyId": "{key}", "EncapsulationAlgorithm": "ML_KEM"},
    "Decapsulate": {
        "KeyId": "{key}",
        "SharedSecretCiphertextBlob": b"x" * 1088,
        "EncapsulationAlgorithm": "ML_KEM",
    },
    "RetireGrant": {"KeyId": "{key}", "GrantId": "{grant}"},
    "RevokeGrant": {"KeyId": "{key}", "GrantId": "{grant}"},
    "RotateKeyOnDemand": {"KeyId": "{key}"},
    "ScheduleKeyDeletion": {"KeyId": "{key}", "PendingWindowInDays": 7},
    "Sign": {"KeyId": "{key}", "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"},
    "TagResource": {"KeyId": "{key}", "Tags": [{"TagKey": "k", "TagValue": "v"}]},
    "UntagResource": {"KeyId": "{key}", "TagKeys": ["k"]},
    "UpdateAlias": {"AliasName": "alias/existing", "TargetKeyId": "{key}"},
    "UpdateKeyDescription": {"KeyId": "{key}", "Description": "d"},
    "UpdatePrimaryRegion": {"KeyId": "{key}", "PrimaryRegion": "eu-west-1"},
    "Verify": {
        "KeyId": "{key}",
        "Message": b"m",
        "Signature": b"s",
        "SigningAlgorithm": "ECDSA_SHA_256",
    },
    "VerifyMac": {"KeyId": "{key}", "Message": b"m", "Mac": b"m", "MacAlgorithm": "HMAC_SHA_256"},
    # not implemented: authorized all the same (tests/kms/test_unimplemented.py)
    **{n: p for n, p in UNIMPLEMENTED.items() if "KeyId" in p},
}
# Operations without a key resource: IAM alone decides them, so an SCP is what denies.
KEYLESS_OPERATIONS: dict[str, dict[str, Any]] = {
    "CreateKey": {},
    "GenerateRandom": {"NumberOfBytes": 16},
    "ListAliases": {},
    "ListKeys": {},
    "ListRetirableGrants": {"RetiringPrincipal": BOB},
    "ConnectCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
    "CreateCustomKeyStore": {"CustomKeyStoreName": "store"},
    "DeleteCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
    "DescribeCustomKeyStores": {},
    "DisconnectCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
    "UpdateCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
    **{n: p for n, p in UNIMPLEMENTED.items() if "KeyId" not in p},
}


def test_every_operation_is_covered() -> None:
    assert set(KEY_OPERATIONS) | set(KEYLESS_OPERATIONS) == set(load_operations())


@pytest.fixture
def locked(client: Any) -> dict[str, Any]:
    """A key whose policy denies everything to everyone, with an alias, a grant, a blob."""
    arn = client.create_key()["KeyMetadata"]["Arn"]
    client.create_alias(AliasName="alias/existing", TargetKeyId=arn)
    grant = client.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt"])
    blob = client.encrypt(KeyId=arn, Plaintext=b"secret")["CiphertextBlob"]
    client.put_key_policy(KeyId=arn, Policy=DENY_ALL, BypassPolicyLockoutSafetyCheck=True)
    return {"{key}": arn, "{blob}": blob, "{grant}": grant["GrantId"]}


def _fill(params: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {k: values.get(v, v) if isinstance(v, str) else v for k, v in params.items()}


def _snake(name: str) -> str:
    from botocore import xform_name

    return xform_name(name)


def _state(service: KMS, arn: str) -> tuple[object, ...]:
    """Everything a request could change about the locked key: record, grants, aliases."""
    with service.store.transaction(readonly=True) as tx:
        return (
            tx.get_key(arn),
            tuple(tx.list_grants(arn)),
            tuple(tx.list_aliases(ACCOUNT, "us-east-1")),
        )


@pytest.mark.parametrize("operation", sorted(KEY_OPERATIONS))
def test_deny_all_key_policy_refuses(
    service: KMS, client: Any, locked: dict[str, Any], operation: str
) -> None:
    params = _fill(KEY_OPERATIONS[operation], locked)
    before = _state(service, locked["{key}"])
    with raises_code("AccessDeniedException"):
        getattr(client, _snake(operation))(**params)
    # and nothing changed: the same record (state, policy, material), grants and aliases
    assert _state(service, locked["{key}"]) == before


@pytest.mark.parametrize("operation", sorted(KEYLESS_OPERATIONS))
def test_deny_all_scp_refuses_keyless_operations(clock: Any, operation: str) -> None:
    identities = Identities(
        accounts={ACCOUNT: AccountPolicies.of(scps=[DENY_ALL.replace('"Principal": "*", ', "")])}
    )
    service = KMS(clock=clock, account=ACCOUNT, identities=identities)
    with raises_code("AccessDeniedException"):
        getattr(service.client(), _snake(operation))(**KEYLESS_OPERATIONS[operation])


def test_denied_requests_leave_no_trace(service: KMS, client: Any, locked: dict[str, Any]) -> None:
    for operation in ("ScheduleKeyDeletion", "DisableKey", "RevokeGrant", "DeleteAlias"):
        with raises_code("AccessDeniedException"):
            getattr(client, _snake(operation))(**_fill(KEY_OPERATIONS[operation], locked))
    with service.store.transaction() as tx:
        record = tx.get_key(locked["{key}"])
        assert record is not None and record.key_state.value == "Enabled"
        assert [g.grant_id for g in tx.list_grants(record.arn)] == [locked["{grant}"]]
        assert [a.name for a in tx.list_aliases(ACCOUNT, "us-east-1")] == ["alias/existing"]
