"""Review finding: a process running code from before schema v6 checks the version only when
it opens the store, so after another process migrated the store it kept writing grants without
the grantee columns, which no decision or ListGrants by grantee then found (the grantee was
denied). Replayed with the old process's statement: since v8 the store refuses such a row with
an error saying what to do, and the rows written so before v8 are filled when it migrates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import store_records as r

from kmspolicy.authz import Caller
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.ports import Store
from kmspolicy.store import codec, open_store, schema
from kmspolicy.store.rootkey import RootKey

A = "111122223333"
BOB = f"arn:aws:iam::{A}:user/bob"
#: the statement a process running code from before v6 writes a grant with
OLD_INSERT = (
    "INSERT INTO grants (key_arn, grant_id, retiring_principal, doc) VALUES ({0}, {0}, {0}, {0}) "
    "ON CONFLICT (key_arn, grant_id) DO UPDATE SET "
    "retiring_principal = excluded.retiring_principal, doc = excluded.doc"
)


def _grant(i: int) -> GrantRecord:
    return GrantRecord(
        grant_id=f"g{i:03}",
        key_arn=r.key_arn("k1"),
        grantee_principal=BOB,
        operations=("Encrypt",),
        issuing_account=f"arn:aws:iam::{A}:root",
        creation_date=r.T0,
    )


def _row(g: GrantRecord) -> tuple[str, str, str | None, str]:
    return (g.key_arn, g.grant_id, g.retiring_principal, codec.encode_grant(g))


def _bob_grants(store: Store) -> list[str]:
    with store.transaction(readonly=True) as tx:
        found = tx.list_grants_naming(r.key_arn("k1"), Caller.from_arn(BOB).index_keys)
        listed = tx.list_grants(r.key_arn("k1"), grantee=BOB)
    assert [g.grant_id for g in listed] == [g.grant_id for g in found]
    return [g.grant_id for g in found]


def test_sqlite_refuses_an_old_process_grant_and_fills_those_it_wrote_before(
    tmp_path: Path,
) -> None:
    db = tmp_path / "kms.db"
    conn = sqlite3.connect(db)
    with conn:  # a store at v7, and a grant an old process wrote after its migration to v6
        conn.execute(schema.VERSION_TABLE)
        for version in range(1, 8):
            for statement in schema.statements(version, "sqlite"):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 'then')", (version,))
        conn.execute(OLD_INSERT.format("?"), _row(_grant(1)))
    store = open_store(f"sqlite://{db}", RootKey.generate())
    try:
        assert _bob_grants(store) == ["g001"]
        with pytest.raises(sqlite3.IntegrityError, match="older than the store schema"), conn:
            conn.execute(OLD_INSERT.format("?"), _row(_grant(2)))
        assert _bob_grants(store) == ["g001"]
    finally:
        store.close()
        conn.close()


@pytest.mark.postgres
def test_postgres_refuses_an_old_process_grant_and_fills_those_it_wrote_before(
    pg_store_url: str,
) -> None:
    import psycopg

    from kmspolicy.store.postgres import split_url

    conninfo, name = split_url(pg_store_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]  # checked name
            conn.execute(f"SET search_path TO {name}")  # type: ignore[arg-type]
            conn.execute(schema.VERSION_TABLE)
            for version in range(1, 8):
                for statement in schema.statements(version, "postgres"):
                    conn.execute(statement)  # type: ignore[arg-type]  # our own schema text
                conn.execute("INSERT INTO schema_version VALUES (%s, 'then')", (version,))
            conn.execute(OLD_INSERT.format("%s"), _row(_grant(1)))  # type: ignore[arg-type]
        store: Store = open_store(pg_store_url, RootKey.generate())
        try:
            assert _bob_grants(store) == ["g001"]
            with pytest.raises(psycopg.errors.CheckViolation, match="restart_older_kmspolicy"):
                conn.execute(OLD_INSERT.format("%s"), _row(_grant(2)))  # type: ignore[arg-type]
            assert _bob_grants(store) == ["g001"]
        finally:
            store.close()
