"""Durable stores for the KMS service, chosen by URL (store layer: adapters of ``kms.ports``).

``open_store(url, root_key)`` is what the composition root calls:

    memory:                          the in-memory store (nothing at rest; sealed under
                                     ``root_key`` when given, else under a fresh one)
    sqlite:///abs/path/kms.db        the default: one file in the data directory
    sqlite:relative/kms.db           (relative to the working directory)
    postgresql://user@host:5432/db   shared by several processes; ``?schema=name`` picks the
                                     schema (default ``kmspolicy``), other parameters go to libpq

Key material is stored only sealed under ``root_key``: a root-key file or a key inside a PKCS#11
HSM (``open_root_key``; see ``docs/store.md`` and ``docs/hsm.md``).
"""

from __future__ import annotations

from kmspolicy.errors import ConfigError
from kmspolicy.kms.ports import Store
from kmspolicy.store.rootkey import ENV_VAR, RootKey, SealingKey, load_root_key, open_root_key

__all__ = [
    "ENV_VAR",
    "RootKey",
    "SealingKey",
    "load_root_key",
    "open_root_key",
    "open_store",
    "sqlite_url",
]


def open_store(url: str, root_key: SealingKey | None = None) -> Store:
    """Open (and create or migrate) the store that ``url`` names."""
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "memory":
        from kmspolicy.kms.memory import MemoryStore

        return MemoryStore(root_key)  # without one, a fresh root key of its own
    if root_key is None:
        raise ConfigError(f"the `{scheme}` store needs a root key to seal key material")
    if scheme == "sqlite":
        from kmspolicy.store.sqlite import SqliteStore

        # sqlite:///abs/path (three slashes: empty host) or sqlite:relative/path
        path = rest[2:] if rest.startswith("//") else rest
        if not path or path == "/":
            raise ConfigError(f"store URL `{url}` names no database file (sqlite:///path/kms.db)")
        return SqliteStore(path, root_key)
    if scheme in ("postgresql", "postgres"):
        from kmspolicy.store.postgres import PostgresStore

        return PostgresStore(url, root_key)
    raise ConfigError(
        f"unknown store URL `{url}`: use memory:, sqlite:///path/kms.db or postgresql://..."
    )


def sqlite_url(data_dir: str) -> str:
    """The default store URL for a data directory."""
    from pathlib import Path

    return f"sqlite://{(Path(data_dir) / 'kms.db').resolve()}"
