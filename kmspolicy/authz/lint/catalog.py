"""What lint knows about KMS: every action, which ones work cross-account, and which condition
keys apply to which action (KMS.md §1.1, §3.4, §4.1 — the Service Authorization Reference).

Layer: authz (pure data). Keys are compared case-insensitively, as IAM does.
"""

from __future__ import annotations

from functools import cache

from kmspolicy.authz.kms import CROSS_ACCOUNT_ACTIONS
from kmspolicy.authz.matching import compile_glob
from kmspolicy.lang.vocab import ATTESTATION_PCR_KEY

#: every ``kms:`` action (the 54 operations with ReEncrypt split into From/To, plus the one
#: permission-only action)
KMS_ACTIONS: tuple[str, ...] = (
    "CancelKeyDeletion",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncryptFrom",
    "ReEncryptTo",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "SynchronizeMultiRegionKey",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
)

#: actions with no key resource: meaningful only in IAM policies (KMS.md §1.1 "IAM")
IAM_ONLY: frozenset[str] = frozenset(
    {
        "ConnectCustomKeyStore",
        "CreateCustomKeyStore",
        "CreateKey",
        "DeleteCustomKeyStore",
        "DescribeCustomKeyStores",
        "DisconnectCustomKeyStore",
        "GenerateRandom",
        "ListAliases",
        "ListKeys",
        "ListRetirableGrants",
        "UpdateCustomKeyStore",
    }
)

#: the only actions a principal of another account can use (KMS.md §3.4): the authorizer's set
CROSS_ACCOUNT: frozenset[str] = frozenset(
    a for a in KMS_ACTIONS if f"kms:{a.lower()}" in CROSS_ACCOUNT_ACTIONS
)

#: actions that return or use plaintext of data protected by the key
DECRYPTING: frozenset[str] = frozenset(
    {
        "Decrypt",
        "ReEncryptFrom",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "DeriveSharedSecret",
    }
)

_CRYPTO = {
    "Decrypt",
    "DeriveSharedSecret",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "VerifyMac",
}
_EC_OPS = {
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "CreateGrant",
    "RetireGrant",
}
_ATTESTATION_OPS = {
    "Decrypt",
    "DeriveSharedSecret",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateRandom",
}
_KEY_RESOURCE = frozenset(KMS_ACTIONS) - IAM_ONLY - {"SynchronizeMultiRegionKey"}
_KEY_PROPERTIES = {
    "kms:keyorigin",
    "kms:keyspec",
    "kms:keyusage",
    "kms:multiregion",
    "kms:multiregionkeytype",
    "kms:customermasterkeyspec",
    "kms:customermasterkeyusage",
}
_CUSTOM_KEY_STORE_OPS = {
    "ConnectCustomKeyStore",
    "CreateCustomKeyStore",
    "DeleteCustomKeyStore",
    "DescribeCustomKeyStores",
    "DisconnectCustomKeyStore",
    "UpdateCustomKeyStore",
}

#: operation-specific ``kms:`` keys → the actions they apply to (lower-case keys)
_SPECIFIC: dict[str, frozenset[str]] = {
    k.lower(): frozenset(v)
    for k, v in {
        "kms:BypassPolicyLockoutSafetyCheck": {"CreateKey", "PutKeyPolicy"},
        "kms:DataKeyPairSpec": {"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"},
        "kms:EncryptionAlgorithm": _EC_OPS - {"CreateGrant", "RetireGrant"},
        "kms:EncryptionContextKeys": _EC_OPS,
        "kms:ExpirationModel": {"ImportKeyMaterial"},
        "kms:GrantConstraintType": {"CreateGrant", "RetireGrant"},
        "kms:GrantConstraintSourceArn": {"CreateGrant"},
        "kms:GrantIsForAWSResource": {"CreateGrant", "ListGrants", "RevokeGrant"},
        "kms:GrantOperations": {"CreateGrant"},
        "kms:GranteePrincipal": {"CreateGrant"},
        "kms:GranteeServicePrincipal": {"CreateGrant"},
        "kms:KeyAgreementAlgorithm": {"DeriveSharedSecret"},
        "kms:MacAlgorithm": {"GenerateMac", "VerifyMac"},
        "kms:MessageType": {"Sign", "Verify"},
        "kms:PrimaryRegion": {"UpdatePrimaryRegion"},
        "kms:ReEncryptOnSameKey": {"ReEncryptFrom", "ReEncryptTo"},
        "kms:RecipientAttestation:ImageSha384": _ATTESTATION_OPS,
        "kms:ReplicaRegion": {"ReplicateKey"},
        "kms:RequestAlias": (_CRYPTO | {"DescribeKey", "GetPublicKey"}),
        "kms:RetiringPrincipal": {"CreateGrant"},
        "kms:RetiringServicePrincipal": {"CreateGrant"},
        "kms:RotationPeriodInDays": {"EnableKeyRotation"},
        "kms:ScheduleKeyDeletionPendingWindowInDays": {"ScheduleKeyDeletion"},
        "kms:SigningAlgorithm": {"Sign", "Verify"},
        "kms:TrailingDaysWithoutKeyUsage": {"ScheduleKeyDeletion", "DisableKey"},
        "kms:ValidTo": {"ImportKeyMaterial"},
        "kms:WrappingAlgorithm": {"GetParametersForImport"},
        "kms:WrappingKeySpec": {"GetParametersForImport"},
    }.items()
}

#: multi-valued keys: a plain (non-set) operator on them is almost always a mistake
MULTI_VALUED: frozenset[str] = frozenset(
    {
        "kms:encryptioncontextkeys",
        "kms:grantoperations",
        "kms:resourcealiases",
        "aws:tagkeys",
        "aws:calledvia",
        "aws:principalservicenameslist",
        "aws:principalorgpaths",
        "aws:resourceorgpaths",
        "aws:sourceorgpaths",
        "aws:vpceorgpaths",
    }
)

#: the value type of typed keys (the rest are strings); used to flag operator/key mismatches
KEY_TYPES: dict[str, str] = {
    "kms:bypasspolicylockoutsafetycheck": "Bool",
    "kms:grantisforawsresource": "Bool",
    "kms:multiregion": "Bool",
    "kms:reencryptonsamekey": "Bool",
    "kms:rotationperiodindays": "Numeric",
    "kms:schedulekeydeletionpendingwindowindays": "Numeric",
    "kms:trailingdayswithoutkeyusage": "Numeric",
    "kms:validto": "Date",
    "aws:securetransport": "Bool",
    "aws:multifactorauthpresent": "Bool",
    "aws:viaawsservice": "Bool",
    "aws:principalisawsservice": "Bool",
    "aws:multifactorauthage": "Numeric",
    "aws:currenttime": "Date",
    "aws:tokenissuetime": "Date",
    "aws:sourceip": "IP",
    "aws:vpcsourceip": "IP",
    "aws:principalarn": "ARN",
    "aws:sourcearn": "ARN",
}


def kms_actions_matching(pattern: str) -> frozenset[str]:
    """The KMS actions (bare names) an action pattern matches: ``kms:Generate*``, ``*``."""
    return _matching(pattern.lower())


@cache
def _matching(pattern: str) -> frozenset[str]:
    if pattern == "*":
        return frozenset(KMS_ACTIONS)
    service, _, name = pattern.partition(":")
    if service != "kms" or not name:
        return frozenset()
    # the evaluator's own action glob, so lint and decisions agree on what a pattern covers
    glob = compile_glob(name, ignore_case=True)
    return frozenset(a for a in KMS_ACTIONS if glob.matches(a))


def key_applies_to(key: str) -> frozenset[str] | None:
    """The KMS actions a condition key applies to, or None when it applies to every action (or
    we do not know it: global ``aws:`` keys, other services' keys)."""
    lower = key.lower()
    if lower in _SPECIFIC:
        return _SPECIFIC[lower]
    if lower.startswith("kms:encryptioncontext:"):
        return frozenset(_EC_OPS)
    if ATTESTATION_PCR_KEY.match(lower):
        return frozenset(_ATTESTATION_OPS)
    if lower in _KEY_PROPERTIES:
        return _KEY_RESOURCE | {"CreateKey"}
    if lower in ("kms:viaservice", "kms:calleraccount"):
        extra = {"CreateKey"} | (_CUSTOM_KEY_STORE_OPS if lower == "kms:calleraccount" else set())
        return _KEY_RESOURCE | extra
    if lower == "kms:resourcealiases" or lower.startswith("aws:resourcetag/"):
        return _KEY_RESOURCE | ({"CreateKey"} if lower.startswith("aws:") else set())
    if lower.startswith("aws:requesttag/") or lower == "aws:tagkeys":
        return frozenset(
            {"CreateKey", "TagResource", "ReplicateKey"}
            | ({"UntagResource"} if lower == "aws:tagkeys" else set())
        )
    return None


#: keys KMS evaluates only in IAM policies, never in a key policy (KMS.md §3.8, §4.1)
def iam_policy_only(key: str) -> bool:
    lower = key.lower()
    return lower == "kms:resourcealiases" or lower.startswith("aws:resourcetag/")
