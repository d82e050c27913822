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

from kmspolicy._files import create_once
from kmspolicy.crypto.seal import ROOT_KEY_LENGTH, RootKey
from kmspolicy.errors import ConfigError
from kmspolicy.kms.ports import SealingKey

ENV_VAR = "KMSPOLICY_ROOT_KEY_FILE"
SOURCE_ENV_VAR = "KMSPOLICY_ROOT_KEY"  # a root-key source: a file path or a pkcs11: URI
DEFAULT_NAME = "root.key"
ROOT_KEY_BYTES = ROOT_KEY_LENGTH  # AES-256

__all__ = [
    "ENV_VAR",
    "RootKey",
    "SealingKey",
    "load_root_key",
    "open_root_key",
    "read_root_key_file",
    "resolve_root_key_path",
]


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
            create_once(where, secrets.token_bytes(ROOT_KEY_BYTES))
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
