"""The SQLite store, kmspolicy's default: one database file in the data directory (store layer).

WAL journal; one connection per thread; each writing ``transaction()`` is one SQLite
transaction begun with ``BEGIN IMMEDIATE`` so that read-modify-write sequences never race (the
write lock is taken up front, not upgraded later, which in WAL mode would fail with SQLITE_BUSY
whatever the timeout). A read-only one begins its SQLite transaction (``BEGIN DEFERRED``) only
when a read is not answered from the reads made while the database was unchanged
(``_Reading``). Several processes on one machine may share the file; they queue on the write
lock for up to ``busy_timeout``. A transaction opened inside another on the same thread is a
savepoint.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kmspolicy._cache import BoundedCache
from kmspolicy.errors import ConfigError, DependencyTimeoutException, InternalError
from kmspolicy.kms.model import AliasRecord, GrantRecord, KeyRecord
from kmspolicy.kms.ports import INLINE_GRANTS, RunInThread, SnapshotMoved
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

BUSY_TIMEOUT_MS = 10_000
_READS_LIMIT = 4096  # reads kept per connection between two changes of the database
#: their weight: a read weighs 1, a kept answer (``keep``) the characters it holds beyond the
#: reads (a request plan's context: up to 4 KB each, so a count alone would let one allowed
#: caller's distinct contexts pin ~22 MB per connection)
_READS_MAX_WEIGHT = 1 << 20
#: One thread's reads (question -> answer, None for "absent"), valid while the database is
#: unchanged (``_Reading``)
_Reads = BoundedCache[tuple[object, ...], object]


class SqliteStore:
    """A ``kms.ports.Store`` in one SQLite file, safe for the threads of several processes."""

    #: its read-only blocks keep what a caller derived from their reads (``Transaction.keep``)
    keeps_answers = True

    def __init__(self, path: str | os.PathLike[str], root_key: SealingKey) -> None:
        self.path = Path(path)
        self.root_key = root_key  # what the kernel unseals with; checked against the canary
        self._sealer = Sealer(root_key)
        self._decoded = DecodedKeys(DECODED_KEYS)
        self._decoded_grants = decoded_grants()
        self._local = threading.local()
        # Weak: a connection lives as long as its thread's local storage, so threads that come
        # and go (a server's worker pool) do not accumulate open connections.
        self._all: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._guard = threading.Lock()
        self._closed = False
        try:
            _create_private(self.path)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the SQLite store `{self.path}`: {exc.strerror or exc}"
            ) from None
        try:
            conn = self._connection()
            _refuse_foreign(self.path, conn)
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise _refused(self.path, exc) from None
        except BaseException:
            self.close()  # a refused store (newer schema, wrong root key) keeps no connection
            raise

    # --- connections
    def _connection(self) -> sqlite3.Connection:
        return self._handle().conn

    def _handle(self) -> _Handle:
        """This thread's connection and its state (made on the thread's first use)."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None:
            return handle
        if self._closed:
            raise InternalError("the SQLite store is closed")
        # isolation_level=None: the module never opens transactions behind our back.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed operation survives power loss, as invariant 6 asks.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        handle = _Handle(conn)
        self._local.handle = handle
        with self._guard:
            self._all.add(handle)
        return handle

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with _errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(schema.VERSION_TABLE)
                current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                tx = _SqliteTransaction(conn, self._sealer, readonly=False)
                for version in schema.pending(current or 0):
                    for statement in schema.statements(version, "sqlite"):
                        conn.execute(statement)
                    tx.migrated(version)
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                        (version, datetime.now(UTC).isoformat()),
                    )
                tx.check_root_key()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # --- the port
    def transaction(
        self, *, readonly: bool = False, inline: bool = False
    ) -> AbstractContextManager[SqlTransaction]:
        handle = self._handle()
        if readonly and handle.depth == 0:
            return _Reading(self, handle, inline)
        return self._transaction(handle, readonly, inline)

    @contextmanager
    def _transaction(
        self, handle: _Handle, readonly: bool, inline: bool
    ) -> Iterator[SqlTransaction]:
        """A writing transaction, or one nested in another (a savepoint)."""
        conn = handle.conn
        depth = handle.depth
        try:
            if depth == 0:
                conn.execute("BEGIN IMMEDIATE")
            else:
                # a savepoint outside BEGIN would begin (and commit) a transaction of its own
                reading = handle.reading
                if reading is not None:
                    reading.attach()
                conn.execute(f"SAVEPOINT nested_{depth}")
        except sqlite3.DatabaseError as exc:
            raise _translate(exc) from exc
        tx = _SqliteTransaction(
            conn,
            self._sealer,
            readonly=readonly,
            inline=inline,
            decoded=self._decoded,
            grants=self._decoded_grants,
        )
        handle.depth = depth + 1
        try:
            yield tx
        except BaseException:
            with _errors():
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO nested_{depth}")
                    conn.execute(f"RELEASE nested_{depth}")
            raise
        else:
            try:
                conn.execute("COMMIT" if depth == 0 else f"RELEASE nested_{depth}")
            except sqlite3.DatabaseError as exc:
                raise _translate(exc) from exc
        finally:
            tx.close()
            handle.depth = depth
            if not readonly:
                # This connection may have written, which its data_version does not count:
                # forget every read (in place: an enclosing read-only block holds the dict).
                handle.reads.clear()
                handle.read_version = None

    def close(self) -> None:
        with self._guard:
            self._closed = True
            handles = list(self._all)
            self._all = weakref.WeakSet()
        for handle in handles:
            handle.conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"


class _Handle:
    """One thread's connection and its state, in one thread-local value (each attribute of a
    ``threading.local`` is a lookup of its own); it also lets the store hold the connections
    weakly (sqlite3 connections cannot be weakly referenced)."""

    __slots__ = ("__weakref__", "conn", "depth", "read_version", "reading", "reads")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0  # transactions open on this thread (savepoints beyond the first)
        self.reads = _Reads(_READS_LIMIT, maxweight=_READS_MAX_WEIGHT)
        self.read_version: int | None = None  # the data_version ``reads`` were made at
        #: the open read-only block at depth 0 (``_Reading``)
        self.reading: _SqliteTransaction | None = None

    def __del__(self) -> None:
        self.conn.close()  # its thread has ended


class _SqliteTransaction(SqlTransaction):
    __slots__ = ("_conn", "_local", "_reads", "_served", "attached")

    def __init__(
        self,
        conn: sqlite3.Connection,
        sealer: Sealer,
        *,
        readonly: bool,
        inline: bool = False,
        decoded: DecodedKeys | None = None,
        grants: DecodedGrants | None = None,
        reads: _Reads | None = None,
        local: _Handle | None = None,
    ) -> None:
        super().__init__(sealer, readonly=readonly, inline=inline, decoded=decoded, grants=grants)
        self._conn = conn
        self._reads = reads  # set for a read-only block at depth 0 (``_Reading``)
        self._local = local  # its thread's state (the version its reads were made at)
        self._served = False  # it has answered a read from ``reads``
        #: inside a SQLite transaction; a ``_Reading`` block begins one on its first query
        self.attached = local is None

    def attach(self) -> None:
        """Begin the SQLite transaction of a read-only block that answered from its reads so far.

        Its snapshot must be the one those answers came from: the version is read again inside
        it. When another connection committed since the block's check, the block goes on only
        if it has answered nothing yet (then from the new snapshot, its reads forgotten); a block
        that did answer cannot see its earlier state any more, and raises ``SnapshotMoved``
        (rolled back: the pipeline runs the request again)."""
        if self.attached:
            return
        local = self._local
        assert local is not None and self._reads is not None
        try:
            self._conn.execute("BEGIN DEFERRED")
            self.attached = True  # from here the block's end commits or rolls back
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise _translate(exc) from exc
        if version != local.read_version:
            if self._served:
                raise SnapshotMoved
            self._reads.clear()
            local.read_version = version

    # The reads of the request hot path (Encrypt, Decrypt, DescribeKey...): in a read-only
    # transaction each is answered from the connection's reads while the database is unchanged.
    # Results are immutable (frozen records, tuples), so a reused answer cannot be altered.
    def get_key(self, key_arn: str) -> KeyRecord | None:
        reads = self._reads
        if reads is None:
            return super().get_key(key_arn)
        if not self._open:
            self._check()  # raises
        question = ("get_key", key_arn)
        found = reads.get(question)
        if found is None and question not in reads:  # an absent key is a read too (None)
            found = reads.put(question, super().get_key(key_arn))
        self._served = True
        return found  # type: ignore[return-value]

    def get_alias(self, alias_arn: str) -> AliasRecord | None:
        reads = self._reads
        if reads is None:
            return super().get_alias(alias_arn)
        if not self._open:
            self._check()  # raises
        question = ("get_alias", alias_arn)
        found = reads.get(question)
        if found is None and question not in reads:
            found = reads.put(question, super().get_alias(alias_arn))
        self._served = True
        return found  # type: ignore[return-value]

    def list_aliases(
        self, account: str, region: str, *, key_id: str | None = None
    ) -> Sequence[AliasRecord]:
        reads = self._reads
        if reads is None:
            return super().list_aliases(account, region, key_id=key_id)
        if not self._open:
            self._check()  # raises
        question = ("list_aliases", account, region, key_id)
        found = reads.get(question)
        if found is None:  # a list is never None
            found = reads.put(question, tuple(super().list_aliases(account, region, key_id=key_id)))
        self._served = True
        return found  # type: ignore[return-value]

    def list_grants_naming(self, key_arn: str, names: Sequence[str]) -> Sequence[GrantRecord]:
        reads = self._reads
        if reads is None:
            return super().list_grants_naming(key_arn, names)
        if not self._open:
            self._check()  # raises
        question = ("list_grants_naming", key_arn, tuple(names))
        found = reads.get(question)
        if found is None:  # a list is never None
            found = reads.put(question, tuple(super().list_grants_naming(key_arn, names)))
        elif self._inline and len(found) > INLINE_GRANTS:  # type: ignore[arg-type]  # a tuple
            raise RunInThread  # read whole by a block that was not inline
        self._served = True
        return found  # type: ignore[return-value]

    def reused(self, question: tuple[object, ...]) -> object | None:
        """An answer kept with the reads (``keep``): valid exactly as long as they are, and,
        like a reused read, an answer from the block's snapshot (``attach``)."""
        reads = self._reads
        if reads is None or not self._open:
            return None
        found = reads.get(question)
        if found is not None:
            self._served = True
        return found

    def keep(self, question: tuple[object, ...], answer: object, weight: int) -> None:
        reads = self._reads
        if reads is not None and self._open:
            reads.put(question, answer, weight)

    # try/except rather than ``with _errors()``: a generator context manager per statement
    # costs as much as a simple SELECT itself.
    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        if not self.attached:
            self.attach()
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _translate(exc) from exc

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        if not self.attached:
            self.attach()
        try:
            self._conn.execute(sql, tuple(params))
        except sqlite3.DatabaseError as exc:
            raise _translate(exc) from exc


class _Reading(_SqliteTransaction):
    """A read-only block at depth 0: the request hot path (Encrypt, Decrypt, DescribeKey...),
    its own context manager (one object per block).

    It begins no SQLite transaction while every read is answered from the thread's reads. One
    ``PRAGMA data_version`` (a statement, so a read snapshot, of its own) tells whether the
    database is exactly as when those reads were made (any other connection's commit changes
    it; this connection's writes clear the reads): if so, they are the answers of this moment,
    and a block that needs no other read costs that one statement, not three. The first read
    that must go to the database begins the transaction (``_SqliteTransaction.attach``), whose
    snapshot must be the one the block's earlier answers came from.
    """

    __slots__ = ()

    def __init__(self, store: SqliteStore, handle: _Handle, inline: bool) -> None:
        # what ``_SqliteTransaction.__init__`` sets, without its two keyword calls: one block
        # per request on the hot path
        self._sealer = store._sealer
        self._readonly = True
        self._inline = inline
        self._decoded = store._decoded
        self._grant_docs = store._decoded_grants
        self._open = True
        self._conn = handle.conn
        self._reads = handle.reads
        self._local = handle
        self._served = False
        self.attached = False

    def __enter__(self) -> _Reading:
        local = self._local
        assert local is not None  # INVARIANT: set for every _Reading
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise _translate(exc) from exc
        if version != local.read_version:
            local.reads.clear()
            local.read_version = version
        local.depth = 1
        local.reading = self
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        local = self._local
        assert local is not None
        try:
            if self.attached:
                try:
                    self._conn.execute("COMMIT" if kind is None else "ROLLBACK")
                except sqlite3.DatabaseError as exc:
                    raise _translate(exc) from exc
        finally:
            self.close()
            local.depth = 0
            local.reading = None


def _refuse_foreign(path: Path, conn: sqlite3.Connection) -> None:
    """Another application's SQLite database is not migrated into ours."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "schema_version" not in tables:
        names = ", ".join(sorted(tables)[:3])
        raise ConfigError(f"not a kmspolicy database: `{path}` holds other tables ({names})")


def _refused(path: Path, exc: sqlite3.DatabaseError) -> ConfigError:
    """Why a file cannot be opened as the store (a startup error, not a request's)."""
    if "not a database" in str(exc):
        return ConfigError(f"not a kmspolicy database: `{path}` (SQLite: {exc})")
    return ConfigError(f"cannot open the SQLite store `{path}`: {exc}")


def _translate(exc: sqlite3.DatabaseError) -> DependencyTimeoutException | InternalError:
    """SQLite's exceptions as ours: a lock wait that timed out is worth a retry."""
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return DependencyTimeoutException(
            "the key store is busy with other requests; retry the request"
        )
    return InternalError(f"SQLite store: {exc}")


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise _translate(exc) from exc


def _create_private(path: Path) -> None:
    """Create the database file owner-only before SQLite does (its -wal/-shm copy the mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
