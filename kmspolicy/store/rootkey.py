"""The root key that seals every stored key material: a file here, or an HSM key (store layer).

``open_root_key`` picks the source (``--root-key``: a file path or a ``pkcs11:`` URI, handled by
``pkcs11.py``); the rest of this module is the file.

Resolution order: an explicit path, then ``$KMSPOLICY_ROOT_KEY_FILE``, then ``<data dir>/root.key``
— created on first start, atomically and with mode 0600. An existing file readable by group or
others is refused. The key's bytes never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from kmspolicy.crypto.seal import root_key_fingerprint, seal, unseal
from kmspolicy.errors import ConfigError

ENV_VAR = "KMSPOLICY_ROOT_KEY_FILE"
SOURCE_ENV_VAR = "KMSPOLICY_ROOT_KEY"  # a root-key source: a file path or a pkcs11: URI
DEFAULT_NAME = "root.key"
ROOT_KEY_BYTES = 32  # AES-256


class SealingKey(Protocol):
    """What the store needs of a root key: seal/unseal with AAD, a fingerprint, a source.

    ``RootKey`` (a file, sealing in this process) and ``pkcs11.HsmRootKey`` (sealing inside an
    HSM) implement it; ``unseal`` raises ``kmspolicy.crypto.seal.SealError`` for bytes that do
    not open under this key and AAD, including blobs of the other kind.
    """

    kind: str
    source: str

    @property
    def fingerprint(self) -> str: ...

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes: ...

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class RootKey:
    """A 256-bit root key. Opaque: its repr and str name only where it came from."""

    __slots__ = ("_material", "source")

    def __init__(self, material: bytes, source: str = "<memory>") -> None:
        if not isinstance(material, bytes | bytearray) or len(material) != ROOT_KEY_BYTES:
            raise ValueError(f"a root key is exactly {ROOT_KEY_BYTES} bytes")
        self._material = bytes(material)
        self.source = source

    @classmethod
    def generate(cls) -> RootKey:
        """A fresh random root key (for tests and the in-memory store)."""
        return cls(secrets.token_bytes(ROOT_KEY_BYTES), "<generated>")

    def material(self) -> bytes:
        """The raw bytes, for the sealing recipe only; never log or store them."""
        return self._material

    @property
    def fingerprint(self) -> str:
        """16 hex characters naming this key without revealing it (also in each sealed blob)."""
        return root_key_fingerprint(self._material)

    kind = "file"

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """The crypto kernel's AES-256-GCM sealing recipe under this key."""
        return seal(self._material, plaintext, aad)

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes:
        return unseal(self._material, sealed, aad)

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


def resolve_root_key_path(
    data_dir: str | os.PathLike[str] | None,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Path, bool]:
    """Where the root key lives, and whether it may be created there (only the data-dir default)."""
    env = os.environ if env is None else env
    if path is not None:
        return Path(path), False
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]), False
    if data_dir is None:
        raise ConfigError(f"no root key: give a data directory, a root-key file, or set {ENV_VAR}")
    return Path(data_dir) / DEFAULT_NAME, True


def load_root_key(
    data_dir: str | os.PathLike[str] | None,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> RootKey:
    """Load the root key, creating ``<data_dir>/root.key`` (0600) on first start if needed."""
    where, may_create = resolve_root_key_path(data_dir, path, env)
    if may_create and not where.exists():
        try:
            _create(where)
        except OSError as exc:  # a read-only or pseudo file system (/sys, /proc), a full disk
            raise ConfigError(
                f"cannot create the root-key file `{where}`: {exc.strerror or exc}"
            ) from None
    return read_root_key_file(where)


def open_root_key(
    data_dir: str | os.PathLike[str] | None,
    source: str | None = None,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> SealingKey:
    """The configured root key: ``source`` (``--root-key``: a ``pkcs11:`` URI or a file path),
    else ``path``, else ``$KMSPOLICY_ROOT_KEY``, else what ``load_root_key`` finds."""
    env = os.environ if env is None else env
    if source is None and path is None:
        source = env.get(SOURCE_ENV_VAR) or None
    if source is not None and source.startswith("pkcs11:"):
        try:
            from kmspolicy.store.pkcs11 import open_hsm_root_key
        except ImportError:  # pragma: no cover - the module itself imports the binding lazily
            raise ConfigError("a pkcs11: root key needs: pip install 'kmspolicy[hsm]'") from None
        return open_hsm_root_key(source, env)
    if source is not None:
        path = source.removeprefix("file:")
    return load_root_key(data_dir, path, env)


def read_root_key_file(path: Path) -> RootKey:
    """Read an existing root-key file: 32 raw bytes, or their base64 text (one line)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConfigError(f"root-key file `{path}` does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot open root-key file `{path}`: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"root-key file `{path}` is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"root-key file `{path}` is readable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    return RootKey(_decode(data, path), str(path))


def _decode(data: bytes, path: Path) -> bytes:
    if len(data) == ROOT_KEY_BYTES:
        return data
    text = data.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == ROOT_KEY_BYTES:
        return raw
    # The message names the expected shape, never the content.
    raise ConfigError(
        f"root-key file `{path}` must hold exactly {ROOT_KEY_BYTES} bytes "
        "(raw, or base64 on one line: `openssl rand -base64 32`)"
    )


def _create(path: Path) -> None:
    """Create the key file so that it appears complete or not at all, never world-readable."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits, but be explicit
        view = memoryview(secrets.token_bytes(ROOT_KEY_BYTES))
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() fails if the name exists: two processes starting at once agree on one key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
