"""The PostgreSQL store: several kmspolicy processes share keys through one database (store layer).

Each ``transaction()`` is one PostgreSQL transaction (READ COMMITTED) on a pooled connection.
Reading a key in a writing transaction locks its row (``SELECT ... FOR UPDATE``), so concurrent
rotations, disables, grant changes and deletions of one key queue behind each other and each
sees the previous one's result; alias names are serialized with transaction-scoped advisory
locks, which also cover names that do not exist yet. Nothing is cached between transactions:
every read goes to the database, so a change committed by any process is seen by the next
operation of every other process.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerrors

from kmspolicy.errors import ConfigError, DependencyTimeoutException, InternalError
from kmspolicy.store import schema
from kmspolicy.store.rootkey import SealingKey
from kmspolicy.store.sealing import Sealer
from kmspolicy.store.sql import (
    DECODED_KEYS,
    DecodedGrants,
    DecodedKeys,
    Row,
    SqlTransaction,
    decoded_grants,
)

DEFAULT_SCHEMA = "kmspolicy"
POOL_SIZE = 8
LOCK_TIMEOUT_MS = 10_000
_MIGRATION_LOCK = 0x6B6D_7370  # advisory lock id held while migrating ("kmsp")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Lost races that a retry resolves: surfaced as DependencyTimeoutException (HTTP 503, which
# botocore retries by itself) instead of a 500.
_RETRYABLE = (
    pgerrors.DeadlockDetected,
    pgerrors.LockNotAvailable,
    pgerrors.SerializationFailure,
    pgerrors.QueryCanceled,
)


def split_url(url: str) -> tuple[str, str]:
    """The libpq URL without our ``schema=`` parameter, and that schema (validated)."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    name = DEFAULT_SCHEMA
    kept = []
    for k, v in params:
        if k == "schema":
            name = v
        else:
            kept.append((k, v))
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigError(f"invalid PostgreSQL schema name `{name}` (use [a-z_][a-z0-9_]*)")
    return urlunsplit(parts._replace(query=urlencode(kept))), name


class PostgresStore:
    """A ``kms.ports.Store`` in a PostgreSQL schema, shared by any number of processes."""

    def __init__(self, url: str, root_key: SealingKey, *, pool_size: int = POOL_SIZE) -> None:
        self._conninfo, self.schema = split_url(url)
        self.root_key = root_key  # what the kernel unseals with; checked against the canary
        self._sealer = Sealer(root_key)
        self._decoded = DecodedKeys(DECODED_KEYS)
        self._decoded_grants = decoded_grants()
        # psycopg_pool is not a dependency: what we need from a pool is bounded reuse of
        # autocommit connections and dropping broken ones, which this small queue does.
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._local = threading.local()
        self._closed = False
        try:
            with self._pooled() as conn:
                self._migrate(conn)
        except BaseException:
            self.close()  # a refused store (newer schema, wrong root key) keeps no connection
            raise

    # --- connections
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise DependencyTimeoutException(
                f"the key store database is unreachable: {_first_line(exc)}"
            ) from None
        conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.execute(f"SET search_path TO {self.schema}")  # validated identifier
        return conn

    @contextmanager
    def _pooled(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise InternalError("the PostgreSQL store is closed")
        if not self._slots.acquire(timeout=LOCK_TIMEOUT_MS / 1000):
            raise DependencyTimeoutException("all key store connections are busy; retry")
        conn: psycopg.Connection[Any] | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            yield conn
        finally:
            if conn is not None:
                healthy = (
                    not conn.closed
                    and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                )
                if healthy and not self._closed:
                    self._idle.put(conn)
                else:
                    conn.close()
            self._slots.release()

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with _errors(), conn.transaction():
            # Several processes may start at once: one migrates, the others wait and find it done.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute(schema.VERSION_TABLE)
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            tx = _PgTransaction(conn, self._sealer, readonly=False)
            for version in schema.pending((row[0] if row else None) or 0):
                for statement in schema.statements(version, "postgres"):
                    conn.execute(statement)
                tx.migrated(version)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)",
                    (version, datetime.now(UTC).isoformat()),
                )
            tx.check_root_key()

    # --- the port
    @contextmanager
    def transaction(
        self, *, readonly: bool = False, inline: bool = False
    ) -> Iterator[SqlTransaction]:
        outer: _PgTransaction | None = getattr(self._local, "tx", None)
        if outer is not None:  # nested on this thread: a savepoint on the same connection
            tx = self._transaction_on(outer.conn, readonly or outer.readonly, inline)
            try:
                with _errors(), outer.conn.transaction():
                    yield tx
            finally:
                tx.close()
            return
        with self._pooled() as conn:
            tx = self._transaction_on(conn, readonly, inline)
            self._local.tx = tx
            try:
                # Read-only transactions take no locks and refuse writes (SqlTransaction._check).
                with _errors(), conn.transaction():
                    yield tx
            finally:
                tx.close()
                self._local.tx = None

    def _transaction_on(
        self, conn: psycopg.Connection[Any], readonly: bool, inline: bool
    ) -> _PgTransaction:
        """A transaction on ``conn`` sharing this store's caches of decoded keys and grants."""
        return _PgTransaction(
            conn,
            self._sealer,
            readonly=readonly,
            inline=inline,
            decoded=self._decoded,
            grants=self._decoded_grants,
        )

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"


class _PgTransaction(SqlTransaction):
    __slots__ = ("conn",)
    _lock_key_sql = "SELECT 1 FROM keys WHERE arn = ? FOR UPDATE"

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        sealer: Sealer,
        *,
        readonly: bool,
        inline: bool = False,
        decoded: DecodedKeys | None = None,
        grants: DecodedGrants | None = None,
    ) -> None:
        super().__init__(sealer, readonly=readonly, inline=inline, decoded=decoded, grants=grants)
        self.conn = conn

    @property
    def readonly(self) -> bool:
        return self._readonly

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        if _has_nul(params):
            return []  # text holds no NUL here, so no row can equal it (SQLite just finds none)
        return self.conn.execute(sql.replace("?", "%s"), tuple(params)).fetchall()

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self.conn.execute(sql.replace("?", "%s"), tuple(params))

    def _locked_query(self, lock: str, read: str, params: Sequence[object]) -> list[Row]:
        if _has_nul(params):
            return []
        # Both statements in one network round trip (pipeline mode). The server still runs
        # them one after the other, so ``read`` takes its snapshot after the lock is held.
        with self.conn.pipeline():
            self.conn.execute(lock.replace("?", "%s"), tuple(params))
            cursor = self.conn.execute(read.replace("?", "%s"), tuple(params))
        return cursor.fetchall()

    def _lock_name(self, name: str) -> None:
        # 64-bit hash of the name; a collision only makes two names queue behind each other.
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))


def _has_nul(params: Sequence[object]) -> bool:
    """Whether a text parameter holds NUL, which PostgreSQL text cannot (it raises instead of
    matching nothing). Every stored text is NUL-free (ids and names are generated or
    pattern-checked, documents are escaped JSON), so a NUL-bearing lookup by equality (a
    caller's grant id) finds nothing, as on SQLite; the bounds of range reads are markers,
    which the handlers refuse when they hold NUL (``decode_marker``)."""
    return any(type(p) is str and "\x00" in p for p in params)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except _RETRYABLE as exc:
        raise DependencyTimeoutException(
            "the key store is busy with a conflicting request; retry the request"
        ) from exc
    except psycopg.OperationalError as exc:
        raise DependencyTimeoutException(
            f"the key store database failed: {_first_line(exc)}"
        ) from exc
    except psycopg.Error as exc:
        raise InternalError(f"PostgreSQL store: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
