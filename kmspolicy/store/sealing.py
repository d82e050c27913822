"""Sealing stored secrets under the root key, bound to the row they belong to (store layer).

The cipher is the root key's: the crypto layer's sealing recipe for a root-key file, or AES-GCM
inside the HSM for a PKCS#11 root key (``pkcs11.py``); this module only decides the associated
data. The AAD names the key ARN, the kind of secret and its
version (material id or import token id), so a sealed blob copied into another key's row, or
into another version's slot, fails to unseal instead of silently serving the wrong key.
"""

from __future__ import annotations

import json

from kmspolicy.crypto.seal import SealError, sealed_fingerprint
from kmspolicy.errors import ConfigError, InternalError
from kmspolicy.store.codec import Secret
from kmspolicy.store.rootkey import SealingKey

_AAD_LABEL = b"kmspolicy/store/v1\x00"
_CHECK_AAD = _AAD_LABEL + b"root-key-check"
_CHECK_PLAINTEXT = b"kmspolicy store root key check v1"


def secret_aad(key_arn: str, kind: str, ref: str) -> bytes:
    """Unambiguous encoding of (key ARN, kind, version): JSON array after a fixed label."""
    return _AAD_LABEL + json.dumps([key_arn, kind, ref], separators=(",", ":")).encode()


class Sealer:
    """Seals and unseals the secrets of stored keys with one root key."""

    __slots__ = ("_root",)

    def __init__(self, root_key: SealingKey) -> None:
        self._root = root_key

    def seal(self, key_arn: str, secret: Secret) -> bytes:
        aad = secret_aad(key_arn, secret.kind, secret.ref)
        return self._root.seal(secret.value, aad)

    def unseal(self, key_arn: str, kind: str, ref: str, blob: bytes) -> Secret:
        try:
            value = self._root.unseal(blob, secret_aad(key_arn, kind, ref))
        except SealError:
            # Our fault or the operator's, never the caller's: a wrong root key, or a row that
            # was edited or moved. The message names the row, never the bytes.
            raise InternalError(
                f"stored {kind} {ref!r} of key {key_arn!r} failed to unseal: wrong root key, "
                "or the row was modified or moved"
            ) from None
        return Secret(kind, ref, value)

    def root_key_check(self) -> bytes:
        """A sealed canary stored once per store; ``verify_root_key`` opens it at startup."""
        return self._root.seal(_CHECK_PLAINTEXT, _CHECK_AAD)

    def verify_root_key(self, check: bytes) -> None:
        """ConfigError when the store was sealed under another root key than ours."""
        try:
            ok = self._root.unseal(check, _CHECK_AAD) == _CHECK_PLAINTEXT
        except SealError:
            ok = False
        if not ok:
            raise ConfigError(
                f"this store was sealed with {_sealed_by(check)}, but the root key from "
                f"{self._root.source} is {self._root.fingerprint}: give the store's root key "
                "(--root-key FILE|pkcs11:URI, $KMSPOLICY_ROOT_KEY or $KMSPOLICY_ROOT_KEY_FILE)"
            )

    def __repr__(self) -> str:
        return f"Sealer({self._root!r})"


def _sealed_by(sealed: bytes) -> str:
    """Which kind of root key sealed ``sealed``, from its header (unverified, for messages)."""
    fingerprint = sealed_fingerprint(sealed)
    if fingerprint is not None:
        return f"root key {fingerprint} (a root-key file)"
    if sealed[:2] == b"kh" and len(sealed) >= 11:  # pkcs11.MAGIC; that module needs the binding
        return f"root key {sealed[3:11].hex()} (a PKCS#11 HSM key)"
    return "an unknown root key"
