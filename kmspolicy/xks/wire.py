"""The four APIs on the wire: request validation and response shapes (XKS Proxy API v1).

Layer: xks. Pure functions from a decoded JSON body to typed requests; every fault is the
specification's error: a missing or mistyped member, or bad Base64 → ``ValidationException``;
an IV, tag or ciphertext metadata of the wrong length on Decrypt → ``InvalidCiphertextException``;
a value larger than this proxy supports (beyond the specification's minimums) →
``UnsupportedOperationException``. ``requestMetadata`` members this proxy does not know are
ignored (the specification says KMS may add some), and so are unknown top-level members.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from kmspolicy.crypto import xks as gcm
from kmspolicy.xks.errors import (
    InvalidCiphertextException,
    UnsupportedOperationException,
    ValidationException,
)

#: what this proxy accepts: the specification asks for at least 4300 bytes of plaintext or
#: ciphertext and 8192 bytes of AAD; kmspolicy's own external key stores send their ciphertext
#: blobs (a few dozen bytes over the caller's plaintext) and the encryption context
DATA_MAX = 8192
AAD_MAX = 16384
#: a metadata string: ARNs up to 2048 characters must be accepted
METADATA_VALUE_MAX = 4096
#: the largest body: the data and AAD in Base64 and the metadata, with room to spare
MAX_BODY = 64 * 1024

ENCRYPTION_ALGORITHM = "AES_GCM"
CDIV_ALGORITHM = "SHA_256"

# requestMetadata members: (name on the wire, required for the key APIs)
_METADATA = (
    ("awsPrincipalArn", True),
    ("kmsOperation", True),
    ("kmsRequestId", True),
    ("kmsKeyArn", False),
    ("kmsViaService", False),
    ("awsSourceVpc", False),
    ("awsSourceVpce", False),
)


@dataclass(frozen=True, slots=True)
class RequestMetadata:
    """The members of ``requestMetadata`` this proxy reads (all logged; none secret)."""

    values: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    @property
    def operation(self) -> str:
        return self.values.get("kmsOperation", "")


@dataclass(frozen=True, slots=True)
class EncryptRequest:
    plaintext: bytes
    aad: bytes
    cdiv: bool


@dataclass(frozen=True, slots=True)
class DecryptRequest:
    ciphertext: bytes
    metadata: bytes
    aad: bytes
    iv: bytes
    tag: bytes


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationException("the request body is not a JSON object") from None
    if not isinstance(value, dict):
        raise ValidationException("the request body is not a JSON object")
    return value


def request_metadata(body: dict[str, Any], *, api: str) -> RequestMetadata:
    """The ``requestMetadata`` of a key API (GetKeyMetadata, Encrypt, Decrypt)."""
    raw = body.get("requestMetadata")
    if not isinstance(raw, dict):
        raise ValidationException("`requestMetadata` is required and must be an object")
    values: dict[str, str] = {}
    for name, required in _METADATA:
        value = raw.get(name)
        if value is None:
            # kmsKeyArn is absent from GetKeyMetadata during CreateKey, present otherwise
            if required or (name == "kmsKeyArn" and api != "GetKeyMetadata"):
                raise ValidationException(f"`requestMetadata.{name}` is required")
            continue
        if not isinstance(value, str):
            raise ValidationException(f"`requestMetadata.{name}` must be a string")
        if len(value) > METADATA_VALUE_MAX:
            raise UnsupportedOperationException(
                f"`requestMetadata.{name}` is longer than {METADATA_VALUE_MAX} characters"
            )
        values[name] = value
    return RequestMetadata(values)


def health_metadata(body: bytes) -> RequestMetadata:
    """GetHealthStatus's metadata, read leniently: its errors exclude ValidationException, so
    a malformed body is still answered (the members that are strings are logged)."""
    try:
        raw = json.loads(body).get("requestMetadata")
    except (ValueError, RecursionError, AttributeError):
        return RequestMetadata({})
    if not isinstance(raw, dict):
        return RequestMetadata({})
    return RequestMetadata(
        {
            k: v[:METADATA_VALUE_MAX]
            for k in ("kmsOperation", "kmsRequestId")
            if isinstance(v := raw.get(k), str)
        }
    )


def encrypt_request(body: dict[str, Any]) -> EncryptRequest:
    _algorithm(body)
    plaintext = _b64(body, "plaintext", DATA_MAX, required=True)
    aad = _b64(body, "additionalAuthenticatedData", AAD_MAX, required=False)
    cdiv = body.get("ciphertextDataIntegrityValueAlgorithm")
    if cdiv is not None and cdiv != CDIV_ALGORITHM:
        raise ValidationException(
            f"`ciphertextDataIntegrityValueAlgorithm` must be {CDIV_ALGORITHM}"
        )
    return EncryptRequest(plaintext, aad, cdiv is not None)


def decrypt_request(body: dict[str, Any]) -> DecryptRequest:
    _algorithm(body)
    ciphertext = _b64(body, "ciphertext", DATA_MAX, required=True)
    metadata = _b64(body, "ciphertextMetadata", 1024, required=False)
    aad = _b64(body, "additionalAuthenticatedData", AAD_MAX, required=False)
    iv = _b64(body, "initializationVector", 1024, required=True)
    tag = _b64(body, "authenticationTag", 1024, required=True)
    if len(iv) not in gcm.IV_LENGTHS:
        raise InvalidCiphertextException("the initialization vector must be 12 or 16 bytes")
    if len(tag) != gcm.TAG_BYTES:
        raise InvalidCiphertextException("the authentication tag must be 16 bytes")
    if len(metadata) > gcm.METADATA_MAX:
        raise InvalidCiphertextException("the ciphertext metadata is longer than 20 bytes")
    return DecryptRequest(ciphertext, metadata, aad, iv, tag)


def _algorithm(body: dict[str, Any]) -> None:
    algorithm = body.get("encryptionAlgorithm")
    if algorithm is None:
        raise ValidationException("`encryptionAlgorithm` is required")
    if algorithm != ENCRYPTION_ALGORITHM:
        raise ValidationException(f"`encryptionAlgorithm` must be {ENCRYPTION_ALGORITHM}")


def _b64(body: dict[str, Any], name: str, limit: int, *, required: bool) -> bytes:
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationException(f"`{name}` is required")
        return b""
    if not isinstance(value, str):
        raise ValidationException(f"`{name}` must be a Base64 string")
    if len(value) > (limit + 2) // 3 * 4:
        raise UnsupportedOperationException(f"`{name}` is longer than {limit} bytes")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationException(f"`{name}` is not valid Base64") from None
    if len(decoded) > limit:
        raise UnsupportedOperationException(f"`{name}` is longer than {limit} bytes")
    return decoded


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
