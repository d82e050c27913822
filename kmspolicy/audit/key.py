"""The audit key: the MAC key that seals every record (``mac``), kept sealed under the root key
(audit layer).

``audit.key`` in the data directory holds 32 random bytes sealed under the root key (the same
``SealingKey`` that seals key material: a file key, or an AES key inside a PKCS#11 HSM that
unseals it in the token), so the file alone is useless and no secret is ever written in clear.
The writer unseals it once at startup; ``kmspolicy audit verify --data-dir`` unseals it to
check the seals. Whoever holds it can verify records — and could seal forged ones: treat it
like the root key (it is one unseal away from it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from kmspolicy._files import create_once
from kmspolicy.errors import ConfigError

AUDIT_KEY_NAME = "audit.key"
AUDIT_KEY_BYTES = 32
_AAD = b"kmspolicy/audit-key/v1"  # a blob sealed for anything else does not unseal as this


class Sealer(Protocol):
    """What the audit key needs of the root key (``store.rootkey.SealingKey`` has it)."""

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes: ...
    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes: ...


def open_audit_key(data_dir: str | os.PathLike[str], root_key: Sealer) -> bytes:
    """The audit key of ``data_dir``, created (sealed, 0600, atomically) on first use."""
    path = Path(data_dir) / AUDIT_KEY_NAME
    if not path.exists():
        create_once(path, root_key.seal(secrets.token_bytes(AUDIT_KEY_BYTES), _AAD))
    return read_audit_key(path, root_key)


def read_audit_key(path: Path, root_key: Sealer) -> bytes:
    try:
        sealed = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the audit key `{path}`: {exc.strerror}") from None
    try:
        key = root_key.unseal(sealed, _AAD)
    except Exception as exc:  # the message names the file, never bytes
        raise ConfigError(
            f"the audit key `{path}` does not unseal under this root key "
            f"({type(exc).__name__}): give the root key the data directory was created with"
        ) from None
    if len(key) != AUDIT_KEY_BYTES:
        raise ConfigError(f"the audit key `{path}` is not {AUDIT_KEY_BYTES} bytes")
    return key
