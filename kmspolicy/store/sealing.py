"""The root-key canary of a store (store layer).

Key material reaches a store already sealed by the service's kernel (``kms.backends``); the
store only keeps a sealed canary, opened at startup, so a store is never opened with another
root key than the one its material was sealed under.
"""

from __future__ import annotations

from kmspolicy.crypto.seal import SealError, sealed_fingerprint
from kmspolicy.errors import ConfigError
from kmspolicy.kms.ports import SealingKey

_AAD_LABEL = b"kmspolicy/store/v1\x00"
_CHECK_AAD = _AAD_LABEL + b"root-key-check"
_CHECK_PLAINTEXT = b"kmspolicy store root key check v1"


class Sealer:
    """Checks that a store is opened with the root key its contents were sealed under."""

    __slots__ = ("_root",)

    def __init__(self, root_key: SealingKey) -> None:
        self._root = root_key

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
