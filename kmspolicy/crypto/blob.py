"""The symmetric ciphertext blob: versioned header (key id, material id, nonce) + AES-256-GCM.

Layer: crypto. Format in docs/ciphertext-blob.md. The header is readable without the key
(``parse_blob_header``, so the service can resolve and authorize the key before decrypting)
and is authenticated together with the canonical encryption context as the GCM AAD.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmspolicy import messages
from kmspolicy.crypto.encoding import encode_encryption_context
from kmspolicy.crypto.material import KeyMaterial, Rng, key_material_id
from kmspolicy.crypto.specs import MAX_PLAINTEXT_SYMMETRIC, KeySpec
from kmspolicy.errors import InvalidCiphertextException, ValidationException

MAGIC = b"kp"
VERSION = 1
XKS_VERSION = 2  # the version of crypto.xksblob's blobs
NONCE_LENGTH = 12
TAG_LENGTH = 16
MATERIAL_ID_LENGTH = 32
MAX_KEY_ID_LENGTH = 255  # the header stores the key id length in one byte
_KEY_ID = re.compile(rb"[A-Za-z0-9_-]{1,%d}" % MAX_KEY_ID_LENGTH)
# The one message of every blob failure: it must not say whether the header, the tag, the
# key or the context was wrong.


#: a BlobHeader from its fields, in C (a NamedTuple's ``__new__`` is a Python function)
_new = tuple.__new__


class BlobHeader(NamedTuple):
    """What a blob says about itself before anything is verified: treat it as a claim. (A
    tuple: read up to twice per Decrypt, and a tuple is made in one call.)"""

    version: int
    key_id: str
    material_id: str  # 64 lowercase hex, the KeyMaterialId
    nonce: bytes
    length: int  # bytes of header, i.e. the offset of the ciphertext


def blob_overhead(key_id: str) -> int:
    """Bytes a blob adds to its plaintext for ``key_id`` (100 for a 36-character key id)."""
    return len(MAGIC) + 2 + len(key_id) + MATERIAL_ID_LENGTH + NONCE_LENGTH + TAG_LENGTH


def encrypt_blob(
    material: KeyMaterial,
    key_id: str,
    plaintext: bytes,
    context: Mapping[str, str] | None = None,
    *,
    material_id: str | None = None,
    rng: Rng = os.urandom,
    prefix: bytes | None = None,
) -> bytes:
    """Encrypt ``plaintext`` (0..4096 bytes) under SYMMETRIC_DEFAULT ``material``.

    ``material_id`` is the version's KeyMaterialId (computed from key id and material when
    omitted). ``prefix``: ``header_prefix(key_id, material_id)``, passed by a caller that
    encrypts many times under one version (checking and encoding the ids is most of this
    function's own cost). Plaintext over 4096 bytes → ValidationException; misuse →
    TypeError/ValueError.
    """
    return _encrypt_from_parts(
        material, key_id, plaintext, context, material_id, rng(NONCE_LENGTH), prefix
    )


def _encrypt_from_parts(
    material: KeyMaterial,
    key_id: str,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    material_id: str | None,
    nonce: bytes,
    prefix: bytes | None = None,
) -> bytes:
    """The deterministic core of ``encrypt_blob``; a seam for known-answer tests only."""
    aead = _aead(material)
    if prefix is None:
        mid = material_id if material_id is not None else key_material_id(key_id, material)
        prefix = header_prefix(key_id, mid)
    return BlobSealer(aead, prefix).seal(plaintext, context, nonce)


class BlobSealer:
    """Writes the blobs of one key version: its AES-GCM object and header prefix (the key id
    and material id checked and encoded) made once, for a caller that encrypts many times
    under that version (``blob_sealer``)."""

    __slots__ = ("_aead", "_prefix")

    def __init__(self, aead: AESGCM, prefix: bytes) -> None:
        self._aead = aead
        self._prefix = prefix

    def seal(self, plaintext: bytes, context: Mapping[str, str] | None, nonce: bytes) -> bytes:
        """``encrypt_blob`` under this version with ``nonce`` (12 random bytes)."""
        if plaintext.__class__ is not bytes:  # a request's plaintext is bytes: one test
            if not isinstance(plaintext, bytes | bytearray | memoryview):
                raise TypeError(f"plaintext must be bytes, not {type(plaintext).__name__}")
            plaintext = bytes(plaintext)
        if len(plaintext) > MAX_PLAINTEXT_SYMMETRIC:
            raise ValidationException(
                f"plaintext is {len(plaintext)} bytes; the limit is {MAX_PLAINTEXT_SYMMETRIC} bytes"
            )
        if not isinstance(nonce, bytes) or len(nonce) != NONCE_LENGTH:
            raise ValueError(f"the nonce must be {NONCE_LENGTH} bytes (check the rng)")
        header = self._prefix + nonce
        # no context (most requests): the AAD is the header alone
        aad = header + encode_encryption_context(context) if context else header
        return header + self._aead.encrypt(nonce, plaintext, aad)


def blob_sealer(material: KeyMaterial, key_id: str, material_id: str) -> BlobSealer:
    """The sealer of ``material``'s blobs as version ``material_id`` of key ``key_id``
    (TypeError/ValueError for material that is not symmetric, malformed ids)."""
    return BlobSealer(_aead(material), header_prefix(key_id, material_id))


def header_prefix(key_id: str, material_id: str) -> bytes:
    """magic | version | key id length | key id | material id: a blob's header before its
    nonce, the same for every blob of one version (ValueError for malformed ids)."""
    kid = key_id.encode("ascii") if isinstance(key_id, str) and key_id.isascii() else b""
    if not _KEY_ID.fullmatch(kid):
        raise ValueError(
            f"key id {key_id!r} must be 1-{MAX_KEY_ID_LENGTH} characters of [A-Za-z0-9_-]"
        )
    try:
        mid_bytes = bytes.fromhex(material_id)
    except (ValueError, TypeError):
        mid_bytes = b""
    if len(mid_bytes) != MATERIAL_ID_LENGTH:
        raise ValueError(f"material id must be {2 * MATERIAL_ID_LENGTH} hex characters")
    return b"".join((MAGIC, bytes((VERSION, len(kid))), kid, mid_bytes))


#: AES-256-GCM performed elsewhere (an HSM): (nonce, data, aad) -> ciphertext and tag
SealWith = Callable[[bytes, bytes, bytes], bytes]
#: its inverse: (nonce, ciphertext and tag, aad) -> plaintext, or None when the tag fails
OpenWith = Callable[[bytes, bytes, bytes], "bytes | None"]


def encrypt_blob_with(
    seal: SealWith,
    key_id: str,
    material_id: str,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    nonce: bytes,
) -> bytes:
    """``encrypt_blob``'s format with the AES-256-GCM done by ``seal`` (a key that never
    leaves its HSM): the same header, nonce, AAD and tag, so the same parsing and limits."""
    if len(plaintext) > MAX_PLAINTEXT_SYMMETRIC:
        raise ValidationException(
            f"plaintext is {len(plaintext)} bytes; the limit is {MAX_PLAINTEXT_SYMMETRIC} bytes"
        )
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_LENGTH:
        raise ValueError(f"the nonce must be {NONCE_LENGTH} bytes (check the rng)")
    header = header_prefix(key_id, material_id) + nonce
    sealed = seal(nonce, bytes(plaintext), header + encode_encryption_context(context))
    if len(sealed) != len(plaintext) + TAG_LENGTH:
        raise ValueError("the AES-GCM of the HSM returned a ciphertext of the wrong length")
    return header + sealed


def decrypt_blob_with(
    open_: OpenWith,
    blob: bytes,
    context: Mapping[str, str] | None,
    *,
    header: BlobHeader | None = None,
) -> bytes:
    """``decrypt_blob`` with the AES-256-GCM done by ``open_``; one opaque failure."""
    if header is None:
        header = parse_blob_header(blob)
    data = bytes(blob)
    aad = data[: header.length] + encode_encryption_context(context)
    plaintext = open_(header.nonce, data[header.length :], aad)
    if plaintext is None:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    return plaintext


def parse_blob_header(blob: bytes) -> BlobHeader:
    """Read the header WITHOUT decrypting or verifying anything (nothing here is trusted yet).

    A malformed header → InvalidCiphertextException. The service must also answer a header
    whose key id or material id it cannot find with InvalidCiphertextException, not
    NotFoundException: a flipped bit in the key id must look like any other corruption.
    """
    if blob.__class__ is not bytes:  # a request's blob is bytes: one test
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise TypeError(f"ciphertext blob must be bytes, not {type(blob).__name__}")
        blob = bytes(blob)
    # version 2 is an external key store's blob (crypto.xksblob): the same header
    if len(blob) < 4 or blob[:2] != MAGIC or blob[2] not in (VERSION, XKS_VERSION):
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    start = 4 + blob[3]  # after the key id, whose length is byte 3
    nonce = start + MATERIAL_ID_LENGTH
    end = nonce + NONCE_LENGTH
    kid = blob[4:start]
    if len(blob) < end + TAG_LENGTH or not _KEY_ID.fullmatch(kid):
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    # version, key id, material id, nonce, header length: made in C (``BlobHeader``'s order)
    return _new(
        BlobHeader, (blob[2], kid.decode("ascii"), blob[start:nonce].hex(), blob[nonce:end], end)
    )


def decrypt_blob(
    material: KeyMaterial,
    blob: bytes,
    context: Mapping[str, str] | None = None,
    *,
    header: BlobHeader | None = None,
) -> bytes:
    """The plaintext of ``blob``.

    Any flipped bit, other key or other context → InvalidCiphertextException (one message).
    ``header``: ``parse_blob_header(blob)``, passed by a caller that has read it already (the
    service reads it to find and authorize the key); its nonce and length are the blob's, and
    the tag authenticates them with the rest of the header.
    """
    aead = _aead(material)
    if header is None:
        header = parse_blob_header(blob)
    if header.version != VERSION:  # an external key store's blob: never opened here
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
    data = bytes(blob)
    # a malformed context raises TypeError/ValueError: the caller's mistake, not a bad blob
    aad = data[: header.length] + encode_encryption_context(context)
    try:
        return aead.decrypt(header.nonce, data[header.length :], aad)
    except InvalidTag:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT) from None


def _aead(material: KeyMaterial) -> AESGCM:
    """The AESGCM object of symmetric material, cached on it (construction costs a few µs)."""
    if not isinstance(material, KeyMaterial):
        raise TypeError(f"expected KeyMaterial, not {type(material).__name__}")
    if material.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise ValueError(f"ciphertext blobs need SYMMETRIC_DEFAULT material, not {material.spec}")
    aead = material._private
    if aead is None:
        aead = AESGCM(material.secret)
        object.__setattr__(material, "_private", aead)
    return aead  # type: ignore[no-any-return]  # _private holds the AESGCM for symmetric material
