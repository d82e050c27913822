"""Sample requests per KMS operation, with placeholders the tests fill in: ``{key}`` a key's ARN,
``{blob}`` a ciphertext under it, ``{grant}`` a grant id on it. Shared by the deny-all, sealed and
unimplemented-operation tests, in process and over HTTP."""

from __future__ import annotations

from typing import Any

from tests.kms.principals import BOB, policy

# "{key}": a key's ARN. One sample request per unimplemented operation.
SAMPLES: dict[str, dict[str, Any]] = {
    # every operation of botocore's model is implemented today; an operation the model gains
    # is declared unimplemented in the table first (tests/optable), and sampled here
}
# implemented operations that tests/kms/test_unimplemented.py unbinds, standing in for
# unimplemented ones
STANDINS: dict[str, dict[str, Any]] = {
    "GetKeyRotationStatus": {"KeyId": "{key}"},
    "ListRetirableGrants": {"RetiringPrincipal": BOB},
}
CASES = {**SAMPLES, **STANDINS}


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
    **{n: p for n, p in SAMPLES.items() if "KeyId" in p},
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
    **{n: p for n, p in SAMPLES.items() if "KeyId" not in p},
}


def fill_placeholders(params: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Each string parameter that is a placeholder in ``values`` replaced by its value."""
    return {k: values.get(v, v) if isinstance(v, str) else v for k, v in params.items()}


def fill_key(params: dict[str, Any], key_arn: str) -> dict[str, Any]:
    """Only the ``{key}`` placeholder filled, with ``key_arn``."""
    return fill_placeholders(params, {"{key}": key_arn})


def snake(name: str) -> str:
    """The boto3 method name of an operation (``CreateKey`` -> ``create_key``)."""
    from botocore import xform_name

    return xform_name(name)
