"""The operation table: every operation of botocore's KMS model, declared once.

Layer: optable (pure data). One ``OpSpec`` per operation, in the model's alphabetical order,
implemented or not, plus the one permission-only action. Sources: botocore's KMS model (members,
DryRun, GrantOperation, KeyLastUsageTrackingOperation), KMS.md 1.1 (actions, resources, grants,
cross-account), 1.2 (key states) and 4.1 (condition keys, from the Service Authorization
Reference). ``tests/optable/test_table.py`` holds it to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kmspolicy.errors import (
    AccessDeniedException,
    TagException,
    UnsupportedOperationException,
)
from kmspolicy.optable.spec import (
    ANY_KEY,
    ASYMMETRIC_ENCRYPTION,
    ENCAPSULATION,
    HMAC,
    KEY_AGREEMENT,
    SIGNING,
    SYMMETRIC,
    Action,
    OpSpec,
    Resource,
)

__all__ = ["OPERATIONS", "PERMISSION_ONLY"]

_KEY = (Resource.KEY,)
_ALIAS_AND_KEY = (Resource.ALIAS, Resource.KEY)
_NONE = (Resource.ANY,)

# Key-state rows: one cell per column of spec.STATE_COLUMNS
#                 E D P I U C Up
# cryptographic operations: usable only Enabled (or mid-Updating). Pending deletion is
# KMSInvalidStateException, not DisabledException (which the Developer Guide also allows):
# LocalStack's test_cant_use_disabled_or_deleted_keys, recorded against AWS, gets it from
# GenerateDataKey on a key scheduled for deletion (DisabledException on a disabled one).
_CRYPTO = "✓DSSSS✓"
_READ = "✓✓✓✓✓✓✓"  # describe/list/policy reads and grant removal work in every state
_EDIT = "✓✓S✓✓✓✓"  # metadata edits: refused only while pending deletion
# Where the Developer Guide says a key type can never be in a state ("—" in KMS.md), a row
# answers what the nearest documented row answers (noted per row); "?" cells that depend on the
# key's type or origin (e.g. rotation on an asymmetric key) are the handler's precheck, made
# before the state check.

# Condition-key families and groups (KMS.md 4.1)
_EC = frozenset({"kms:EncryptionContext:${EncryptionContextKey}", "kms:EncryptionContextKeys"})
_ALG = frozenset({"kms:EncryptionAlgorithm"})
_ALIAS = frozenset({"kms:RequestAlias"})
_ATTESTATION = frozenset(
    {"kms:RecipientAttestation:ImageSha384", "kms:RecipientAttestation:PCR${PCR}"}
)
_REQUEST_TAGS = frozenset({"aws:RequestTag/${TagKey}", "aws:TagKeys"})
_GRANT_KEYS = frozenset(
    {
        "kms:GrantConstraintSourceArn",
        "kms:GrantConstraintType",
        "kms:GrantIsForAWSResource",
        "kms:GrantOperations",
        "kms:GranteePrincipal",
        "kms:GranteeServicePrincipal",
        "kms:RetiringPrincipal",
        "kms:RetiringServicePrincipal",
    }
)
_KEY_PROPERTIES = frozenset(
    {
        "kms:CustomerMasterKeySpec",
        "kms:CustomerMasterKeyUsage",
        "kms:KeyOrigin",
        "kms:KeySpec",
        "kms:KeyUsage",
        "kms:MultiRegion",
        "kms:MultiRegionKeyType",
    }
)
_SIGN_PARAMS = (("SigningAlgorithm", "kms:SigningAlgorithm"), ("MessageType", "kms:MessageType"))
_DEFAULT_ALG = (("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),)
_ALG_PARAM = (("EncryptionAlgorithm", "kms:EncryptionAlgorithm"),)
_ENCRYPTION_GRANTS = frozenset({SYMMETRIC, ASYMMETRIC_ENCRYPTION})


def _op(
    name: str,
    *,
    resources: tuple[Resource, ...] = _KEY,
    cross_account: bool = False,
    grant_keys: frozenset[str] = frozenset(),
    grant_constraints: bool = False,
    condition_keys: frozenset[str] = frozenset(),
    plaintext: bool = False,
    **fields: Any,
) -> OpSpec:
    """An operation authorized as the one action of its own name (``fields``: OpSpec's)."""
    action = Action(
        name, resources, cross_account, grant_keys, grant_constraints, condition_keys, plaintext
    )
    return OpSpec(name, (action,), **fields)


def _crypto(
    name: str,
    *,
    grant_keys: frozenset[str],
    condition_keys: frozenset[str] = frozenset(),
    **fields: Any,
) -> OpSpec:
    """A cryptographic operation (KMS.md 1.1): alias names accepted, cross-account, DryRun, a
    grant of its own name allows it, its usage is tracked, the crypto key-state row."""
    return _op(
        name,
        cross_account=True,
        grant_keys=grant_keys,
        condition_keys=condition_keys | _ALIAS,
        accepts_alias=True,
        dry_run=True,
        states=_CRYPTO,
        tracked=True,
        **fields,
    )


def _custom_key_store(name: str, *, mutates: bool = True) -> OpSpec:
    """The custom key store operations (CloudHSM and external key stores): account-level
    actions on ``*``, authorized by IAM policies alone, never across accounts."""
    return _op(
        name,
        resources=_NONE,
        condition_keys=frozenset({"kms:CallerAccount"}),
        key_param=None,
        mutates=mutates,
    )


_DECLARED: tuple[OpSpec, ...] = (
    _op(
        "CancelKeyDeletion",
        mutates=True,
        states="SS✓SSSS",
        refuse_aws_managed=AccessDeniedException,
    ),
    _custom_key_store("ConnectCustomKeyStore"),
    _op(
        "CreateAlias",
        resources=_ALIAS_AND_KEY,
        key_param=None,  # the alias and its target key: resolved with the handler
        mutates=True,
        states="✓✓S✓✓✓✓",
        refuse_aws_managed=AccessDeniedException,  # aliases of your own: customer keys only
    ),
    _custom_key_store("CreateCustomKeyStore"),
    _op(
        "CreateGrant",
        cross_account=True,
        grant_keys=ANY_KEY,
        grant_constraints=True,
        condition_keys=_EC | _GRANT_KEYS,
        mutates=True,
        dry_run=True,
        states="✓DSS✓S✓",
    ),
    _op(
        "CreateKey",
        resources=_NONE,
        condition_keys=_KEY_PROPERTIES
        | _REQUEST_TAGS
        | {
            "aws:ResourceTag/${TagKey}",
            "kms:BypassPolicyLockoutSafetyCheck",
            "kms:CallerAccount",
            "kms:ViaService",
        },
        key_param=None,
        mutates=True,
        cpu_bound=True,  # an RSA-4096 key pair takes a second
    ),
    _op(
        "Decapsulate",
        cross_account=True,  # the model: "a KMS key in a different account: use the key ARN"
        grant_keys=frozenset({ENCAPSULATION}),
        condition_keys=_ALIAS,
        plaintext=True,  # returns the shared secret
        accepts_alias=True,
        dry_run=True,
        states=_CRYPTO,
        tracked=True,
    ),
    _crypto(
        "Decrypt",
        grant_keys=_ENCRYPTION_GRANTS,
        grant_constraints=True,
        condition_keys=_EC | _ALG | _ATTESTATION,
        plaintext=True,
        key_param=None,  # optional: the ciphertext names its key (resolved with the handler)
        condition_params=_ALG_PARAM,
        condition_defaults=_DEFAULT_ALG,
        encryption_context_param="EncryptionContext",
    ),
    _op(
        "DeleteAlias",
        resources=_ALIAS_AND_KEY,
        key_param=None,
        mutates=True,
        states=_READ,
        refuse_aws_managed=AccessDeniedException,
    ),
    _custom_key_store("DeleteCustomKeyStore"),
    _op(
        "DeleteImportedKeyMaterial",
        mutates=True,
        # Unavailable: a custom-key-store key never has imported material ("—") → Unsupported.
        states="✓✓✓✓USS",
        refuse_aws_managed=UnsupportedOperationException,
    ),
    _crypto(
        "DeriveSharedSecret",
        grant_keys=frozenset({KEY_AGREEMENT}),
        condition_keys=_ATTESTATION | {"kms:KeyAgreementAlgorithm"},
        plaintext=True,
        cpu_bound=True,
        condition_params=(("KeyAgreementAlgorithm", "kms:KeyAgreementAlgorithm"),),
    ),
    _custom_key_store("DescribeCustomKeyStores", mutates=False),
    _op(
        "DescribeKey",
        cross_account=True,
        grant_keys=ANY_KEY,
        condition_keys=_ALIAS,
        accepts_alias=True,
        states=_READ,
    ),
    # EnableKey, DisableKey, UpdateKeyDescription on an AWS managed key: its fixed policy
    # refuses management (AccessDeniedException), and the model has no other error for it, so
    # the wall answers the same
    _op(
        "DisableKey",
        condition_keys=frozenset({"kms:TrailingDaysWithoutKeyUsage"}),
        mutates=True,
        states="✓✓SS✓SS",
        refuse_aws_managed=AccessDeniedException,
    ),
    _op(
        "DisableKeyRotation",
        mutates=True,
        states="✓DSUUS✓",  # PendingImport: origin EXTERNAL; Unavailable: custom key store
        refuse_aws_managed=UnsupportedOperationException,
    ),
    _custom_key_store("DisconnectCustomKeyStore"),
    _op(
        "EnableKey",
        mutates=True,
        states="✓✓SS✓SS",
        refuse_aws_managed=AccessDeniedException,
    ),
    _op(
        "EnableKeyRotation",
        condition_keys=frozenset({"kms:RotationPeriodInDays"}),
        mutates=True,
        # PendingImport: origin EXTERNAL; Unavailable: custom key store — neither rotates.
        states="✓DSUUS✓",
        condition_params=(("RotationPeriodInDays", "kms:RotationPeriodInDays"),),
        condition_defaults=(("kms:RotationPeriodInDays", 365),),
        refuse_aws_managed=UnsupportedOperationException,
    ),
    _op(
        "Encapsulate",
        cross_account=True,
        grant_keys=frozenset({ENCAPSULATION}),
        condition_keys=_ALIAS,
        accepts_alias=True,
        dry_run=True,
        states=_CRYPTO,
        tracked=True,
    ),
    _crypto(
        "Encrypt",
        grant_keys=_ENCRYPTION_GRANTS,
        grant_constraints=True,
        condition_keys=_EC | _ALG,
        condition_params=_ALG_PARAM,
        condition_defaults=_DEFAULT_ALG,
        encryption_context_param="EncryptionContext",
    ),
    _crypto(
        "GenerateDataKey",
        grant_keys=frozenset({SYMMETRIC}),
        grant_constraints=True,
        condition_keys=_EC | _ALG | _ATTESTATION,
        plaintext=True,
        condition_defaults=_DEFAULT_ALG,
        encryption_context_param="EncryptionContext",
    ),
    _crypto(
        "GenerateDataKeyPair",
        grant_keys=frozenset({SYMMETRIC}),
        grant_constraints=True,
        condition_keys=_EC | _ALG | _ATTESTATION | {"kms:DataKeyPairSpec"},
        plaintext=True,
        cpu_bound=True,
        condition_params=(("KeyPairSpec", "kms:DataKeyPairSpec"),),
        condition_defaults=_DEFAULT_ALG,
        encryption_context_param="EncryptionContext",
    ),
    _crypto(
        "GenerateDataKeyPairWithoutPlaintext",
        grant_keys=frozenset({SYMMETRIC}),
        grant_constraints=True,
        condition_keys=_EC | _ALG | {"kms:DataKeyPairSpec"},
        cpu_bound=True,
        condition_params=(("KeyPairSpec", "kms:DataKeyPairSpec"),),
        condition_defaults=_DEFAULT_ALG,
        encryption_context_param="EncryptionContext",
    ),
    _crypto(
        "GenerateDataKeyWithoutPlaintext",
        grant_keys=frozenset({SYMMETRIC}),
        grant_constraints=True,
        condition_keys=_EC | _ALG,
        condition_defaults=_DEFAULT_ALG,
        encryption_context_param="EncryptionContext",
    ),
    _crypto(
        "GenerateMac",
        grant_keys=frozenset({HMAC}),
        condition_keys=frozenset({"kms:MacAlgorithm"}),
        condition_params=(("MacAlgorithm", "kms:MacAlgorithm"),),
    ),
    _op("GenerateRandom", resources=_NONE, condition_keys=_ATTESTATION, key_param=None),
    _op("GetKeyLastUsage", states=_READ),
    _op("GetKeyPolicy", states=_READ),
    _op(
        "GetKeyRotationStatus",
        cross_account=True,
        # While pending deletion it reports KeyRotationEnabled=false rather than failing.
        states="✓✓✓✓U✓✓",
    ),
    _op(
        "GetParametersForImport",
        condition_keys=frozenset({"kms:WrappingAlgorithm", "kms:WrappingKeySpec"}),
        mutates=True,  # stores the wrapping key pair the import token names
        cpu_bound=True,
        states="✓✓S✓USS",
        condition_params=(
            ("WrappingAlgorithm", "kms:WrappingAlgorithm"),
            ("WrappingKeySpec", "kms:WrappingKeySpec"),
        ),
        refuse_aws_managed=UnsupportedOperationException,
    ),
    _op(
        "GetPublicKey",
        cross_account=True,
        grant_keys=frozenset({ASYMMETRIC_ENCRYPTION, SIGNING, KEY_AGREEMENT, ENCAPSULATION}),
        condition_keys=_ALIAS,
        accepts_alias=True,
        states=_CRYPTO,
    ),
    _op(
        "ImportKeyMaterial",
        condition_keys=frozenset({"kms:ExpirationModel", "kms:ValidTo"}),
        mutates=True,
        cpu_bound=True,  # unwraps with an RSA private key
        states="✓✓S✓US✓",
        condition_params=(("ExpirationModel", "kms:ExpirationModel"),),
        condition_defaults=(("kms:ExpirationModel", "KEY_MATERIAL_EXPIRES"),),
        refuse_aws_managed=UnsupportedOperationException,
    ),
    _op("ListAliases", resources=_NONE, key_param=None),
    _op(
        "ListGrants",
        cross_account=True,
        condition_keys=frozenset({"kms:GrantIsForAWSResource"}),
        states=_READ,
        condition_defaults=(("kms:GrantIsForAWSResource", False),),
    ),
    _op("ListKeyPolicies", states=_READ),
    # A read of the material list (KMS.md: inferred); refused where the key cannot rotate.
    _op("ListKeyRotations", states="✓✓✓✓U✓✓"),
    _op("ListKeys", resources=_NONE, key_param=None),
    _op("ListResourceTags", states=_READ),
    _op("ListRetirableGrants", resources=_NONE, key_param=None),
    _op(
        "PutKeyPolicy",
        condition_keys=frozenset({"kms:BypassPolicyLockoutSafetyCheck"}),
        mutates=True,
        states=_READ,
        condition_params=(
            ("BypassPolicyLockoutSafetyCheck", "kms:BypassPolicyLockoutSafetyCheck"),
        ),
        condition_defaults=(("kms:BypassPolicyLockoutSafetyCheck", False),),
        refuse_aws_managed=UnsupportedOperationException,
    ),
    OpSpec(
        "ReEncrypt",
        (
            Action(
                "ReEncryptFrom",
                cross_account=True,
                grant_keys=_ENCRYPTION_GRANTS,
                grant_constraints=True,
                condition_keys=_EC | _ALG | _ALIAS | {"kms:ReEncryptOnSameKey"},
                plaintext=True,
            ),
            Action(
                "ReEncryptTo",
                cross_account=True,
                grant_keys=_ENCRYPTION_GRANTS,
                grant_constraints=True,
                condition_keys=_EC | _ALG | _ALIAS | {"kms:ReEncryptOnSameKey"},
            ),
        ),
        key_param=None,  # the source from the blob (or SourceKeyId), then DestinationKeyId
        accepts_alias=True,
        dry_run=True,
        states=_CRYPTO,
        target_states=(("ReEncryptFrom", _CRYPTO), ("ReEncryptTo", _CRYPTO)),
        tracked=True,
    ),
    _op(
        "ReplicateKey",
        condition_keys=_REQUEST_TAGS | {"kms:ReplicaRegion"},
        mutates=True,
        states="✓DSSSSS",
        condition_params=(("ReplicaRegion", "kms:ReplicaRegion"),),
    ),
    _op(
        "RetireGrant",
        cross_account=True,
        grant_keys=ANY_KEY,
        condition_keys=_EC | {"kms:GrantConstraintType"},
        key_param=None,  # the grant's key, from GrantToken or KeyId + GrantId
        mutates=True,
        dry_run=True,
        states=_READ,
    ),
    _op(
        "RevokeGrant",
        cross_account=True,
        condition_keys=frozenset({"kms:GrantIsForAWSResource"}),
        mutates=True,
        dry_run=True,
        states=_READ,
        condition_defaults=(("kms:GrantIsForAWSResource", False),),
    ),
    _op(
        "RotateKeyOnDemand",
        mutates=True,
        states="✓DSSUSS",
        refuse_aws_managed=UnsupportedOperationException,
    ),
    _op(
        "ScheduleKeyDeletion",
        condition_keys=frozenset(
            {"kms:ScheduleKeyDeletionPendingWindowInDays", "kms:TrailingDaysWithoutKeyUsage"}
        ),
        mutates=True,
        states="✓✓S✓✓✓S",
        condition_params=(("PendingWindowInDays", "kms:ScheduleKeyDeletionPendingWindowInDays"),),
        condition_defaults=(("kms:ScheduleKeyDeletionPendingWindowInDays", 30),),
        # the model has no other error for it; the fixed policy refuses with this one too
        refuse_aws_managed=AccessDeniedException,
    ),
    _crypto(
        "Sign",
        grant_keys=frozenset({SIGNING}),
        condition_keys=frozenset({"kms:MessageType", "kms:SigningAlgorithm"}),
        cpu_bound=True,
        condition_params=_SIGN_PARAMS,
        condition_defaults=(("kms:MessageType", "RAW"),),
    ),
    _op(
        "TagResource",
        condition_keys=_REQUEST_TAGS,
        mutates=True,
        states=_EDIT,
        refuse_aws_managed=TagException,  # customer managed keys only (the model's error)
    ),
    _op(
        "UntagResource",
        condition_keys=frozenset({"aws:TagKeys"}),
        mutates=True,
        states=_EDIT,
        refuse_aws_managed=TagException,
    ),
    _op(
        "UpdateAlias",
        resources=_ALIAS_AND_KEY,
        key_param=None,
        mutates=True,
        # the key the alias points at now may be pending deletion (moving an alias away from a
        # doomed key is the point); the key it will point at may not
        states=_READ,
        target_states=(("UpdateAlias.TargetKey", _EDIT),),
        refuse_aws_managed=AccessDeniedException,
    ),
    _custom_key_store("UpdateCustomKeyStore"),
    _op(
        "UpdateKeyDescription",
        mutates=True,
        states=_EDIT,
        refuse_aws_managed=AccessDeniedException,
    ),
    _op(
        "UpdatePrimaryRegion",
        condition_keys=frozenset({"kms:PrimaryRegion"}),
        mutates=True,
        states="✓DSSSS✓",
        condition_params=(("PrimaryRegion", "kms:PrimaryRegion"),),
    ),
    _crypto(
        "Verify",
        grant_keys=frozenset({SIGNING}),
        condition_keys=frozenset({"kms:MessageType", "kms:SigningAlgorithm"}),
        cpu_bound=True,
        condition_params=_SIGN_PARAMS,
        condition_defaults=(("kms:MessageType", "RAW"),),
    ),
    _crypto(
        "VerifyMac",
        grant_keys=frozenset({HMAC}),
        condition_keys=frozenset({"kms:MacAlgorithm"}),
        condition_params=(("MacAlgorithm", "kms:MacAlgorithm"),),
    ),
)

#: every operation of the model by name
OPERATIONS: Mapping[str, OpSpec] = MappingProxyType({op.name: op for op in _DECLARED})

#: actions with no API operation: ``kms:SynchronizeMultiRegionKey`` (the KMS service-linked role
#: uses it to keep multi-Region keys in sync; KMS.md 1.1)
PERMISSION_ONLY: tuple[Action, ...] = (Action("SynchronizeMultiRegionKey"),)
