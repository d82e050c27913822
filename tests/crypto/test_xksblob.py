"""The version 2 blob of external key stores: layout, both layers, and one opaque failure."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmspolicy.crypto import xksblob
from kmspolicy.crypto.blob import decrypt_blob, parse_blob_header
from kmspolicy.crypto.material import KeyMaterial
from kmspolicy.crypto.specs import KeySpec
from kmspolicy.errors import InvalidCiphertextException, ValidationException

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MID = "ab" * 32
CTX = {"tenant": "a"}


def _proxy_key() -> bytes:
    return os.urandom(32)


def _round(material: KeyMaterial, plaintext: bytes, context=CTX, metadata: bytes = b"") -> tuple:
    """Encrypt as an external key store does, the 'proxy' being AES-GCM under another key."""
    external = _proxy_key()
    header = xksblob.xks_header(KEY_ID, MID, os.urandom(12))
    inner = xksblob.seal_inner(material, header, plaintext, context)
    iv = os.urandom(12)
    sealed = AESGCM(external).encrypt(iv, inner, xksblob.outer_aad(header, context))
    outer = xksblob.OuterLayer(sealed[:-16], iv, sealed[-16:], metadata)
    return xksblob.assemble(header, outer), external


def _open(material: KeyMaterial, blob: bytes, external: bytes, context=CTX) -> bytes:
    parts = xksblob.split(blob)
    inner = AESGCM(external).decrypt(
        parts.outer.iv,
        parts.outer.ciphertext + parts.outer.tag,
        xksblob.outer_aad(parts.header, context),
    )
    return xksblob.open_inner(material, parts, inner, context)


def material() -> KeyMaterial:
    return KeyMaterial(KeySpec.SYMMETRIC_DEFAULT, os.urandom(32))


def test_round_trip_and_header() -> None:
    own = material()
    blob, external = _round(own, b"secret data", metadata=b"v1")
    header = parse_blob_header(blob)
    assert (header.version, header.key_id, header.material_id) == (2, KEY_ID, MID)
    # header 84 + iv 1+12 + tag 16 + metadata 1+2 + data 11 + inner tag 16
    assert len(blob) == 84 + 13 + 16 + 3 + 11 + 16
    assert _open(own, blob, external) == b"secret data"


def test_a_version_2_blob_is_never_opened_as_version_1() -> None:
    own = material()
    blob, _ = _round(own, b"x")
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(own, blob, CTX)


def test_the_inner_layer_needs_the_key_and_the_context() -> None:
    own = material()
    blob, external = _round(own, b"x")
    with pytest.raises(InvalidCiphertextException):
        _open(material(), blob, external)
    parts = xksblob.split(blob)
    inner = AESGCM(external).decrypt(
        parts.outer.iv,
        parts.outer.ciphertext + parts.outer.tag,
        xksblob.outer_aad(parts.header, CTX),
    )
    with pytest.raises(InvalidCiphertextException):
        xksblob.open_inner(own, parts, inner, {"tenant": "b"})


@pytest.mark.parametrize("cut", [0, 3, 84, 85, 97, 113, 114, 120])
def test_truncated_blobs_are_opaque(cut: int) -> None:
    blob, _ = _round(material(), b"")
    with pytest.raises(InvalidCiphertextException):
        xksblob.split(blob[:cut])


def test_oversized_fields_are_refused() -> None:
    header = xksblob.xks_header(KEY_ID, MID, bytes(12))
    with pytest.raises(ValueError):
        xksblob.assemble(header, xksblob.OuterLayer(b"", bytes(8), bytes(16)))
    with pytest.raises(ValueError):
        xksblob.assemble(header, xksblob.OuterLayer(b"", bytes(12), bytes(16), bytes(21)))
    with pytest.raises(ValidationException):
        xksblob.seal_inner(material(), header, bytes(4097), None)
