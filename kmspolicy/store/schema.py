"""The relational schema of the SQLite and PostgreSQL stores, as numbered migrations (store layer).

Everything non-secret about a key is one JSON document in ``keys.doc``; every secret (key
material, import-wrapping private keys) is one row of ``key_secrets`` holding only a blob sealed
under the root key. ``schema_version`` records which migrations ran; a database written by a
newer kmspolicy is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from kmspolicy.errors import ConfigError

Dialect = Literal["sqlite", "postgres"]


def _v1(d: Dialect) -> list[str]:
    # PostgreSQL text columns compare by the database's locale unless told otherwise; "C" makes
    # ORDER BY agree with Python's code-point order (and with the in-memory store).
    text = 'TEXT COLLATE "C"' if d == "postgres" else "TEXT"
    blob = "BYTEA" if d == "postgres" else "BLOB"
    return [
        f"""CREATE TABLE keys (
            arn {text} PRIMARY KEY,
            account {text} NOT NULL,
            region {text} NOT NULL,
            key_id {text} NOT NULL,
            doc TEXT NOT NULL,
            UNIQUE (account, region, key_id)
        )""",
        f"""CREATE TABLE key_secrets (
            key_arn {text} NOT NULL REFERENCES keys (arn) ON DELETE CASCADE,
            kind {text} NOT NULL,
            ref {text} NOT NULL,
            sealed {blob} NOT NULL,
            PRIMARY KEY (key_arn, kind, ref)
        )""",
        f"""CREATE TABLE aliases (
            arn {text} PRIMARY KEY,
            account {text} NOT NULL,
            region {text} NOT NULL,
            name {text} NOT NULL,
            target_key_id {text},
            doc TEXT NOT NULL
        )""",
        "CREATE INDEX aliases_by_scope ON aliases (account, region, name)",
        "CREATE INDEX aliases_by_target ON aliases (account, region, target_key_id)",
        f"""CREATE TABLE grants (
            key_arn {text} NOT NULL,
            grant_id {text} NOT NULL,
            retiring_principal {text},
            doc TEXT NOT NULL,
            PRIMARY KEY (key_arn, grant_id)
        )""",
        "CREATE INDEX grants_by_retiring ON grants (retiring_principal)",
    ]


def _v2(d: Dialect) -> list[str]:
    # Store-wide values; "root-key-check" holds a sealed canary so that opening the store with
    # the wrong root key fails at startup, naming both keys' fingerprints.
    text = 'TEXT COLLATE "C"' if d == "postgres" else "TEXT"
    blob = "BYTEA" if d == "postgres" else "BLOB"
    return [f"CREATE TABLE store_meta (name {text} PRIMARY KEY, value {blob} NOT NULL)"]


def _v3(d: Dialect) -> list[str]:
    # keys.due_at: when the key's lifecycle work falls due (lifecycle.due.due_at, microseconds
    # since the Unix epoch; NULL: nothing scheduled), so the sweeper finds due keys by index
    # without unsealing the others. Keys written before this migration get 0, "check me": the
    # first sweep reads each once and writes back its real due moment.
    # keys_by_id: Decrypt finds a ciphertext's key by key id and Region, whatever the account.
    integer = "BIGINT" if d == "postgres" else "INTEGER"
    return [
        f"ALTER TABLE keys ADD COLUMN due_at {integer}",
        "UPDATE keys SET due_at = 0",
        "CREATE INDEX keys_by_due ON keys (due_at)",
        "CREATE INDEX keys_by_id ON keys (key_id, region)",
    ]


def _v4(d: Dialect) -> list[str]:
    # Custom key stores: the record's document, its sealed credential (the kmsuser password or
    # the proxy's secret, sealed under the root key) apart from it, and a unique name per
    # account and Region (the handlers check it first; the index makes a race lose).
    # keys.custom_key_store_id: DeleteCustomKeyStore counts a store's keys by index.
    text = 'TEXT COLLATE "C"' if d == "postgres" else "TEXT"
    blob = "BYTEA" if d == "postgres" else "BLOB"
    return [
        f"""CREATE TABLE custom_key_stores (
            store_id {text} PRIMARY KEY,
            account {text} NOT NULL,
            region {text} NOT NULL,
            name {text} NOT NULL,
            doc TEXT NOT NULL,
            sealed_credential {blob} NOT NULL,
            UNIQUE (account, region, name)
        )""",
        f"ALTER TABLE keys ADD COLUMN custom_key_store_id {text}",
        "CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id)",
    ]


def _v5(d: Dialect) -> list[str]:
    # Web console sessions, shared by every server process on the store: a session is known
    # wherever the next request lands, and signing out ends it everywhere. The row holds the
    # SHA-256 of the cookie's token, never the token; expires_at is microseconds since the
    # Unix epoch by the service's clock, indexed for the purge of expired sessions.
    text = 'TEXT COLLATE "C"' if d == "postgres" else "TEXT"
    integer = "BIGINT" if d == "postgres" else "INTEGER"
    return [
        f"""CREATE TABLE console_sessions (
            digest {text} PRIMARY KEY,
            principal {text} NOT NULL,
            access_key_id {text} NOT NULL,
            region {text} NOT NULL,
            expires_at {integer} NOT NULL
        )""",
        "CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
    ]


def _v6(d: Dialect) -> list[str]:
    # grants.grantee / grantee_role: a decision reads only the grants that can name its caller
    # (SqlTransaction.list_grants_naming), by index, not all of a key's up to 50,000 grants;
    # grantee_role is the path-free ARN of a role grantee (authz.grants.grantee_keys), which
    # the role's sessions name. Rows from before are filled from their documents
    # (SqlTransaction.migrated). grant_id ends both indexes: ListGrants filtered by grantee
    # reads one page in grant id order.
    text = 'TEXT COLLATE "C"' if d == "postgres" else "TEXT"
    return [
        f"ALTER TABLE grants ADD COLUMN grantee {text}",
        f"ALTER TABLE grants ADD COLUMN grantee_role {text}",
        "CREATE INDEX grants_by_grantee ON grants (key_arn, grantee, grant_id)",
        "CREATE INDEX grants_by_grantee_role ON grants (key_arn, grantee_role, grant_id)",
    ]


def _v7(d: Dialect) -> list[str]:
    # ListRetirableGrants reads one page of a retiring principal's grants, in (key ARN, grant
    # id) order, from the index instead of all of them.
    return [
        "DROP INDEX grants_by_retiring",
        "CREATE INDEX grants_by_retiring ON grants (retiring_principal, key_arn, grant_id)",
    ]


def _v8(d: Dialect) -> list[str]:
    # A process still running code from before v6 (it checked the version when it opened the
    # store) writes grants without the grantee columns, and a decision would never find them:
    # such a write is now refused, and SqlTransaction.migrated fills the rows written so since
    # v6. The PostgreSQL check is NOT VALID: new rows only (those rows are filled after it).
    if d == "postgres":  # the constraint's name is what the writer's error shows
        return [
            "ALTER TABLE grants ADD CONSTRAINT grants_need_grantee_restart_older_kmspolicy "
            "CHECK (grantee IS NOT NULL) NOT VALID"
        ]
    refused = (
        "a grant without its grantee column: this kmspolicy is older than the store schema "
        "(v8); restart it with the version that migrated the store (docs/store.md)"
    )
    return [
        f"""CREATE TRIGGER grants_need_grantee BEFORE INSERT ON grants
            WHEN NEW.grantee IS NULL
            BEGIN SELECT RAISE(ABORT, '{refused}'); END"""
    ]


# version -> statements for a dialect. Append only: a shipped migration is never edited.
MIGRATIONS: Sequence[tuple[int, Callable[[Dialect], list[str]]]] = (
    (1, _v1),
    (2, _v2),
    (3, _v3),
    (4, _v4),
    (5, _v5),
    (6, _v6),
    (7, _v7),
    (8, _v8),
)
LATEST = MIGRATIONS[-1][0]

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)"""


def pending(current: int) -> list[int]:
    """Versions of the migrations to run after ``current``; refuses a newer database."""
    if current > LATEST:
        raise ConfigError(
            f"the store's schema is version {current} but this kmspolicy knows only up to "
            f"{LATEST}: upgrade kmspolicy (downgrading a store is not supported)"
        )
    return [v for v, _ in MIGRATIONS if v > current]


def statements(version: int, dialect: Dialect) -> list[str]:
    for v, make in MIGRATIONS:
        if v == version:
            return make(dialect)
    raise KeyError(version)
