"""The ciphertext blob of a key in an external key store (format version 2): double encryption.

Layer: crypto. Format in docs/ciphertext-blob.md. As AWS describes external key stores, the
data is encrypted twice: first under the KMS key's own material, held by kmspolicy (sealed under
its root key, like any key's), then by the external key, through the XKS proxy. The header is
version 1's with version byte ``02`` (so ``parse_blob_header`` names the key and material before
anything is decrypted), and the proxy's IV, tag and ciphertext metadata follow it:

    header (magic, 02, key id, material id, nonce)
    | iv length:1 | iv (12 or 16) | tag (16) | metadata length:1 | metadata (0..20)
    | outer ciphertext (plaintext length + 16)

The inner layer is AES-256-GCM under the key's material with the nonce of the header and
``AAD = header || encryption context`` (as version 1); its ciphertext and tag are the proxy's
plaintext. The proxy's AAD is ``header || SHA-256(encryption context)``: the header binds the
outer layer to this key, version and nonce, the digest to the context, in a fixed 32 bytes
whatever the context's size. This module does the inner layer and the framing; the proxy call
is the caller's (``kms.keystores``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmspolicy import messages
from kmspolicy.crypto.blob import (
    MAGIC,
    MATERIAL_ID_LENGTH,
    NONCE_LENGTH,
    TAG_LENGTH,
    XKS_VERSION,
    header_prefix,
)
from kmspolicy.crypto.encoding import encode_encryption_context
from kmspolicy.crypto.material import KeyMaterial
from kmspolicy.crypto.specs import MAX_PLAINTEXT_SYMMETRIC, KeySpec
from kmspolicy.errors import InvalidCiphertextException, ValidationException

IV_LENGTHS = (12, 16)
METADATA_MAX = 20


@dataclass(frozen=True, slots=True)
class OuterLayer:
    """What the proxy's Encrypt returned, as the blob carries it."""

    ciphertext: bytes
    iv: bytes
    tag: bytes
    metadata: bytes = b""


@dataclass(frozen=True, slots=True)
class XksBlob:
    """A version 2 blob taken apart (nothing verified yet)."""

    header: bytes
    nonce: bytes
    outer: OuterLayer


def xks_header(key_id: str, material_id: str, nonce: bytes) -> bytes:
    """The header of a version 2 blob: version 1's prefix with version byte 02, and the nonce."""
    if len(nonce) != NONCE_LENGTH:
        raise ValueError(f"the nonce must be {NONCE_LENGTH} bytes (check the rng)")
    prefix = header_prefix(key_id, material_id)
    return prefix[:2] + bytes((XKS_VERSION,)) + prefix[3:] + nonce


def seal_inner(
    material: KeyMaterial, header: bytes, plaintext: bytes, context: Mapping[str, str] | None
) -> bytes:
    """The inner layer: AES-256-GCM under the key's own material (ciphertext and tag)."""
    if len(plaintext) > MAX_PLAINTEXT_SYMMETRIC:
        raise ValidationException(
            f"plaintext is {len(plaintext)} bytes; the limit is {MAX_PLAINTEXT_SYMMETRIC} bytes"
        )
    nonce = header[-NONCE_LENGTH:]
    return _aead(material).encrypt(nonce, plaintext, header + encode_encryption_context(context))


def outer_aad(header: bytes, context: Mapping[str, str] | None) -> bytes:
    """The AAD the proxy authenticates: the header and the digest of the encryption context."""
    return header + hashlib.sha256(encode_encryption_context(context)).digest()


def assemble(header: bytes, outer: OuterLayer) -> bytes:
    if len(outer.iv) not in IV_LENGTHS or len(outer.tag) != TAG_LENGTH:
        raise ValueError("the proxy's IV or tag has the wrong length")
    if len(outer.metadata) > METADATA_MAX:
        raise ValueError("the proxy's ciphertext metadata is longer than 20 bytes")
    return b"".join(
        (
            header,
            bytes((len(outer.iv),)),
            outer.iv,
            outer.tag,
            bytes((len(outer.metadata),)),
            outer.metadata,
            outer.ciphertext,
        )
    )


def split(blob: bytes) -> XksBlob:
    """A version 2 blob's parts; anything malformed → InvalidCiphertextException (opaque)."""
    data = bytes(blob)
    if len(data) < 4 or data[:2] != MAGIC or data[2] != XKS_VERSION:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    end = 4 + data[3] + MATERIAL_ID_LENGTH + NONCE_LENGTH
    if len(data) < end + 1:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    header, at = data[:end], end
    iv_length = data[at]
    at += 1
    if iv_length not in IV_LENGTHS or len(data) < at + iv_length + TAG_LENGTH + 1:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    iv = data[at : at + iv_length]
    tag = data[at + iv_length : at + iv_length + TAG_LENGTH]
    at += iv_length + TAG_LENGTH
    md_length = data[at]
    at += 1
    if md_length > METADATA_MAX or len(data) < at + md_length + TAG_LENGTH:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    metadata = data[at : at + md_length]
    outer = OuterLayer(data[at + md_length :], iv, tag, metadata)
    return XksBlob(header, header[-NONCE_LENGTH:], outer)


def open_inner(
    material: KeyMaterial, blob: XksBlob, inner: bytes, context: Mapping[str, str] | None
) -> bytes:
    """The plaintext of the inner layer the proxy returned; one opaque failure."""
    aad = blob.header + encode_encryption_context(context)
    try:
        return _aead(material).decrypt(blob.nonce, inner, aad)
    except InvalidTag:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT) from None


def _aead(material: KeyMaterial) -> AESGCM:
    if material.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise ValueError("an external key store's key is SYMMETRIC_DEFAULT")
    return AESGCM(material.secret)
