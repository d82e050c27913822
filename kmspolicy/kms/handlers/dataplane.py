"""Rules shared by the data-plane handler modules (encryption, data keys, signatures).

Layer: kms. The parameter check of every operation with an encryption context (before
authorization) and the key checks every cryptographic handler makes first: the key's usage,
symmetric encryption keys, the encryption algorithm the key offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kmspolicy import messages
from kmspolicy.crypto.specs import (
    EncryptionAlgorithm,
    KeySpec,
    KeyUsage,
    encryption_algorithms,
    is_symmetric,
)
from kmspolicy.errors import (
    InvalidKeyUsageException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.kernel import AuthorizedKey

__all__ = [
    "DEFAULT_ENCRYPTION_ALGORITHM",
    "Params",
    "check_encryption_contexts",
    "encryption_algorithm",
    "no_recipient",
    "require_symmetric",
    "require_usage",
]

Params = Mapping[str, Any]
#: What KMS assumes when EncryptionAlgorithm is omitted (also the condition-key default).
DEFAULT_ENCRYPTION_ALGORITHM: str = EncryptionAlgorithm.SYMMETRIC_DEFAULT.value


_CONTEXT_MEMBERS = ("EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext")
_CONTEXT_TEXT_MAX = 0xFFFF  # the AAD encoding's length prefix (crypto.encoding)


def check_encryption_contexts(params: Params) -> None:
    """ValidationException for a context key or value over 65,535 UTF-8 bytes, which the AAD
    encoding cannot hold: refused before authorization, so that a caller cannot reach the
    crypto kernel with a request that must fail there (docs/deviations.md)."""
    if params.keys().isdisjoint(_CONTEXT_MEMBERS):  # no context at all: one check in C
        return
    for member in _CONTEXT_MEMBERS:
        context = params.get(member)
        if not context:
            continue
        for key, value in context.items():
            for text, part in ((key, "key"), (value, "value")):
                # at most 4 UTF-8 bytes per character: only long texts need encoding
                if len(text) * 4 > _CONTEXT_TEXT_MAX and len(text.encode()) > _CONTEXT_TEXT_MAX:
                    raise ValidationException(
                        f"1 validation error detected: Value at '{member[:1].lower()}"
                        f"{member[1:]}' failed to satisfy constraint: each encryption context "
                        f"{part} must be at most {_CONTEXT_TEXT_MAX} bytes in UTF-8"
                    )


def no_recipient(params: Params) -> None:
    if params.get("Recipient"):
        raise UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not supported by kmspolicy."
        )


def require_usage(key: AuthorizedKey, usage: KeyUsage, operation: str) -> None:
    if key.info.key_usage != usage:
        raise InvalidKeyUsageException(
            messages.usage_not_valid(key.arn, key.info.key_usage, operation)
        )


def require_symmetric(key: AuthorizedKey, operation: str) -> None:
    require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation)
    if not is_symmetric(key.info.key_spec):
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.info.key_spec}; {operation} needs a symmetric "
            "encryption KMS key."
        )


#: The encryption algorithms of every key spec
_ENCRYPTION_ALGORITHMS: Mapping[str, frozenset[str]] = MappingProxyType(
    {str(spec): frozenset(str(a) for a in encryption_algorithms(spec)) for spec in KeySpec}
)


def encryption_algorithm(key: AuthorizedKey, algorithm: str | None, context: Any) -> str:
    """The algorithm to use with ``key``; InvalidKeyUsage when the key does not offer it."""
    alg = algorithm or DEFAULT_ENCRYPTION_ALGORITHM
    if alg not in _ENCRYPTION_ALGORITHMS.get(key.info.key_spec, ()):
        raise InvalidKeyUsageException(messages.algorithm_incompatible(alg, key.info.key_spec))
    if context and alg != EncryptionAlgorithm.SYMMETRIC_DEFAULT:
        raise ValidationException(
            "EncryptionContext is supported only with symmetric encryption KMS keys."
        )
    return alg
