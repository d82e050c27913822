"""Review finding (denial of service): a decision on a key read ALL of the key's grants (up to
50,000) whenever the store had changed since its last read, and Encrypt and Decrypt run on
the server's event loop, so a caller alternating a cheap write with an Encrypt on a crowded
key stalled every other client for ~50-100 ms per pair (bench/grant_stall.py). A decision now
reads, by index, only the grants that can name its caller; ListGrants reads one page; creating
a grant costs nothing in the key's other grants. Counted, not timed: the grant sets the
decisions build, and the SQLite virtual machine's steps."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS, Identities
from kmspolicy.authz.grants import GrantSet
from kmspolicy.kms import pipeline
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.ports import Store
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey
from tests.kms.audit_log import RecordedAudit

A = "111122223333"
ROOT = f"arn:aws:iam::{A}:root"
ROLES = (f"arn:aws:iam::{A}:role/app", f"arn:aws:iam::{A}:role/path/app")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory:" if request.param == "memory" else f"sqlite://{tmp_path / 'kms.db'}"
    opened = open_store(url, RootKey.generate())
    yield opened
    opened.close()


def _fill(
    store: Store,
    key_arn: str,
    grantees: list[str],
    start: int = 0,
    retiring: Callable[[int], str | None] = lambda i: ROOT if i % 3 == 0 else None,
) -> None:
    """Grants straight into the store (ids in the order given), in one transaction."""
    with store.transaction() as tx:
        for i, grantee in enumerate(grantees, start):
            tx.put_grant(
                GrantRecord(
                    grant_id=f"{i:064x}",
                    key_arn=key_arn,
                    grantee_principal=grantee,
                    operations=("Encrypt", "Decrypt"),
                    issuing_account=ROOT,
                    creation_date=FakeClock().now(),
                    retiring_principal=retiring(i),
                    token_nonce="00" * 16,
                )
            )


def _others(n: int) -> list[str]:
    return [f"arn:aws:iam::{A}:user/u{i}" for i in range(n)]


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the grant sets the decisions build."""
    sizes: list[int] = []

    class Counted(GrantSet):
        __slots__ = ()

        def __init__(self, grants: Any = ()) -> None:
            super().__init__(grants)
            sizes.append(len(self))

    monkeypatch.setattr(pipeline, "GrantSet", Counted)
    return sizes


def _attack_rounds(store: Store, others: int, built: list[int]) -> list[int]:
    """The sizes of the grant sets built by three rounds of the attack on a key holding one
    grant to the caller (root) and ``others`` grants to other users: a write that changes the
    key's grants (CreateGrant, here of one more grant to root, so that each round's decision
    indexes a new set) and an Encrypt on the key."""
    kms = KMS(store, FakeClock(), A, identities=Identities([]))
    root = kms.client()
    key = root.create_key()["KeyMetadata"]["Arn"]
    _fill(store, key, [ROOT, *_others(others)])
    root.encrypt(KeyId=key, Plaintext=b"p")
    built.clear()
    for i in range(3):
        root.create_grant(KeyId=key, GranteePrincipal=ROOT, Operations=["Encrypt"])
        root.encrypt(KeyId=key, Plaintext=b"p", EncryptionContext={"round": str(i)})
    return sorted(set(built))


def test_a_decision_indexes_only_the_grants_naming_its_caller(
    store: Store, built: list[int]
) -> None:
    few = _attack_rounds(store, 5, built)
    many = _attack_rounds(store, 400, built)
    assert few == many == [2, 3, 4]  # root's own grants, whatever else the key holds


def _vm_steps(conn: sqlite3.Connection, call: Any) -> int:
    """The SQLite virtual machine's instructions while ``call`` runs on this connection."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        call()
    finally:
        conn.set_progress_handler(None, 1)
    return steps[0]


def _sqlite_steps(tmp_path: Path, others: int) -> tuple[int, ...]:
    """The VM steps of an Encrypt, a ListGrants page and a ListRetirableGrants page (Limit
    5) on a key holding ``others`` grants to other users (all retirable by root), each right
    after a write (TagResource: nothing read before it is reused), on one SQLite handle."""
    store = open_store(f"sqlite://{tmp_path / f'kms{others}.db'}", RootKey.generate())
    try:
        kms = KMS(store, FakeClock(), A, identities=Identities([]))
        root = kms.client()
        key = root.create_key()["KeyMetadata"]["Arn"]
        _fill(store, key, [ROOT, *ROLES, *_others(others)], retiring=lambda i: ROOT)
        root.encrypt(KeyId=key, Plaintext=b"p")
        conn = store._connection()  # type: ignore[attr-defined]  # this thread's connection
        steps = []
        for call in (
            lambda: root.encrypt(KeyId=key, Plaintext=b"p"),
            lambda: root.list_grants(KeyId=key, Limit=5),
            lambda: root.list_retirable_grants(RetiringPrincipal=ROOT, Limit=5),
        ):
            root.tag_resource(KeyId=key, Tags=[{"TagKey": "n", "TagValue": str(len(steps))}])
            steps.append(_vm_steps(conn, call))
        return tuple(steps)
    finally:
        store.close()


def test_sqlite_reads_no_more_rows_as_the_key_has_more_grants(tmp_path: Path) -> None:
    few = _sqlite_steps(tmp_path, 5)
    many = _sqlite_steps(tmp_path, 400)
    assert few == many
    assert few[0] > 0  # the counter counts (positive control)


def _pages(client: Any, key: str, limit: int, **filters: str) -> list[str]:
    """Every grant id ListGrants returns, page by page."""
    found: list[str] = []
    params: dict[str, Any] = {"KeyId": key, "Limit": limit, **filters}
    while True:
        page = client.list_grants(**params)
        found += [g["GrantId"] for g in page["Grants"]]
        assert len(page["Grants"]) <= limit
        if not page["Truncated"]:
            return found
        params["Marker"] = page["NextMarker"]


def test_list_grants_pages_by_grant_id_with_and_without_a_grantee(store: Store) -> None:
    kms = KMS(store, FakeClock(), A, identities=Identities([]))
    root = kms.client()
    key = root.create_key()["KeyMetadata"]["Arn"]
    grantees = [ROLES[i % 2] if i % 3 else _others(4)[i % 4] for i in range(23)]
    # written out of id order: the stores order them
    _fill(store, key, grantees[12:], start=12)
    _fill(store, key, grantees[:12])
    ids = [f"{i:064x}" for i in range(23)]
    for limit in (1, 4, 23, 100):
        assert _pages(root, key, limit) == ids
        for grantee in (ROLES[0], ROLES[1], _others(4)[2]):
            expected = [i for i, g in zip(ids, grantees, strict=True) if g == grantee]
            assert _pages(root, key, limit, GranteePrincipal=grantee) == expected
    one = root.list_grants(KeyId=key, GrantId=ids[5], GranteePrincipal=grantees[5])
    assert [g["GrantId"] for g in one["Grants"]] == [ids[5]]
    other = root.list_grants(KeyId=key, GrantId=ids[5], GranteePrincipal=grantees[6])
    assert other["Grants"] == []


def _retirable_pages(client: Any, limit: int) -> list[str]:
    """Every grant ListRetirableGrants returns for root, page by page, as "key id"."""
    found: list[str] = []
    params: dict[str, Any] = {"RetiringPrincipal": ROOT, "Limit": limit}
    while True:
        page = client.list_retirable_grants(**params)
        found += [f"{g['KeyId']} {g['GrantId']}" for g in page["Grants"]]
        assert len(page["Grants"]) <= limit
        if not page["Truncated"]:
            return found
        params["Marker"] = page["NextMarker"]


def test_list_retirable_grants_pages_by_key_and_grant_id_in_its_region(store: Store) -> None:
    kms = KMS(store, FakeClock(), A, identities=Identities([]))
    root = kms.client()
    keys = sorted(root.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    west = f"arn:aws:kms:us-west-2:{A}:key/0"  # another Region's key: never listed here
    by_root = lambda i: ROOT if i % 2 else ROLES[0]  # noqa: E731
    _fill(store, keys[1], _others(9), retiring=by_root)
    _fill(store, west, _others(9), retiring=by_root)
    _fill(store, keys[0], _others(9), retiring=by_root)
    expected = [f"{k} {i:064x}" for k in keys for i in range(9) if i % 2]
    for limit in (1, 3, 4, 100):
        assert _retirable_pages(root, limit) == expected
    with pytest.raises(Exception, match="InvalidMarkerException"):
        root.list_retirable_grants(RetiringPrincipal=ROOT, Marker="bm9zcGFjZQ==")


def test_an_audit_record_names_at_most_audited_matches_grants(store: Store) -> None:
    """A caller named by many grants that all allow: its record names the first
    AUDITED_MATCHES of them and counts the rest (it named every one, megabytes per record at
    a key's 50,000 grants)."""
    audit = RecordedAudit()
    kms = KMS(store, FakeClock(), A, identities=Identities([]), audit=audit)
    key = kms.client().create_key()["KeyMetadata"]["Arn"]
    user = f"arn:aws:iam::{A}:user/app"
    extra = 7
    _fill(store, key, [user] * (pipeline.AUDITED_MATCHES + extra))
    kms.as_principal(user).encrypt(KeyId=key, Plaintext=b"p")
    record = audit.records[-1]
    assert record.operation == "Encrypt" and record.allowed
    assert len(record.matched) == pipeline.AUDITED_MATCHES + 1
    assert all(label.startswith("grant:") for label in record.matched[:-1])
    assert record.matched[-1] == f"+{extra} more"
