"""The store contract: every ``kms.ports.Store`` (memory, SQLite, PostgreSQL) behaves alike.

Each test runs once per store kind (``store_kind``); PostgreSQL runs are marked ``postgres``.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kmspolicy.errors import NotFoundException
from kmspolicy.kms.model import (
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStoreRecord,
    CustomKeyStoreType,
    GrantConstraints,
    KeyState,
    SessionRecord,
    Tag,
)
from kmspolicy.kms.sealed import Sealed

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
import store_records as r

DURABLE = ("sqlite", "postgres")


def _only_durable(kind: str) -> None:
    if kind not in DURABLE:
        pytest.skip("the memory store has nothing at rest and no second handle")


# --- keys


def test_key_round_trips_every_field(store):
    original = r.rich_key("k-rich")
    with store.transaction() as tx:
        tx.put_key(original)
    with store.transaction() as tx:
        loaded = tx.get_key(original.arn)
    assert loaded == original
    assert loaded.material_by_id("c" * 64).sealed == original.materials[2].sealed
    assert loaded.pending_imports[0].sealed_wrapping_key == Sealed(b"wrapping-private-key-DER" * 4)
    assert loaded.creation_date.tzinfo is not None


def test_missing_key_is_none(store):
    with store.transaction() as tx:
        assert tx.get_key(r.key_arn("nope")) is None


def test_put_key_replaces_and_drops_removed_materials(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1", materials=(r.material(1), r.material(2))))
    with store.transaction() as tx:
        tx.put_key(r.key("k1", materials=(r.material(3),), state=KeyState.DISABLED))
    with store.transaction() as tx:
        loaded = tx.get_key(r.key_arn("k1"))
    assert loaded is not None
    assert [m.material_id for m in loaded.materials] == [r.material(3).material_id]
    assert loaded.key_state is KeyState.DISABLED


def test_tags_are_part_of_the_key(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1", tags=(Tag("a", "1"), Tag("b", "2"))))
    with store.transaction() as tx:
        record = tx.get_key(r.key_arn("k1"))
        tx.put_key(record.evolve(tags=(Tag("b", "3"),)))
    with store.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")).tag_map == {"b": "3"}


def test_list_keys_orders_by_id_and_pages(store):
    ids = ["k-05", "k-01", "k-10", "K-02", "k-03"]
    with store.transaction() as tx:
        for key_id in ids:
            tx.put_key(r.key(key_id))
        tx.put_key(r.key("other-account", account="444455556666"))
        tx.put_key(r.key("other-region", region="eu-west-1"))
    with store.transaction() as tx:
        listed = [k.key_id for k in tx.list_keys(r.ACCOUNT, r.REGION)]
        assert listed == sorted(ids)  # code-point order: "K-02" before "k-01"
        page1 = [k.key_id for k in tx.list_keys(r.ACCOUNT, r.REGION, limit=2)]
        page2 = [k.key_id for k in tx.list_keys(r.ACCOUNT, r.REGION, after=page1[-1], limit=2)]
        assert page1 + page2 == sorted(ids)[:4]
        assert tx.count_keys(r.ACCOUNT, r.REGION) == 5
        assert tx.count_keys("444455556666", r.REGION) == 1
        assert tx.count_keys(r.ACCOUNT, "ap-south-1") == 0
        assert {k.key_id for k in tx.iter_all_keys()} == {*ids, "other-account", "other-region"}


def test_find_key_by_id_and_region_across_accounts(store):
    with store.transaction() as tx:
        tx.put_key(r.key("shared-id", account="444455556666"))
        tx.put_key(r.key("eu-id", region="eu-west-1"))
    with store.transaction(readonly=True) as tx:
        found = tx.find_key("shared-id", r.REGION)
        assert found is not None and found.account == "444455556666"
        assert found.material_by_id(r.material(1).material_id).sealed is not None
        assert tx.find_key("eu-id", r.REGION) is None  # another Region's key is not found
        assert tx.find_key("eu-id", "eu-west-1").region == "eu-west-1"
        assert tx.find_key("nope", r.REGION) is None
    with store.transaction() as tx:
        tx.delete_key(r.key_arn("shared-id", "444455556666"))
    with store.transaction() as tx:
        assert tx.find_key("shared-id", r.REGION) is None


def test_due_key_arns_lists_only_keys_with_due_work(store):
    from datetime import timedelta

    day = timedelta(days=1)
    with store.transaction() as tx:
        tx.put_key(r.key("idle"))
        tx.put_key(
            r.key(
                "doomed",
                account="444455556666",
                state=KeyState.PENDING_DELETION,
                deletion_date=r.T0 + 7 * day,
            )
        )
        tx.put_key(r.key("rotating", rotation_enabled=True, next_rotation_date=r.T0 + 3 * day))
        # disabled keys do not rotate, however overdue: nothing to do
        tx.put_key(
            r.key(
                "resting",
                state=KeyState.DISABLED,
                rotation_enabled=True,
                next_rotation_date=r.T0 + day,
            )
        )
    with store.transaction(readonly=True) as tx:
        assert list(tx.due_key_arns(r.T0)) == []
        assert list(tx.due_key_arns(r.T0 + 3 * day)) == [r.key_arn("rotating")]
        assert list(tx.due_key_arns(r.T0 + 30 * day)) == sorted(
            [r.key_arn("rotating"), r.key_arn("doomed", "444455556666")]
        )
    with store.transaction() as tx:  # the due moment follows the key's changes
        record = tx.get_key(r.key_arn("rotating"))
        tx.put_key(record.evolve(next_rotation_date=r.T0 + 100 * day))
    with store.transaction(readonly=True) as tx:
        assert list(tx.due_key_arns(r.T0 + 30 * day)) == [r.key_arn("doomed", "444455556666")]


def test_delete_key_takes_its_aliases_and_grants(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1"))
        tx.put_key(r.key("k2"))
        tx.put_alias(r.alias("alias/one", "k1"))
        tx.put_alias(r.alias("alias/two", "k2"))
        tx.put_grant(r.grant("g1", "k1", retiring="arn:aws:iam::111122223333:user/bob"))
        tx.put_grant(r.grant("g2", "k2"))
    with store.transaction() as tx:
        tx.delete_key(r.key_arn("k1"))
        tx.delete_key(r.key_arn("never-existed"))  # a no-op, not an error
    with store.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")) is None
        assert [a.name for a in tx.list_aliases(r.ACCOUNT, r.REGION)] == ["alias/two"]
        assert list(tx.list_grants(r.key_arn("k1"))) == []
        assert [g.grant_id for g in tx.list_grants(r.key_arn("k2"))] == ["g2"]
        assert not tx.list_grants_by_retiring_principal("arn:aws:iam::111122223333:user/bob")


# --- aliases


def test_alias_crud_and_listing(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1"))
        tx.put_key(r.key("k2"))
        for name, target in [("alias/b", "k1"), ("alias/a", "k2"), ("alias/C", "k1")]:
            tx.put_alias(r.alias(name, target))
        tx.put_alias(r.alias("alias/aws/s3", None))
        tx.put_alias(r.alias("alias/a", "k1", account="444455556666"))
    with store.transaction() as tx:
        names = [a.name for a in tx.list_aliases(r.ACCOUNT, r.REGION)]
        assert names == ["alias/C", "alias/a", "alias/aws/s3", "alias/b"]
        assert [a.name for a in tx.list_aliases(r.ACCOUNT, r.REGION, key_id="k1")] == [
            "alias/C",
            "alias/b",
        ]
        found = tx.get_alias(r.alias("alias/aws/s3", None).arn)
        assert found == r.alias("alias/aws/s3", None)
        # UpdateAlias: same ARN, new target
        tx.put_alias(r.alias("alias/b", "k2"))
    with store.transaction() as tx:
        assert tx.get_alias(r.alias("alias/b", "k2").arn).target_key_id == "k2"
        tx.delete_alias(r.alias("alias/b", "k2").arn)
        tx.delete_alias(r.alias("alias/missing", "k2").arn)
    with store.transaction() as tx:
        assert tx.get_alias(r.alias("alias/b", "k2").arn) is None
        assert len(tx.list_aliases("444455556666", r.REGION)) == 1


# --- grants


def test_grant_crud_with_constraints(store):
    equals = GrantConstraints(encryption_context_equals=(("dept", "a"), ("x", "y")))
    subset = GrantConstraints(encryption_context_subset=(("dept", "a"),))
    bob = "arn:aws:iam::111122223333:user/bob"
    with store.transaction() as tx:
        tx.put_key(r.key("k1"))
        tx.put_key(r.key("k0"))
        tx.put_grant(r.grant("g2", "k1", constraints=equals, retiring=bob))
        tx.put_grant(r.grant("g1", "k1", constraints=subset))
        tx.put_grant(r.grant("g3", "k0", retiring=bob))
    with store.transaction() as tx:
        expected = r.grant("g2", "k1", constraints=equals, retiring=bob)
        assert tx.get_grant(r.key_arn("k1"), "g2") == expected
        assert tx.get_grant(r.key_arn("k1"), "g3") is None
        assert [g.grant_id for g in tx.list_grants(r.key_arn("k1"))] == ["g1", "g2"]
        retirable = tx.list_grants_by_retiring_principal(bob)
        assert [(g.key_arn, g.grant_id) for g in retirable] == [
            (r.key_arn("k0"), "g3"),
            (r.key_arn("k1"), "g2"),
        ]
        tx.delete_grant(r.key_arn("k1"), "g2")
        tx.delete_grant(r.key_arn("k1"), "absent")
    with store.transaction() as tx:
        assert tx.get_grant(r.key_arn("k1"), "g2") is None
        assert [g.grant_id for g in tx.list_grants(r.key_arn("k1"))] == ["g1"]


def test_grant_reads_page_and_find_by_grantee(store):
    """ListGrants and ListRetirableGrants read a page (after, limit); a decision reads the
    grants whose grantee or grantee's role is one of its caller's names; an inline
    transaction refuses to read more than INLINE_GRANTS of them."""
    from dataclasses import replace

    from kmspolicy.kms.ports import INLINE_GRANTS, RunInThread

    bob = "arn:aws:iam::111122223333:user/bob"
    role = "arn:aws:iam::111122223333:role/team/app"
    grantees = [bob, role, "arn:aws:iam::111122223333:role/app"]
    with store.transaction() as tx:
        for k in ("k2", "k1"):
            for i in range(9):
                g = r.grant(f"g{i}", k, retiring=bob if i % 2 else None)
                tx.put_grant(replace(g, grantee_principal=grantees[i % 3]))
    k1 = r.key_arn("k1")
    with store.transaction(readonly=True) as tx:
        ids = [g.grant_id for g in tx.list_grants(k1)]
        assert ids == [f"g{i}" for i in range(9)]
        assert [g.grant_id for g in tx.list_grants(k1, after="g2", limit=3)] == ["g3", "g4", "g5"]
        assert [g.grant_id for g in tx.list_grants(k1, grantee=role, after="g1")] == ["g4", "g7"]
        retirable = tx.list_grants_by_retiring_principal(bob, after=(k1, "g5"), limit=3)
        assert [(g.key_arn, g.grant_id) for g in retirable] == [
            (k1, "g7"),
            (r.key_arn("k2"), "g1"),
            (r.key_arn("k2"), "g3"),
        ]
        # a session of the role named with and without its path, and bob: one grant each way
        names = (
            "arn:aws:sts::111122223333:assumed-role/app/s",
            "arn:aws:iam::111122223333:role/app",
        )
        found = tx.list_grants_naming(k1, names)
        assert [g.grant_id for g in found] == ["g1", "g2", "g4", "g5", "g7", "g8"]
        assert [g.grant_id for g in tx.list_grants_naming(k1, (bob,))] == ["g0", "g3", "g6"]
    with store.transaction() as tx:
        for i in range(INLINE_GRANTS + 1):
            tx.put_grant(replace(r.grant(f"h{i:03}", "k1"), grantee_principal=bob))
    with store.transaction(readonly=True, inline=True) as tx, pytest.raises(RunInThread):
        tx.list_grants_naming(k1, (bob,))
    with store.transaction(readonly=True) as tx:
        assert len(tx.list_grants_naming(k1, (bob,))) == INLINE_GRANTS + 4


# --- atomicity


def test_failure_inside_a_transaction_leaves_nothing_half_written(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1"))
        tx.put_alias(r.alias("alias/keep", "k1"))
    with pytest.raises(NotFoundException), store.transaction() as tx:
        tx.put_key(r.key("k1", state=KeyState.DISABLED, materials=(r.material(7),)))
        tx.put_key(r.key("k2"))
        tx.put_alias(r.alias("alias/new", "k2"))
        tx.delete_alias(r.alias("alias/keep", "k1").arn)
        tx.put_grant(r.grant("g1", "k1"))
        tx.delete_key(r.key_arn("k1"))
        raise NotFoundException("simulated failure after the writes")
    with store.transaction() as tx:
        k1 = tx.get_key(r.key_arn("k1"))
        assert k1 == r.key("k1")
        assert k1.materials[0].sealed == r.material(1).sealed
        assert tx.get_key(r.key_arn("k2")) is None
        assert [a.name for a in tx.list_aliases(r.ACCOUNT, r.REGION)] == ["alias/keep"]
        assert list(tx.list_grants(r.key_arn("k1"))) == []


def test_a_new_transaction_sees_the_committed_state(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1"))
    with store.transaction() as tx:
        tx.put_key(tx.get_key(r.key_arn("k1")).evolve(key_state=KeyState.DISABLED))
    with store.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")).key_state is KeyState.DISABLED


# --- web console sessions


def _session(digest: str, minute: int) -> SessionRecord:
    expires = datetime(2026, 1, 1, 12, minute, 0, 123456, tzinfo=UTC)
    user = "arn:aws:iam::111122223333:user/a"
    return SessionRecord(digest, user, "AKIAEXAMPLE", "eu-west-1", expires)


def test_sessions_round_trip_and_expired_ones_are_purged(store):
    with store.transaction() as tx:
        for n, digest in enumerate(("a" * 64, "b" * 64, "c" * 64)):
            tx.put_session(_session(digest, 10 * n))
    with store.transaction(readonly=True) as tx:
        assert tx.get_session("b" * 64) == _session("b" * 64, 10)
        assert tx.get_session("d" * 64) is None
    with store.transaction() as tx:
        # expiring exactly now counts as expired; the one after it stays
        tx.delete_expired_sessions(_session("", 10).expires)
        tx.delete_session("c" * 64)
    with store.transaction(readonly=True) as tx:
        assert [tx.get_session(d * 64) for d in "abc"] == [None, None, None]
    with store.transaction() as tx:
        tx.put_session(_session("e" * 64, 0))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.delete_session("e" * 64)
        raise RuntimeError("rolled back")
    with store.transaction(readonly=True) as tx:
        assert tx.get_session("e" * 64) == _session("e" * 64, 0)


def test_a_session_written_by_one_handle_ends_for_all_when_deleted(store_kind, store_factory):
    _only_durable(store_kind)
    a, b = store_factory(), store_factory()
    with a.transaction() as tx:
        tx.put_session(_session("f" * 64, 30))
    with b.transaction(readonly=True) as tx:
        assert tx.get_session("f" * 64) == _session("f" * 64, 30)
    with b.transaction() as tx:
        tx.delete_session("f" * 64)
    with a.transaction(readonly=True) as tx:
        assert tx.get_session("f" * 64) is None


# --- durability and sharing (several handles on one store = several processes)


def test_state_survives_reopening(store_kind, store_factory):
    _only_durable(store_kind)
    first = store_factory()
    original = r.rich_key("k1")
    with first.transaction() as tx:
        tx.put_key(original)
        tx.put_alias(r.alias("alias/a", "k1"))
        tx.put_grant(r.grant("g1", "k1"))
    first.close()
    second = store_factory()
    with second.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")) == original
        assert tx.get_alias(r.alias("alias/a", "k1").arn) is not None
        assert tx.get_grant(r.key_arn("k1"), "g1") == r.grant("g1", "k1")


def test_other_handles_see_commits_at_once(store_kind, store_factory):
    """No stale cache: a disable or a revocation by one process binds the next call of another."""
    _only_durable(store_kind)
    a, b = store_factory(), store_factory()
    with a.transaction() as tx:
        tx.put_key(r.key("k1"))
        tx.put_grant(r.grant("g1", "k1"))
    with b.transaction() as tx:  # b reads (and would cache, if it cached) the enabled key
        assert tx.get_key(r.key_arn("k1")).key_state is KeyState.ENABLED
        assert tx.get_grant(r.key_arn("k1"), "g1") is not None
    with a.transaction() as tx:
        tx.put_key(tx.get_key(r.key_arn("k1")).evolve(key_state=KeyState.DISABLED))
        tx.delete_grant(r.key_arn("k1"), "g1")
    with b.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")).key_state is KeyState.DISABLED
        assert tx.get_grant(r.key_arn("k1"), "g1") is None


def test_uncommitted_writes_are_invisible_to_other_handles(store_kind, store_factory):
    _only_durable(store_kind)
    a, b = store_factory(), store_factory()
    with a.transaction() as tx:
        tx.put_key(r.key("k1"))
        with b.transaction(readonly=True) as other:
            assert other.get_key(r.key_arn("k1")) is None
    with b.transaction(readonly=True) as other:
        assert other.get_key(r.key_arn("k1")) is not None


def test_concurrent_read_modify_writes_are_serialized(store_kind, store_factory):
    """Like concurrent rotations: each increments a counter read in the same transaction."""
    handles = [store_factory() for _ in range(3)]
    with handles[0].transaction() as tx:
        tx.put_key(r.key("k1"))
    rounds, workers = 15, 6
    errors: list[BaseException] = []

    def work(i: int) -> None:
        s = handles[i % len(handles)]
        try:
            for _ in range(rounds):
                with s.transaction() as tx:
                    record = tx.get_key(r.key_arn("k1"))
                    tx.put_key(record.evolve(on_demand_rotations=record.on_demand_rotations + 1))
        except BaseException as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with handles[0].transaction() as tx:
        assert tx.get_key(r.key_arn("k1")).on_demand_rotations == rounds * workers


def test_concurrent_creates_of_one_alias_name_queue(store_kind, store_factory):
    """Two CreateAlias of a free name: the second must see the first's alias, not overwrite it."""
    handles = [store_factory() for _ in range(2)]
    with handles[0].transaction() as tx:
        tx.put_key(r.key("k0"))
        tx.put_key(r.key("k1"))
    winners: list[str] = []
    barrier = threading.Barrier(2)
    arn = r.alias("alias/race", "k0").arn

    def create(i: int) -> None:
        barrier.wait()
        with handles[i].transaction() as tx:
            if tx.get_alias(arn) is None:
                time.sleep(0.05)  # widen the race window; the assertion never depends on time
                tx.put_alias(r.alias("alias/race", f"k{i}"))
                winners.append(f"k{i}")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    with handles[0].transaction() as tx:
        assert tx.get_alias(arn).target_key_id == winners[0]


def test_listed_keys_carry_their_own_material(store):
    """Listing joins keys with their secrets; each key must get back exactly its own material."""
    with store.transaction() as tx:
        for i in range(5):
            tx.put_key(r.key(f"k{i}", materials=(r.material(10 + i), r.material(20 + i))))
    with store.transaction() as tx:
        listed = list(tx.list_keys(r.ACCOUNT, r.REGION))
        everything = list(tx.iter_all_keys())
    for keys in (listed, everything):
        assert [k.key_id for k in keys] == [f"k{i}" for i in range(5)]
        for i, k in enumerate(keys):
            assert [m.sealed for m in k.materials] == [
                r.material(10 + i).sealed,
                r.material(20 + i).sealed,
            ]


def test_a_key_read_never_pairs_a_new_document_with_old_secrets(store_kind, store_factory):
    """Writers add versions while readers (in writing transactions) check the current one."""
    writer, reader = store_factory(), store_factory()
    with writer.transaction() as tx:
        tx.put_key(r.key("k1", materials=(r.material(1),)))
    problems: list[str] = []
    done = threading.Event()

    def rotate() -> None:
        try:
            for n in range(2, 30):
                with writer.transaction() as tx:
                    record = tx.get_key(r.key_arn("k1"))
                    mats = (*record.materials, r.material(n))
                    tx.put_key(
                        record.evolve(materials=mats, current_material_id=mats[-1].material_id)
                    )
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            with reader.transaction() as tx:
                record = tx.get_key(r.key_arn("k1"))
                current = record.current_material
                if current is None or current.sealed is None:
                    problems.append(f"version {record.current_material_id} without its material")

    threads = [threading.Thread(target=rotate), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []


def test_a_changed_secret_under_an_unchanged_document_is_seen(store_kind, store_factory):
    """Same document, new material bytes (a re-import): readers must get the new bytes."""
    a, b = store_factory(), store_factory()
    with a.transaction() as tx:
        tx.put_key(r.key("k1", materials=(r.material(1, secret=b"\x01" * 32),)))
    for _ in range(2):  # read twice: the second read may reuse a decoding
        with b.transaction() as tx:
            assert tx.get_key(r.key_arn("k1")).materials[0].sealed == Sealed(b"\x01" * 32)
    with a.transaction() as tx:
        tx.put_key(r.key("k1", materials=(r.material(1, secret=b"\x02" * 32),)))
    with b.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")).materials[0].sealed == Sealed(b"\x02" * 32)
    with a.transaction() as tx:
        tx.put_key(
            r.key("k1", materials=(r.material(1, secret=b"\x02" * 32),), state=KeyState.DISABLED)
        )
    with b.transaction() as tx:
        assert tx.get_key(r.key_arn("k1")).key_state is KeyState.DISABLED


# --- custom key stores


def _key_store(store_id: str, name: str, **changes) -> CustomKeyStoreRecord:
    record = CustomKeyStoreRecord(
        store_id=store_id,
        account=r.ACCOUNT,
        region=r.REGION,
        name=name,
        store_type=CustomKeyStoreType.AWS_CLOUDHSM,
        creation_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        settings=(("cluster_id", "cluster-234567abcdef"), ("trust_anchor_certificate", "PEM")),
        sealed_credential=b"sealed-kmsuser-password",
        connection_id="attempt-1",
    )
    return record.evolve(**changes)


def test_custom_key_store_round_trips_and_lists_by_account_and_region(store):
    failed = _key_store(
        "cks-00000000000000002",
        "two",
        connection_state=ConnectionState.FAILED,
        connection_error_code=ConnectionErrorCode.INVALID_CREDENTIALS,
    )
    elsewhere = _key_store("cks-00000000000000003", "three", region="eu-west-1")
    with store.transaction() as tx:
        tx.put_custom_key_store(failed)
        tx.put_custom_key_store(_key_store("cks-00000000000000001", "one"))
        tx.put_custom_key_store(elsewhere)
    with store.transaction(readonly=True) as tx:
        assert tx.get_custom_key_store(failed.store_id) == failed
        assert tx.get_custom_key_store("cks-0000000000000000f") is None
        listed = tx.list_custom_key_stores(r.ACCOUNT, r.REGION)
        assert [s.store_id for s in listed] == ["cks-00000000000000001", failed.store_id]
        assert listed[1].sealed_credential == b"sealed-kmsuser-password"
    with store.transaction() as tx:
        tx.put_custom_key_store(failed.evolve(name="renamed"))
        tx.delete_custom_key_store("cks-00000000000000001")
    with store.transaction(readonly=True) as tx:
        assert [s.name for s in tx.list_custom_key_stores(r.ACCOUNT, r.REGION)] == ["renamed"]


def test_keys_of_a_custom_key_store_are_counted(store):
    with store.transaction() as tx:
        tx.put_key(r.key("k1").evolve(custom_key_store_id="cks-00000000000000001"))
        tx.put_key(r.key("k2").evolve(custom_key_store_id="cks-00000000000000001"))
        tx.put_key(r.key("k3"))
    with store.transaction(readonly=True) as tx:
        assert tx.count_keys_in_custom_key_store("cks-00000000000000001") == 2
        assert tx.count_keys_in_custom_key_store("cks-00000000000000002") == 0
    with store.transaction() as tx:
        tx.delete_key(r.key_arn("k1"))
    with store.transaction(readonly=True) as tx:
        assert tx.count_keys_in_custom_key_store("cks-00000000000000001") == 1


def test_a_custom_key_store_write_rolls_back_with_its_transaction(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_custom_key_store(_key_store("cks-00000000000000001", "one"))
        raise RuntimeError("boom")
    with store.transaction(readonly=True) as tx:
        assert tx.list_custom_key_stores(r.ACCOUNT, r.REGION) == []


def test_a_custom_key_store_credential_is_kept_apart_from_its_document(store_kind, store_factory):
    _only_durable(store_kind)
    store = store_factory()
    with store.transaction() as tx:
        tx.put_custom_key_store(_key_store("cks-00000000000000001", "one"))
    with store.transaction(readonly=True) as tx:
        raw = tx._query("SELECT doc FROM custom_key_stores")  # the document as stored
    doc = raw[0][0]
    assert base64.b64encode(b"sealed-kmsuser-password").decode() not in doc
    assert "sealed-kmsuser-password" not in doc
    assert "sealed_credential" in doc  # emptied, not missing
