"""The grants' grantee columns (schema v6): what a decision finds its caller's grants by.
A store written before them is migrated in place, its grants filled from their documents;
every store finds exactly the grants ``GrantSet.for_caller`` would find by grantee."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
import store_records as r
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Caller, PrincipalType
from kmspolicy.authz.grants import GrantSet
from kmspolicy.authz.principals import role_parts
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.pipeline import to_authz_grant
from kmspolicy.kms.ports import Store
from kmspolicy.store import codec, open_store, schema
from kmspolicy.store.rootkey import RootKey

A, B = "111122223333", "444455556666"
#: grantees and callers chosen to collide: a user and a role of one name, paths, sessions,
#: an empty role name, roots, another account and partition, a service, a federated user
PRINCIPALS = [
    f"arn:aws:iam::{A}:user/app",
    f"arn:aws:iam::{A}:user/team/app",
    f"arn:aws:iam::{A}:role/app",
    f"arn:aws:iam::{A}:role/path/app",
    f"arn:aws:iam::{A}:role/path/",
    f"arn:aws:iam::{A}:role/other/",
    f"arn:aws:sts::{A}:assumed-role/app/s1",
    f"arn:aws:sts::{A}:assumed-role//s1",
    f"arn:aws:iam::{A}:root",
    f"arn:aws:iam::{B}:root",
    f"arn:aws:iam::{B}:role/app",
    f"arn:aws:sts::{B}:assumed-role/app/s2",
    f"arn:aws-cn:iam::{A}:role/app",
    f"arn:aws:sts::{A}:federated-user/app",
    "logs.amazonaws.com",
]


def _grant(i: int, grantee: str, key: str = "k1") -> GrantRecord:
    return GrantRecord(
        grant_id=f"g{i:03}",
        key_arn=r.key_arn(key),
        grantee_principal=grantee,
        operations=("Encrypt",),
        issuing_account=f"arn:aws:iam::{A}:root",
        creation_date=r.T0,
        retiring_principal=PRINCIPALS[i % len(PRINCIPALS)],
    )


def _ids_by_grantee(grants: GrantSet, who: Caller) -> list[str]:
    """The grants ``for_caller`` finds by their grantee (not by their retiring principal)."""
    caller_names: set[object] = {who.arn, who.principal_arn, who.root_arn}
    if who.type in (PrincipalType.ROLE, PrincipalType.ASSUMED_ROLE):
        caller_names.add((who.partition, who.account, who.name))
    return [
        g.grant_id
        for g in grants.for_caller(who)
        if {g.grantee_principal, role_parts(g.grantee_principal)} & caller_names
    ]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@given(
    grantees=st.lists(st.sampled_from(PRINCIPALS), max_size=12),
    caller=st.sampled_from([p for p in PRINCIPALS if not p.endswith(".amazonaws.com")]),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_grants_naming_a_caller_are_those_for_caller_finds(
    kind: str, grantees: list[str], caller: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = "memory:" if kind == "memory" else f"sqlite://{tmp}/kms.db"
        store = open_store(url, RootKey.generate())
        records = [_grant(i, g) for i, g in enumerate(grantees)]
        with store.transaction() as tx:
            for record in records:
                tx.put_grant(record)
            tx.put_grant(_grant(99, caller, key="k2"))  # another key's grant is not read
        who = Caller.from_arn(caller)
        with store.transaction(readonly=True) as tx:
            found = tx.list_grants_naming(r.key_arn("k1"), who.index_keys)
        store.close()
    full = GrantSet(to_authz_grant(g) for g in records)
    naming = GrantSet(to_authz_grant(g) for g in found)
    # every grant that can name the caller as grantee is read, in id order (a grant read may
    # still name someone else: the decision's own checks tell)
    assert _ids_by_grantee(naming, who) == _ids_by_grantee(full, who)
    assert [g.grant_id for g in found] == sorted({g.grant_id for g in found})
    assert all(g.key_arn == r.key_arn("k1") for g in found)


def _v5_database(path: Path, grants: list[GrantRecord]) -> None:
    """A SQLite store as kmspolicy wrote it before schema v6, holding ``grants``."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(schema.VERSION_TABLE)
        for version in range(1, 6):
            for statement in schema.statements(version, "sqlite"):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 'then')", (version,))
        for g in grants:
            conn.execute(
                "INSERT INTO grants (key_arn, grant_id, retiring_principal, doc) "
                "VALUES (?, ?, ?, ?)",
                (g.key_arn, g.grant_id, g.retiring_principal, codec.encode_grant(g)),
            )
    conn.close()


def test_a_version_5_store_gets_its_grants_grantee_columns(tmp_path: Path) -> None:
    grants = [_grant(i, p) for i, p in enumerate(PRINCIPALS)]
    db = tmp_path / "kms.db"
    _v5_database(db, grants)
    store = open_store(f"sqlite://{db}", RootKey.generate())
    try:
        session = Caller.from_arn(f"arn:aws:sts::{A}:assumed-role/app/s9")
        with store.transaction(readonly=True) as tx:
            found = tx.list_grants_naming(r.key_arn("k1"), session.index_keys)
            assert [g.grantee_principal for g in found] == [
                f"arn:aws:iam::{A}:role/app",
                f"arn:aws:iam::{A}:role/path/app",
                f"arn:aws:iam::{A}:root",
            ]
            listed = tx.list_grants(r.key_arn("k1"), grantee=PRINCIPALS[1])
            assert [g.grant_id for g in listed] == ["g001"]
    finally:
        store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM grants WHERE grantee IS NULL").fetchone()[0] == 0
    conn.close()


@pytest.mark.postgres
def test_a_version_5_postgres_store_gets_its_grants_grantee_columns(pg_store_url: str) -> None:
    import psycopg

    from kmspolicy.store.postgres import split_url

    conninfo, name = split_url(pg_store_url)
    grants = [_grant(i, p) for i, p in enumerate(PRINCIPALS)]
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]  # a checked identifier
        conn.execute(f"SET search_path TO {name}")  # type: ignore[arg-type]
        conn.execute(schema.VERSION_TABLE)
        for version in range(1, 6):
            for statement in schema.statements(version, "postgres"):
                conn.execute(statement)  # type: ignore[arg-type]  # our own schema text
            conn.execute("INSERT INTO schema_version VALUES (%s, 'then')", (version,))
        for g in grants:
            conn.execute(
                "INSERT INTO grants (key_arn, grant_id, retiring_principal, doc) "
                "VALUES (%s, %s, %s, %s)",
                (g.key_arn, g.grant_id, g.retiring_principal, codec.encode_grant(g)),
            )
    store: Store = open_store(pg_store_url, RootKey.generate())
    try:
        session = Caller.from_arn(f"arn:aws:sts::{A}:assumed-role/app/s9")
        with store.transaction(readonly=True) as tx:
            found = tx.list_grants_naming(r.key_arn("k1"), session.index_keys)
            assert [g.grantee_principal for g in found] == [
                f"arn:aws:iam::{A}:role/app",
                f"arn:aws:iam::{A}:role/path/app",
                f"arn:aws:iam::{A}:root",
            ]
    finally:
        store.close()
