"""The ``kms.ports.Transaction`` over SQL, shared by the SQLite and PostgreSQL stores (store layer).

Subclasses supply three things: how to run a statement, whether and how to lock what a read
returns (PostgreSQL row and advisory locks; SQLite already holds the database write lock), and
the placeholder style. Secrets arrive sealed by the service's kernel and leave as they came: the
store never holds a plaintext secret, so no code path can write one to a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kmspolicy._cache import BoundedCache
from kmspolicy.authz.grants import grantee_keys
from kmspolicy.errors import InternalError
from kmspolicy.kms.lifecycle.due import due_at
from kmspolicy.kms.model import (
    AliasRecord,
    CustomKeyStoreRecord,
    GrantRecord,
    KeyRecord,
    SessionRecord,
)
from kmspolicy.kms.ports import INLINE_GRANTS, RunInThread
from kmspolicy.store import codec
from kmspolicy.store.sealing import Sealer

Row = tuple[Any, ...]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROOT_CHECK = "root-key-check"


#: Decoded keys by the exact row contents they were decoded from (one cache per store).
#: Not a cache of state: every read still goes to the database, and only when the document and
#: every sealed blob just read are byte-for-byte the ones decoded before is that decoding reused.
#: Any change to a key rewrites its document, so a changed row can never hit. It saves the JSON
#: decoding on the hot path (Encrypt, Decrypt).
DecodedKeys = BoundedCache[tuple[object, ...], KeyRecord]
DECODED_KEYS = 1024
#: Decoded grants by the document they were decoded from, likewise (one cache per store): the
#: grants naming a caller are read again for each of its decisions outside the reads a store
#: reuses (in a writing transaction, or after any write), and a caller many grants name (up to
#: 50,000 on a key) would decode each again. Bounded by entries and by the characters of their
#: documents (a document of ~400 characters decodes to ~1.5 KB).
DecodedGrants = BoundedCache[str, GrantRecord]
DECODED_GRANTS = 65_536
DECODED_GRANT_CHARS = 32 * 1024 * 1024


def decoded_grants() -> DecodedGrants:
    """A store's cache of decoded grants."""
    return DecodedGrants(DECODED_GRANTS, maxweight=DECODED_GRANT_CHARS)


class SqlTransaction:
    """One unit of work on one connection. Unusable once its ``with`` block has ended."""

    __slots__ = ("_decoded", "_grant_docs", "_inline", "_open", "_readonly", "_sealer")

    def __init__(
        self,
        sealer: Sealer,
        *,
        readonly: bool,
        inline: bool = False,
        decoded: DecodedKeys | None = None,
        grants: DecodedGrants | None = None,
    ) -> None:
        self._sealer = sealer
        self._readonly = readonly
        self._inline = inline
        self._decoded = decoded
        self._grant_docs = grants
        self._open = True

    # --- what a dialect provides
    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        raise NotImplementedError

    def _lock_name(self, name: str) -> None:
        """Serialize with other transactions touching ``name`` (which may not exist yet)."""

    # A statement locking one key row (parameter: its ARN) before a writing transaction reads
    # it; empty where the whole database is already locked for writing (SQLite).
    _lock_key_sql = ""

    # --- answers derived from reads: kept only where reads are (SQLite's read-only blocks)
    def reused(self, question: tuple[object, ...]) -> object | None:
        return None

    def keep(self, question: tuple[object, ...], answer: object, weight: int) -> None:
        pass

    # --- guards
    def close(self) -> None:
        self._open = False

    def _check(self, writing: bool = False) -> None:
        if not self._open:
            raise InternalError("store transaction used after its block ended")
        if writing and self._readonly:
            raise InternalError("write in a read-only store transaction")

    # --- the store itself
    def check_root_key(self) -> None:
        """Record the root key's canary on first open; refuse another root key afterwards."""
        rows = self._query("SELECT value FROM store_meta WHERE name = ?", (_ROOT_CHECK,))
        if rows:
            self._sealer.verify_root_key(bytes(rows[0][0]))
        else:
            self._execute(
                "INSERT INTO store_meta (name, value) VALUES (?, ?)",
                (_ROOT_CHECK, self._sealer.root_key_check()),
            )

    # --- keys
    _KEYS_JOINED = (
        "SELECT k.arn, k.doc, s.kind, s.ref, s.sealed FROM keys k "
        "LEFT JOIN key_secrets s ON s.key_arn = k.arn"
    )

    def get_key(self, key_arn: str) -> KeyRecord | None:
        self._check()
        # Lock first, read after, in two statements: under READ COMMITTED a locking SELECT that
        # waited re-reads only the locked row, not the rows joined to it, so a joined read could
        # pair the new document with the old secrets. The next statement takes a fresh snapshot
        # that includes whatever the previous lock holder committed.
        # The read itself is one statement, so one snapshot: the document and its secrets agree.
        read = self._KEYS_JOINED + " WHERE k.arn = ? ORDER BY s.kind, s.ref"
        if self._lock_key_sql and not self._readonly:
            rows = self._locked_query(self._lock_key_sql, read, (key_arn,))
        else:
            rows = self._query(read, (key_arn,))
        keys = self._load_joined(rows)
        return keys[0] if keys else None

    def _locked_query(self, lock: str, read: str, params: Sequence[object]) -> list[Row]:
        """Run ``lock`` then ``read`` as two statements (a dialect may send both at once)."""
        self._query(lock, params)
        return self._query(read, params)

    def _load_joined(self, rows: list[Row]) -> list[KeyRecord]:
        """Decode rows of (arn, doc, kind, ref, sealed) grouped by key, keeping their order."""
        grouped: dict[str, list[object]] = {}
        for arn, doc, kind, ref, blob in rows:
            parts = grouped.setdefault(arn, [arn, doc])
            if kind is not None:
                parts += (kind, ref, bytes(blob))
        return [self._decode_key(tuple(parts)) for parts in grouped.values()]

    def _decode_key(self, contents: tuple[Any, ...]) -> KeyRecord:
        """``contents`` = (arn, doc, kind, ref, sealed, kind, ref, sealed, ...) as just read."""
        if self._decoded is not None:
            record = self._decoded.get(contents)
            if record is not None:
                return record
        secrets = [
            codec.Secret(contents[i], contents[i + 1], contents[i + 2])
            for i in range(2, len(contents), 3)
        ]
        record = codec.decode_key(contents[1], secrets)
        if self._decoded is not None:
            self._decoded.put(contents, record)
        return record

    def put_key(self, record: KeyRecord) -> None:
        self._check(writing=True)
        doc, secrets = codec.encode_key(record)
        # INVARIANT: only sealed bytes reach key_secrets (the kernel sealed them); the document
        # holds no secret.
        sealed = [(record.arn, s.kind, s.ref, s.sealed) for s in secrets]
        self._execute(
            "INSERT INTO keys (arn, account, region, key_id, doc, due_at, custom_key_store_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (arn) DO UPDATE SET account = excluded.account, "
            "region = excluded.region, key_id = excluded.key_id, doc = excluded.doc, "
            "due_at = excluded.due_at, custom_key_store_id = excluded.custom_key_store_id",
            (
                record.arn,
                record.account,
                record.region,
                record.key_id,
                doc,
                _due_at(record),
                record.custom_key_store_id,
            ),
        )
        self._execute("DELETE FROM key_secrets WHERE key_arn = ?", (record.arn,))
        for row in sealed:
            self._execute(
                "INSERT INTO key_secrets (key_arn, kind, ref, sealed) VALUES (?, ?, ?, ?)", row
            )

    def delete_key(self, key_arn: str) -> None:
        self._check(writing=True)
        rows = self._query("SELECT account, region, key_id FROM keys WHERE arn = ?", (key_arn,))
        if not rows:
            return
        account, region, key_id = rows[0]
        self._execute(
            "DELETE FROM aliases WHERE account = ? AND region = ? AND target_key_id = ?",
            (account, region, key_id),
        )
        self._execute("DELETE FROM grants WHERE key_arn = ?", (key_arn,))
        self._execute("DELETE FROM key_secrets WHERE key_arn = ?", (key_arn,))
        self._execute("DELETE FROM keys WHERE arn = ?", (key_arn,))

    def list_keys(
        self, account: str, region: str, *, after: str | None = None, limit: int | None = None
    ) -> Sequence[KeyRecord]:
        self._check()
        page = "SELECT arn FROM keys WHERE account = ? AND region = ?"
        params: list[object] = [account, region]
        if after is not None:
            page += " AND key_id > ?"
            params.append(after)
        page += " ORDER BY key_id"
        if limit is not None:
            page += " LIMIT ?"
            params.append(limit)
        # One statement (one snapshot) for the page and every secret of its keys.
        sql = f"{self._KEYS_JOINED} WHERE k.arn IN ({page}) ORDER BY k.key_id, s.kind, s.ref"
        return self._load_joined(self._query(sql, params))

    def find_key(self, key_id: str, region: str) -> KeyRecord | None:
        self._check()
        rows = self._query("SELECT arn FROM keys WHERE key_id = ? AND region = ?", (key_id, region))
        return self.get_key(rows[0][0]) if rows else None

    def count_keys(self, account: str, region: str) -> int:
        self._check()
        rows = self._query(
            "SELECT COUNT(*) FROM keys WHERE account = ? AND region = ?", (account, region)
        )
        return int(rows[0][0])

    def iter_all_keys(self) -> Iterator[KeyRecord]:
        self._check()
        # Materialized, not streamed: callers write while iterating (sweepers).
        sql = f"{self._KEYS_JOINED} ORDER BY k.account, k.region, k.key_id, s.kind, s.ref"
        return iter(self._load_joined(self._query(sql)))

    def due_key_arns(self, now: datetime) -> Sequence[str]:
        self._check()
        rows = self._query("SELECT arn FROM keys WHERE due_at <= ? ORDER BY arn", (_micros(now),))
        return [arn for (arn,) in rows]

    # --- aliases
    def get_alias(self, alias_arn: str) -> AliasRecord | None:
        self._check()
        if not self._readonly:
            self._lock_name("alias:" + alias_arn)  # covers CreateAlias races on a free name
        rows = self._query("SELECT doc FROM aliases WHERE arn = ?", (alias_arn,))
        return codec.decode_alias(rows[0][0]) if rows else None

    def put_alias(self, record: AliasRecord) -> None:
        self._check(writing=True)
        self._execute(
            "INSERT INTO aliases (arn, account, region, name, target_key_id, doc) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
            "account = excluded.account, region = excluded.region, name = excluded.name, "
            "target_key_id = excluded.target_key_id, doc = excluded.doc",
            (
                record.arn,
                record.account,
                record.region,
                record.name,
                record.target_key_id,
                codec.encode_alias(record),
            ),
        )

    def delete_alias(self, alias_arn: str) -> None:
        self._check(writing=True)
        self._execute("DELETE FROM aliases WHERE arn = ?", (alias_arn,))

    def list_aliases(
        self, account: str, region: str, *, key_id: str | None = None
    ) -> Sequence[AliasRecord]:
        self._check()
        sql = "SELECT doc FROM aliases WHERE account = ? AND region = ?"
        params: list[object] = [account, region]
        if key_id is not None:
            sql += " AND target_key_id = ?"
            params.append(key_id)
        rows = self._query(sql + " ORDER BY name", params)
        return [codec.decode_alias(doc) for (doc,) in rows]

    # --- grants
    def get_grant(self, key_arn: str, grant_id: str) -> GrantRecord | None:
        self._check()
        rows = self._query(
            "SELECT doc FROM grants WHERE key_arn = ? AND grant_id = ?", (key_arn, grant_id)
        )
        return self._decode_grant(rows[0][0]) if rows else None

    def _decode_grant(self, doc: str) -> GrantRecord:
        """The grant ``doc`` holds, decoded once per document while the cache keeps it."""
        cache = self._grant_docs
        if cache is None:
            return codec.decode_grant(doc)
        record = cache.get(doc)
        if record is None:
            record = cache.put(doc, codec.decode_grant(doc), len(doc))
        return record

    def put_grant(self, record: GrantRecord) -> None:
        self._check(writing=True)
        grantee, role = grantee_keys(record.grantee_principal)
        self._execute(
            "INSERT INTO grants (key_arn, grant_id, retiring_principal, grantee, grantee_role, "
            "doc) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_arn, grant_id) DO UPDATE SET "
            "retiring_principal = excluded.retiring_principal, grantee = excluded.grantee, "
            "grantee_role = excluded.grantee_role, doc = excluded.doc",
            (
                record.key_arn,
                record.grant_id,
                record.retiring_principal,
                grantee,
                role,
                codec.encode_grant(record),
            ),
        )

    def delete_grant(self, key_arn: str, grant_id: str) -> None:
        self._check(writing=True)
        self._execute("DELETE FROM grants WHERE key_arn = ? AND grant_id = ?", (key_arn, grant_id))

    def list_grants(
        self,
        key_arn: str,
        *,
        grantee: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Sequence[GrantRecord]:
        self._check()
        sql = "SELECT doc FROM grants WHERE key_arn = ?"
        params: list[object] = [key_arn]
        if grantee is not None:
            sql += " AND grantee = ?"
            params.append(grantee)
        if after is not None:
            sql += " AND grant_id > ?"
            params.append(after)
        sql += " ORDER BY grant_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        decode = self._decode_grant
        return [decode(doc) for (doc,) in self._query(sql, params)]

    def list_grants_naming(self, key_arn: str, names: Sequence[str]) -> Sequence[GrantRecord]:
        self._check()
        if not names:
            return ()
        marks = ", ".join("?" * len(names))
        # Two indexed lookups, ordered here: written as one WHERE with OR, or with ORDER BY,
        # SQLite walks all of the key's grants by its primary key instead. A row found by
        # both is one grant.
        sql = (
            f"SELECT grant_id, doc FROM grants WHERE key_arn = ? AND grantee IN ({marks}) "
            f"UNION ALL SELECT grant_id, doc FROM grants WHERE key_arn = ? AND grantee_role IN "
            f"({marks})"
        )
        params: list[object] = [key_arn, *names, key_arn, *names]
        if self._inline:  # a row found by both lookups counts twice: erring towards a thread
            sql += " LIMIT ?"
            params.append(INLINE_GRANTS + 1)
        rows = self._query(sql, params)
        if self._inline and len(rows) > INLINE_GRANTS:
            raise RunInThread
        docs: dict[str, str] = dict(rows)
        decode = self._decode_grant
        return [decode(docs[grant_id]) for grant_id in sorted(docs)]

    def migrated(self, version: int) -> None:
        """What migration ``version`` needs beyond its statements (run in its transaction)."""
        # v6: the grantee columns of the grants written before them; v8: of those written
        # since by a process running older code (v8 refuses them from now on)
        if version in (6, 8):
            rows = self._query("SELECT key_arn, grant_id, doc FROM grants WHERE grantee IS NULL")
            for key_arn, grant_id, doc in rows:
                grantee, role = grantee_keys(codec.decode_grant(doc).grantee_principal)
                self._execute(
                    "UPDATE grants SET grantee = ?, grantee_role = ? "
                    "WHERE key_arn = ? AND grant_id = ?",
                    (grantee, role, key_arn, grant_id),
                )

    def count_grants(self, key_arn: str) -> int:
        self._check()
        return int(self._query("SELECT COUNT(*) FROM grants WHERE key_arn = ?", (key_arn,))[0][0])

    def list_grants_by_retiring_principal(
        self, principal: str, *, after: tuple[str, str] | None = None, limit: int | None = None
    ) -> Sequence[GrantRecord]:
        self._check()
        sql = "SELECT doc FROM grants WHERE retiring_principal = ?"
        params: list[object] = [principal]
        if after is not None:
            sql += " AND (key_arn, grant_id) > (?, ?)"  # a row value: a range of the index
            params += after
        sql += " ORDER BY key_arn, grant_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._decode_grant(doc) for (doc,) in self._query(sql, params)]

    # --- custom key stores
    def get_custom_key_store(self, store_id: str) -> CustomKeyStoreRecord | None:
        self._check()
        rows = self._query(
            "SELECT doc, sealed_credential FROM custom_key_stores WHERE store_id = ?", (store_id,)
        )
        return codec.decode_key_store(rows[0][0], bytes(rows[0][1])) if rows else None

    def put_custom_key_store(self, record: CustomKeyStoreRecord) -> None:
        self._check(writing=True)
        doc, sealed = codec.encode_key_store(record)
        self._execute(
            "INSERT INTO custom_key_stores (store_id, account, region, name, doc, "
            "sealed_credential) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (store_id) DO UPDATE SET "
            "account = excluded.account, region = excluded.region, name = excluded.name, "
            "doc = excluded.doc, sealed_credential = excluded.sealed_credential",
            (record.store_id, record.account, record.region, record.name, doc, sealed),
        )

    def delete_custom_key_store(self, store_id: str) -> None:
        self._check(writing=True)
        self._execute("DELETE FROM custom_key_stores WHERE store_id = ?", (store_id,))

    def list_custom_key_stores(self, account: str, region: str) -> Sequence[CustomKeyStoreRecord]:
        self._check()
        rows = self._query(
            "SELECT doc, sealed_credential FROM custom_key_stores WHERE account = ? AND "
            "region = ? ORDER BY store_id",
            (account, region),
        )
        return [codec.decode_key_store(doc, bytes(sealed)) for doc, sealed in rows]

    def count_keys_in_custom_key_store(self, store_id: str) -> int:
        self._check()
        rows = self._query("SELECT COUNT(*) FROM keys WHERE custom_key_store_id = ?", (store_id,))
        return int(rows[0][0])

    # --- web console sessions
    def get_session(self, digest: str) -> SessionRecord | None:
        self._check()
        rows = self._query(
            "SELECT principal, access_key_id, region, expires_at FROM console_sessions "
            "WHERE digest = ?",
            (digest,),
        )
        if not rows:
            return None
        principal, access_key_id, region, expires_at = rows[0]
        return SessionRecord(
            digest, principal, access_key_id, region, _EPOCH + timedelta(microseconds=expires_at)
        )

    def put_session(self, record: SessionRecord) -> None:
        self._check(writing=True)
        self._execute(
            "INSERT INTO console_sessions (digest, principal, access_key_id, region, expires_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET "
            "principal = excluded.principal, access_key_id = excluded.access_key_id, "
            "region = excluded.region, expires_at = excluded.expires_at",
            (
                record.digest,
                record.principal,
                record.access_key_id,
                record.region,
                _micros(record.expires),
            ),
        )

    def delete_session(self, digest: str) -> None:
        self._check(writing=True)
        self._execute("DELETE FROM console_sessions WHERE digest = ?", (digest,))

    def delete_expired_sessions(self, now: datetime) -> None:
        self._check(writing=True)
        self._execute("DELETE FROM console_sessions WHERE expires_at <= ?", (_micros(now),))


def _micros(moment: datetime) -> int:
    """A timezone-aware moment as whole microseconds since the Unix epoch (sortable, exact)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _due_at(record: KeyRecord) -> int | None:
    moment = due_at(record)
    return None if moment is None else _micros(moment)
