"""The key backend of CloudHSM key stores: AES-256 keys made and used inside the cluster's HSM.

Layer: kms (a ``kms.backends.KeyBackend``, registered for ``Origin=AWS_CLOUDHSM``). ``create``
asks the store's live session (``LiveConnections``) to generate a non-extractable AES-256 key in
the token; the record keeps only a reference to that object (its ``CKA_ID``), never a value.
Encrypt and Decrypt are one ``CKM_AES_GCM`` call in the token each, over the same ciphertext
blob as every symmetric key (``crypto.blob``: header, context and tag alike), so the kernel, the
handlers and the blob parser need not know where a key lives. The opened key is a reference:
each call finds the store's connection anew, so a disconnected store stops its keys at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol

from kmspolicy.crypto.blob import NONCE_LENGTH, BlobHeader, decrypt_blob_with, encrypt_blob_with
from kmspolicy.crypto.material import Rng
from kmspolicy.errors import InternalError
from kmspolicy.kms.backends import KeyToMake, NewVersion, NoImport, OpenedKey
from kmspolicy.kms.keystores.connector import LiveConnections
from kmspolicy.kms.keystores.symmetric import SymmetricOnly
from kmspolicy.kms.model import KeyInfo
from kmspolicy.kms.sealed import Sealed, reveal

__all__ = ["REFERENCE_PREFIX", "CloudHsmBackend", "HsmSession", "object_label"]

#: ``KeyMaterial.sealed`` of a CloudHSM key: this prefix and the token object's CKA_ID
REFERENCE_PREFIX = b"cloudhsm-object:"
_MATERIAL_ID_LABEL = b"kmspolicy cloudhsm key material id v1\x00"


class HsmSession(Protocol):
    """A logged-in session of one cluster (a ``keystores.Connection``)."""

    def generate_key(self, label: str) -> bytes:
        """A new AES-256 key object (token, private, sensitive, non-extractable, encrypt and
        decrypt only) labelled ``label``; returns its CKA_ID."""

    def encrypt(self, object_id: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """AES-256-GCM in the token: ciphertext and 16-byte tag."""

    def decrypt(self, object_id: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes | None:
        """The plaintext, or None when the tag does not verify."""

    def destroy(self, object_id: bytes) -> bool:
        """Destroy the key object; False when it was not there."""

    def generate_random(self, count: int) -> bytes:
        """``count`` random bytes from the HSM (GenerateRandom with a CustomKeyStoreId)."""

    def close(self) -> None: ...


def object_label(key_id: str) -> str:
    """The token object's label: which KMS key it is, for an operator listing the token."""
    return f"kmspolicy/{key_id}"


def _object_id(key: KeyInfo, ref: Sealed) -> bytes:
    sealed = reveal(ref)
    if not sealed.startswith(REFERENCE_PREFIX) or len(sealed) == len(REFERENCE_PREFIX):
        raise InternalError(f"the key material reference of {key.arn} is not a CloudHSM object")
    return sealed[len(REFERENCE_PREFIX) :]


class _HsmKey(SymmetricOnly):
    """One CloudHSM key, by reference: every call goes to the token through the live session."""

    _store_kind = "a CloudHSM key store"
    __slots__ = ("_arn", "_connections", "_object_id", "_store_id")

    def __init__(
        self, connections: LiveConnections, store_id: str, arn: str, object_id: bytes
    ) -> None:
        self._connections = connections
        self._store_id = store_id
        self._arn = arn
        self._object_id = object_id

    def _session(self) -> HsmSession:
        session = self._connections.live(self._store_id, self._arn)
        return session  # type: ignore[return-value]  # this type's connections are sessions

    def encrypt(
        self,
        key_id: str,
        material_id: str,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        rng: Rng,
    ) -> bytes:
        session = self._session()

        def seal(nonce: bytes, data: bytes, aad: bytes) -> bytes:
            return session.encrypt(self._object_id, nonce, data, aad)

        return encrypt_blob_with(seal, key_id, material_id, plaintext, context, rng(NONCE_LENGTH))

    def decrypt(self, blob: bytes, header: BlobHeader, context: Mapping[str, str] | None) -> bytes:
        session = self._session()

        def open_(nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
            return session.decrypt(self._object_id, nonce, data, aad)

        return decrypt_blob_with(open_, blob, context, header=header)

    def __repr__(self) -> str:
        return f"_HsmKey({self._arn}, object={self._object_id.hex()})"


class CloudHsmBackend(NoImport):
    """Keys of ``Origin=AWS_CLOUDHSM``: their material is a token object (module docstring)."""

    name = "cloudhsm"
    remote = False  # one PKCS#11 call into the module, bounded by it
    __slots__ = ("_connections",)

    def __init__(self, connections: LiveConnections) -> None:
        self._connections = connections

    def _session(self, key: KeyToMake) -> HsmSession:
        if key.custom_key_store_id is None:
            raise InternalError(f"{key.arn} has origin AWS_CLOUDHSM but no custom key store")
        session = self._connections.live(key.custom_key_store_id, key.arn)
        return session  # type: ignore[return-value]  # this type's connections are sessions

    def create(self, key: KeyToMake, rng: Rng) -> NewVersion:
        object_id = self._session(key).generate_key(object_label(key.key_id))
        digest = hashlib.sha256(
            _MATERIAL_ID_LABEL + key.key_id.encode() + b"\x00" + object_id
        ).hexdigest()
        return NewVersion(digest, Sealed(REFERENCE_PREFIX + object_id))

    def open(self, key: KeyInfo, material_id: str, sealed: Sealed) -> OpenedKey:
        if key.custom_key_store_id is None:
            raise InternalError(f"{key.arn} has origin AWS_CLOUDHSM but no custom key store")
        return _HsmKey(self._connections, key.custom_key_store_id, key.arn, _object_id(key, sealed))

    def destroy(self, key: KeyInfo, refs: tuple[Sealed, ...]) -> int:
        """Destroy the token objects of a deleted key, or of a version never stored (its store
        must be connected here); returns how many were there."""
        session = self._session(key)
        return sum(session.destroy(_object_id(key, ref)) for ref in refs)

    def __repr__(self) -> str:
        return "CloudHsmBackend()"
