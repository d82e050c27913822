"""The part of the OpenedKey protocol a custom key store's key refuses.

Layer: kms (keystores). Keys of both custom key store types are SYMMETRIC_DEFAULT (CreateKey
refuses every other spec), so the handlers' key-usage checks stop these calls before they reach a
key; reaching one is an internal error, never a silent answer.
"""

from __future__ import annotations

from kmspolicy.errors import InternalError

__all__ = ["SymmetricOnly"]


class SymmetricOnly:
    """Mixin: every asymmetric, HMAC and KEM method of OpenedKey raises InternalError. The key
    class sets ``_arn`` and names its store type in ``_store_kind``."""

    __slots__ = ()
    _arn: str
    _store_kind: str

    def _symmetric_only(self) -> InternalError:
        return InternalError(f"{self._arn} is a symmetric key in {self._store_kind}")

    def encrypt_asymmetric(self, algorithm: str, plaintext: bytes) -> bytes:
        raise self._symmetric_only()

    def decrypt_asymmetric(self, algorithm: str, ciphertext: bytes) -> bytes:
        raise self._symmetric_only()

    def sign(self, algorithm: str, message: bytes, message_type: str) -> bytes:
        raise self._symmetric_only()

    def verify(self, algorithm: str, message: bytes, signature: bytes, message_type: str) -> None:
        raise self._symmetric_only()

    def generate_mac(self, algorithm: str, message: bytes) -> bytes:
        raise self._symmetric_only()

    def verify_mac(self, algorithm: str, message: bytes, tag: bytes) -> None:
        raise self._symmetric_only()

    def derive_shared_secret(self, algorithm: str, peer_public_key: bytes) -> bytes:
        raise self._symmetric_only()

    def encapsulate(self, algorithm: str) -> tuple[bytes, bytes]:
        raise self._symmetric_only()

    def decapsulate(self, algorithm: str, ciphertext: bytes) -> bytes:
        raise self._symmetric_only()

    def public_key(self) -> bytes:
        raise self._symmetric_only()
