"""The proxy's external key manager: AES-256 keys sealed under a root key in a data directory.

Layer: xks. Each configured key is created on first start (``<data_dir>/keys/key-<id>.sealed``,
written once, mode 0600) and sealed under the root key (``<data_dir>/root.key`` unless
``root_key`` names a file) with the key id as associated data, so a sealed file renamed to
another key's name does not open. Keys are unsealed once at start-up and held in this process
only. The deep health check encrypts and decrypts under a test key that belongs to no KMS key
(the specification asks for that), generated at start-up and never stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from kmspolicy._version import __version__
from kmspolicy.crypto import xks as gcm
from kmspolicy.crypto.material import Rng
from kmspolicy.crypto.seal import SealError
from kmspolicy.errors import ConfigError
from kmspolicy.kms.ports import SealingKey

_AAD_LABEL = b"kmspolicy/xks-proxy/key/v1\x00"


class KeyManager(Protocol):
    """Where the external keys live and their AES-GCM runs (the spec's "external key manager")."""

    #: (vendor, id, model) for GetHealthStatus's ekmVendor and ekmFleetDetails
    ekm: tuple[str, str, str]

    def encrypt(
        self, key_id: str, plaintext: bytes, aad: bytes, metadata: bytes
    ) -> tuple[bytes, bytes, bytes]:
        """``(iv, ciphertext, tag)``."""

    def decrypt(
        self, key_id: str, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes, metadata: bytes
    ) -> bytes:
        """The plaintext; raises ``crypto.xks.XksDecryptError`` when anything does not match."""

    def self_test(self) -> None:
        """A round trip under the test key; raises when the key manager cannot do crypto."""

    def describe(self) -> str: ...

    def close(self) -> None: ...


def sealed_path(data_dir: Path, key_id: str) -> Path:
    # ids are A-Za-z0-9._- (no separator): the prefix keeps "." and ".." ordinary names
    return data_dir / "keys" / f"key-{key_id}.sealed"


class SealedKeys:
    """Keys sealed under a root key in ``data_dir`` (see the module docstring)."""

    def __init__(
        self, data_dir: Path, root: SealingKey, key_ids: list[str], rng: Rng = os.urandom
    ) -> None:
        self._rng = rng
        self._root = root
        self._keys: dict[str, bytes] = {}
        for key_id in key_ids:
            self._keys[key_id] = self._load_or_create(data_dir, key_id)
        self._test_key = gcm.generate_key(rng)
        self.ekm = ("kmspolicy", f"sealed:{root.fingerprint}", f"kmspolicy {__version__}")

    def _load_or_create(self, data_dir: Path, key_id: str) -> bytes:
        path = sealed_path(data_dir, key_id)
        aad = _AAD_LABEL + key_id.encode()
        if not path.exists():
            from kmspolicy._files import create_once

            try:
                create_once(path, self._root.seal(gcm.generate_key(self._rng), aad))
            except OSError as exc:
                raise ConfigError(f"cannot create the key file `{path}`: {exc.strerror}") from None
        try:
            return self._root.unseal(path.read_bytes(), aad)
        except SealError:
            raise ConfigError(
                f"the key file `{path}` does not open with the root key {self._root.describe()} "
                "(another root key, or the file belongs to another key id)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read the key file `{path}`: {exc.strerror}") from None

    def encrypt(
        self, key_id: str, plaintext: bytes, aad: bytes, metadata: bytes
    ) -> tuple[bytes, bytes, bytes]:
        return gcm.encrypt(self._keys[key_id], plaintext, aad, metadata, rng=self._rng)

    def decrypt(
        self, key_id: str, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes, metadata: bytes
    ) -> bytes:
        return gcm.decrypt(self._keys[key_id], iv, ciphertext, tag, aad, metadata)

    def self_test(self) -> None:
        probe = self._rng(16)
        iv, ct, tag = gcm.encrypt(self._test_key, probe, b"health", rng=self._rng)
        if gcm.decrypt(self._test_key, iv, ct, tag, b"health") != probe:  # pragma: no cover
            raise gcm.XksDecryptError

    def describe(self) -> str:
        return f"{len(self._keys)} key(s) sealed under root key {self._root.describe()}"

    def close(self) -> None:
        self._root.close()

    def __repr__(self) -> str:
        return f"SealedKeys({len(self._keys)} keys)"
