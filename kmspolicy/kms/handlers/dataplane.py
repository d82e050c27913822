"""Rules shared by the data-plane handler modules (encryption, data keys, signatures).

Layer: kms. How a cryptographic operation is registered (alias names, cross-account, DryRun,
its own grant operation and key-state row) and the key checks every such handler makes first:
the key's usage, symmetric encryption keys, the encryption algorithm the key offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from kmspolicy.crypto.specs import (
    EncryptionAlgorithm,
    KeyUsage,
    encryption_algorithms,
    is_symmetric,
)
from kmspolicy.errors import (
    InvalidKeyUsageException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.operations import Handler, Operation, register
from kmspolicy.kms.pipeline import AuthorizedKey

__all__ = [
    "DEFAULT_ENCRYPTION_ALGORITHM",
    "Params",
    "crypto_op",
    "encryption_algorithm",
    "no_recipient",
    "require_symmetric",
    "require_usage",
]

Params = Mapping[str, Any]
#: What KMS assumes when EncryptionAlgorithm is omitted (also the condition-key default).
DEFAULT_ENCRYPTION_ALGORITHM: str = EncryptionAlgorithm.SYMMETRIC_DEFAULT.value


def crypto_op(name: str, handler: Handler, **fields: Any) -> Operation:
    """Register a cryptographic operation: alias names accepted, cross-account, DryRun
    (KMS.md 1.1), a grant of the same name allows it, and its own key-state row."""
    fields.setdefault("grant_operation", name)
    fields.setdefault("state_row", name)
    return register(
        Operation(name, handler, accepts_alias=True, cross_account=True, dry_run=True, **fields)
    )


def no_recipient(params: Params) -> None:
    if params.get("Recipient"):
        raise UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not supported by kmspolicy."
        )


def require_usage(key: AuthorizedKey, usage: KeyUsage, operation: str) -> None:
    if key.record.key_usage != usage:
        raise InvalidKeyUsageException(
            f"{key.arn} key usage is {key.record.key_usage} which is not valid for {operation}."
        )


def require_symmetric(key: AuthorizedKey, operation: str) -> None:
    require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation)
    if not is_symmetric(key.record.key_spec):
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.record.key_spec}; {operation} needs a symmetric "
            "encryption KMS key."
        )


@cache
def _encryption_algorithms(spec: str) -> frozenset[str]:
    return frozenset(str(a) for a in encryption_algorithms(spec))


def encryption_algorithm(key: AuthorizedKey, algorithm: str | None, context: Any) -> str:
    """The algorithm to use with ``key``; InvalidKeyUsage when the key does not offer it."""
    alg = algorithm or DEFAULT_ENCRYPTION_ALGORITHM
    if alg not in _encryption_algorithms(key.record.key_spec):
        raise InvalidKeyUsageException(
            f"{key.arn} does not support encryption algorithm {alg}."
            + ("" if algorithm else " Specify EncryptionAlgorithm for asymmetric keys.")
        )
    if context and alg != EncryptionAlgorithm.SYMMETRIC_DEFAULT:
        raise ValidationException(
            "EncryptionContext is supported only with symmetric encryption KMS keys."
        )
    return alg
