"""The AES-GCM recipe of the XKS Proxy API (v1): what ``kmspolicy xks-proxy`` does with a key.

Layer: crypto. The proxy's Encrypt/Decrypt are AES-256-GCM with a 128-bit tag over the caller's
additional authenticated data (AAD) and the proxy's optional ``ciphertextMetadata``. Following
the specification, the AAD given to GCM frames both with their lengths (2-byte big-endian
length of the AAD, the AAD, 1-byte length of the metadata, the metadata), so that a metadata
value moved into the AAD (or back) does not decrypt. The ciphertext data integrity value
(CDIV) is SHA-256 over the plain concatenation AAD || metadata || IV || ciphertext || tag
(no lengths: it guards against bit flips, not an adversary).
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmspolicy.crypto.material import Rng

KEY_BYTES = 32  # AES_256, the only key spec of v1
IV_BYTES = 12  # what this proxy generates; Decrypt also accepts the spec's 16-byte IVs
IV_LENGTHS = (12, 16)
TAG_BYTES = 16
METADATA_MAX = 20  # bytes of ciphertextMetadata the spec allows
AAD_MAX = 0xFFFF  # the 2-byte length prefix bounds the AAD


class XksDecryptError(Exception):
    """The ciphertext, IV, tag, AAD or metadata do not belong together (no reason given)."""


def gcm_aad(aad: bytes, metadata: bytes) -> bytes:
    """The AAD input of AES-GCM: ``len(aad):2 || aad || len(metadata):1 || metadata``."""
    if len(aad) > AAD_MAX or len(metadata) > METADATA_MAX:
        raise ValueError("AAD or ciphertext metadata too long for the framing")
    return len(aad).to_bytes(2, "big") + aad + bytes((len(metadata),)) + metadata


def check_sealed_form(iv: bytes, tag: bytes, aad: bytes, metadata: bytes) -> None:
    """XksDecryptError unless the IV, tag, AAD and metadata have lengths a Decrypt can take
    (whichever key manager then runs the GCM)."""
    if len(iv) not in IV_LENGTHS or len(tag) != TAG_BYTES or len(metadata) > METADATA_MAX:
        raise XksDecryptError
    if len(aad) > AAD_MAX:
        raise XksDecryptError


def generate_key(rng: Rng = os.urandom) -> bytes:
    """32 fresh random bytes for a new external key."""
    key = rng(KEY_BYTES)
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"rng({KEY_BYTES}) must return exactly {KEY_BYTES} bytes")
    return key


def encrypt(
    key: bytes, plaintext: bytes, aad: bytes, metadata: bytes = b"", *, rng: Rng = os.urandom
) -> tuple[bytes, bytes, bytes]:
    """``(iv, ciphertext, tag)`` of ``plaintext`` under ``key``, bound to ``aad`` and
    ``metadata``."""
    return _encrypt_from_parts(key, plaintext, aad, metadata, rng(IV_BYTES))


def _encrypt_from_parts(
    key: bytes, plaintext: bytes, aad: bytes, metadata: bytes, iv: bytes
) -> tuple[bytes, bytes, bytes]:
    """The deterministic core of ``encrypt``; a seam for known-answer tests only."""
    _check_key(key)
    if len(iv) != IV_BYTES:
        raise ValueError(f"the IV must be {IV_BYTES} bytes (check the rng)")
    sealed = AESGCM(key).encrypt(iv, plaintext, gcm_aad(aad, metadata))
    return iv, sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]


def decrypt(
    key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes, metadata: bytes = b""
) -> bytes:
    """The plaintext; any mismatch → XksDecryptError (one message, no reason)."""
    _check_key(key)
    check_sealed_form(iv, tag, aad, metadata)
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, gcm_aad(aad, metadata))
    except InvalidTag:
        raise XksDecryptError from None


def cdiv(aad: bytes, metadata: bytes, iv: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """The ciphertext data integrity value (SHA_256), as the specification's Appendix C."""
    return hashlib.sha256(aad + metadata + iv + ciphertext + tag).digest()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"an XKS key is exactly {KEY_BYTES} bytes (AES_256)")
