"""Root-key sealing: how stores keep key material encrypted at rest (AES-256-GCM recipe).

Layer: crypto. No filesystem access: the store layer reads/writes the root-key file (0600)
and chooses the associated data that binds a sealed secret to its row.

Sealed layout: ``"ks" | version 0x01 | fingerprint(8) | nonce(12) | ciphertext | tag(16)``;
AAD = the 23-byte header followed by the caller's ``aad``.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmspolicy.crypto.material import Rng
from kmspolicy.errors import InternalError

ROOT_KEY_LENGTH = 32
FINGERPRINT_LENGTH = 8
_MAGIC = b"ks"
_VERSION = 1
_NONCE = 12
_HEADER = len(_MAGIC) + 1 + FINGERPRINT_LENGTH + _NONCE
_TAG = 16
_FINGERPRINT_LABEL = b"kmspolicy root key fingerprint v1"


class SealError(InternalError):
    """A sealed value could not be opened: wrong root key, wrong AAD, or modified bytes.

    Deliberately says nothing more; ``sealed_fingerprint`` tells an operator which root key
    sealed a value.
    """

    def __init__(self) -> None:
        super().__init__("sealed data could not be opened with this root key and associated data")


def generate_root_key(rng: Rng = os.urandom) -> bytes:
    """32 fresh random bytes for a new root key (the caller persists them)."""
    key = rng(ROOT_KEY_LENGTH)
    if not isinstance(key, bytes) or len(key) != ROOT_KEY_LENGTH:
        raise ValueError(f"rng({ROOT_KEY_LENGTH}) must return exactly {ROOT_KEY_LENGTH} bytes")
    return key


def root_key_fingerprint(root_key: bytes) -> str:
    """16 hex characters identifying a root key without revealing it (safe to log)."""
    _check_root(root_key)
    mac = hmac.new(root_key, _FINGERPRINT_LABEL, hashlib.sha256).digest()
    return mac[:FINGERPRINT_LENGTH].hex()


def seal(root_key: bytes, plaintext: bytes, aad: bytes = b"", *, rng: Rng = os.urandom) -> bytes:
    """Encrypt ``plaintext`` (any length) under ``root_key``, bound to ``aad``."""
    return _seal_from_parts(root_key, plaintext, aad, rng(_NONCE))


def _seal_from_parts(root_key: bytes, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
    """The deterministic core of ``seal``; a seam for known-answer tests only."""
    _check_root(root_key)
    return _seal_with(AESGCM(root_key), _header_start(root_key), plaintext, aad, nonce)


def _header_start(root_key: bytes) -> bytes:
    """Magic, version and fingerprint: the header of every blob this key seals, before its nonce."""
    return _MAGIC + bytes((_VERSION,)) + bytes.fromhex(root_key_fingerprint(root_key))


def _seal_with(aead: AESGCM, start: bytes, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
    if not isinstance(plaintext, bytes) or not isinstance(aad, bytes):
        raise TypeError("plaintext and aad must be bytes")
    if not isinstance(nonce, bytes) or len(nonce) != _NONCE:
        raise ValueError(f"the nonce must be {_NONCE} bytes (check the rng)")
    header = start + nonce
    return header + aead.encrypt(nonce, plaintext, header + aad)


def unseal(root_key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """The plaintext of ``sealed``; any failure → SealError (one message, no reason given)."""
    _check_root(root_key)
    return _unseal_with(AESGCM(root_key), sealed, aad)


def _unseal_with(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if not isinstance(sealed, bytes) or not isinstance(aad, bytes):
        raise TypeError("sealed data and aad must be bytes")
    if len(sealed) < _HEADER + _TAG or sealed[:2] != _MAGIC or sealed[2] != _VERSION:
        raise SealError
    header = sealed[:_HEADER]
    try:
        return aead.decrypt(header[-_NONCE:], sealed[_HEADER:], header + aad)
    except InvalidTag:
        raise SealError from None


def sealed_fingerprint(sealed: bytes) -> str | None:
    """The fingerprint of the root key that claims to have sealed ``sealed`` (unverified)."""
    if len(sealed) < _HEADER or sealed[:2] != _MAGIC:
        return None
    return sealed[3 : 3 + FINGERPRINT_LENGTH].hex()


def _check_root(root_key: bytes) -> None:
    if not isinstance(root_key, bytes) or len(root_key) != ROOT_KEY_LENGTH:
        raise ValueError(f"a root key must be {ROOT_KEY_LENGTH} bytes")


class RootKey:
    """A 256-bit root key. Opaque: its repr and str name only where it came from."""

    __slots__ = ("_aead", "_fingerprint", "_header_start", "_material", "source")

    def __init__(self, material: bytes, source: str = "<memory>") -> None:
        if not isinstance(material, bytes | bytearray) or len(material) != ROOT_KEY_LENGTH:
            raise ValueError(f"a root key is exactly {ROOT_KEY_LENGTH} bytes")
        self._material = bytes(material)
        self.source = source
        # set up once: every seal and unseal (each key created, each version opened) uses them
        self._aead = AESGCM(self._material)
        self._fingerprint = root_key_fingerprint(self._material)
        self._header_start = _header_start(self._material)

    @classmethod
    def generate(cls) -> RootKey:
        """A fresh random root key (for tests and the in-memory store)."""
        return cls(generate_root_key(), "<generated>")

    def material(self) -> bytes:
        """The raw bytes, for the sealing recipe only; never log or store them."""
        return self._material

    @property
    def fingerprint(self) -> str:
        """16 hex characters naming this key without revealing it (also in each sealed blob)."""
        return self._fingerprint

    kind = "file"

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """The crypto kernel's AES-256-GCM sealing recipe under this key."""
        return _seal_with(self._aead, self._header_start, plaintext, aad, os.urandom(_NONCE))

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes:
        return _unseal_with(self._aead, sealed, aad)

    def describe(self) -> str:
        """For startup lines: where the key came from and its fingerprint, never its bytes."""
        return f"file {self.source} (fingerprint {self.fingerprint})"

    def close(self) -> None:
        """Nothing to release (the HSM root key closes its sessions here)."""

    def __repr__(self) -> str:
        return f"RootKey(source={self.source!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __reduce__(self) -> str:
        # INVARIANT: a root key is never pickled (pickles end up in caches, queues and core dumps).
        raise TypeError("a RootKey cannot be pickled")
