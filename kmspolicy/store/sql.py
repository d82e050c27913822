"""The ``kms.ports.Transaction`` over SQL, shared by the SQLite and PostgreSQL stores (store layer).

Subclasses supply three things: how to run a statement, whether and how to lock what a read
returns (PostgreSQL row and advisory locks; SQLite already holds the database write lock), and
the placeholder style. Secrets are sealed on the way in and unsealed on the way out, here and
nowhere else, so no code path writes a plaintext secret to a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from kmspolicy.errors import InternalError
from kmspolicy.kms.model import AliasRecord, GrantRecord, KeyRecord
from kmspolicy.store import codec
from kmspolicy.store.sealing import Sealer

Row = tuple[Any, ...]
_BATCH = 500


class SqlTransaction:
    """One unit of work on one connection. Unusable once its ``with`` block has ended."""

    __slots__ = ("_open", "_readonly", "_sealer")

    def __init__(self, sealer: Sealer, *, readonly: bool) -> None:
        self._sealer = sealer
        self._readonly = readonly
        self._open = True

    # --- what a dialect provides
    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        raise NotImplementedError

    def _lock_name(self, name: str) -> None:
        """Serialize with other transactions touching ``name`` (which may not exist yet)."""

    _for_update_of_keys = ""  # appended to the key read of a writing transaction (alias k)

    # --- guards
    def close(self) -> None:
        self._open = False

    def _check(self, writing: bool = False) -> None:
        if not self._open:
            raise InternalError("store transaction used after its block ended")
        if writing and self._readonly:
            raise InternalError("write in a read-only store transaction")

    # --- keys
    def get_key(self, key_arn: str) -> KeyRecord | None:
        self._check()
        lock = "" if self._readonly else self._for_update_of_keys
        # One round trip: the key row (locked) joined with its sealed secrets.
        rows = self._query(
            "SELECT k.doc, s.kind, s.ref, s.sealed FROM keys k "
            f"LEFT JOIN key_secrets s ON s.key_arn = k.arn WHERE k.arn = ?{lock}",
            (key_arn,),
        )
        if not rows:
            return None
        secrets = [
            self._sealer.unseal(key_arn, kind, ref, bytes(blob))
            for _, kind, ref, blob in rows
            if kind is not None
        ]
        return codec.decode_key(rows[0][0], secrets)

    def _load_keys(self, rows: list[Row]) -> list[KeyRecord]:
        """Decode (arn, doc) rows, fetching all their secrets in one query."""
        by_key: dict[str, list[codec.Secret]] = {}
        for start in range(0, len(rows), _BATCH):  # bounded: SQLite caps bound parameters
            arns = [arn for arn, _ in rows[start : start + _BATCH]]
            marks = ", ".join("?" * len(arns))
            sealed = self._query(
                f"SELECT key_arn, kind, ref, sealed FROM key_secrets WHERE key_arn IN ({marks})",
                arns,
            )
            for arn, kind, ref, blob in sealed:
                secret = self._sealer.unseal(arn, kind, ref, bytes(blob))
                by_key.setdefault(arn, []).append(secret)
        return [codec.decode_key(doc, by_key.get(arn, [])) for arn, doc in rows]

    def put_key(self, record: KeyRecord) -> None:
        self._check(writing=True)
        doc, secrets = codec.encode_key(record)
        # INVARIANT: only sealed bytes reach key_secrets; the document holds no secret.
        sealed = [(record.arn, s.kind, s.ref, self._sealer.seal(record.arn, s)) for s in secrets]
        self._execute(
            "INSERT INTO keys (arn, account, region, key_id, doc) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (arn) DO UPDATE SET account = excluded.account, "
            "region = excluded.region, key_id = excluded.key_id, doc = excluded.doc",
            (record.arn, record.account, record.region, record.key_id, doc),
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
        sql = "SELECT arn, doc FROM keys WHERE account = ? AND region = ?"
        params: list[object] = [account, region]
        if after is not None:
            sql += " AND key_id > ?"
            params.append(after)
        sql += " ORDER BY key_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._load_keys(self._query(sql, params))

    def count_keys(self, account: str, region: str) -> int:
        self._check()
        rows = self._query(
            "SELECT COUNT(*) FROM keys WHERE account = ? AND region = ?", (account, region)
        )
        return int(rows[0][0])

    def iter_all_keys(self) -> Iterator[KeyRecord]:
        self._check()
        # Materialized, not streamed: callers write while iterating (sweepers).
        rows = self._query("SELECT arn, doc FROM keys ORDER BY account, region, key_id")
        return iter(self._load_keys(rows))

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
        return codec.decode_grant(rows[0][0]) if rows else None

    def put_grant(self, record: GrantRecord) -> None:
        self._check(writing=True)
        self._execute(
            "INSERT INTO grants (key_arn, grant_id, retiring_principal, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_arn, grant_id) DO UPDATE SET "
            "retiring_principal = excluded.retiring_principal, doc = excluded.doc",
            (
                record.key_arn,
                record.grant_id,
                record.retiring_principal,
                codec.encode_grant(record),
            ),
        )

    def delete_grant(self, key_arn: str, grant_id: str) -> None:
        self._check(writing=True)
        self._execute(
            "DELETE FROM grants WHERE key_arn = ? AND grant_id = ?", (key_arn, grant_id)
        )

    def list_grants(self, key_arn: str) -> Sequence[GrantRecord]:
        self._check()
        rows = self._query(
            "SELECT doc FROM grants WHERE key_arn = ? ORDER BY grant_id", (key_arn,)
        )
        return [codec.decode_grant(doc) for (doc,) in rows]

    def list_grants_by_retiring_principal(self, principal: str) -> Sequence[GrantRecord]:
        self._check()
        rows = self._query(
            "SELECT doc FROM grants WHERE retiring_principal = ? ORDER BY key_arn, grant_id",
            (principal,),
        )
        return [codec.decode_grant(doc) for (doc,) in rows]
