"""SQLite read-only transactions reuse earlier reads only while the database is unchanged.

The reuse is keyed by SQLite's ``data_version`` (any other connection's commit changes it) and
cleared by this connection's own writes: a change is seen by the very next transaction, from
another handle on the file (another process), another thread, or the same thread.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmspolicy.kms.model import KeyState
from kmspolicy.kms.ports import SnapshotMoved
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey

sys.path.insert(0, str(Path(__file__).parent))
from store_records import ACCOUNT, REGION, alias, grant, key, key_arn


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'kms.db'}"


def _state(store: object) -> KeyState:
    with store.transaction(readonly=True) as tx:  # type: ignore[attr-defined]
        record = tx.get_key(key_arn("k1"))
        assert record is not None
        return record.key_state  # type: ignore[no-any-return]


def test_a_write_through_another_handle_is_seen_by_the_next_read(url: str) -> None:
    root = RootKey.generate()
    reader, writer = open_store(url, root), open_store(url, root)
    try:
        with writer.transaction() as tx:
            tx.put_key(key("k1"))
            tx.put_grant(grant("g1", "k1"))
        assert _state(reader) is KeyState.ENABLED
        assert _state(reader) is KeyState.ENABLED  # answered from the reused read
        names = (grant("g1", "k1").grantee_principal,)
        with reader.transaction(readonly=True) as tx:
            assert [g.grant_id for g in tx.list_grants_naming(key_arn("k1"), names)] == ["g1"]
        with writer.transaction() as tx:
            tx.put_key(key("k1", state=KeyState.DISABLED))
            tx.delete_grant(key_arn("k1"), "g1")
        assert _state(reader) is KeyState.DISABLED
        with reader.transaction(readonly=True) as tx:
            assert tx.list_grants_naming(key_arn("k1"), names) == ()
    finally:
        reader.close()
        writer.close()


def test_own_writes_and_other_threads_writes_are_seen(url: str) -> None:
    store = open_store(url, RootKey.generate())
    try:
        with store.transaction() as tx:
            tx.put_key(key("k1"))
        with store.transaction(readonly=True) as tx:
            assert tx.list_aliases(ACCOUNT, REGION, key_id="k1") == ()
        with store.transaction() as tx:  # same thread, same connection
            tx.put_alias(alias("alias/a", "k1"))
        with store.transaction(readonly=True) as tx:
            assert [a.name for a in tx.list_aliases(ACCOUNT, REGION, key_id="k1")] == ["alias/a"]

        def disable() -> None:  # another thread: its own connection
            with store.transaction() as tx:
                tx.put_key(key("k1", state=KeyState.DISABLED))

        worker = threading.Thread(target=disable)
        worker.start()
        worker.join()
        assert _state(store) is KeyState.DISABLED
    finally:
        store.close()


def test_a_write_nested_in_a_read_only_block_is_not_hidden(url: str) -> None:
    store = open_store(url, RootKey.generate())
    try:
        with store.transaction() as tx:
            tx.put_key(key("k1"))
        with store.transaction(readonly=True) as outer:
            assert outer.get_key(key_arn("k1")) is not None
            with store.transaction() as inner:
                inner.delete_key(key_arn("k1"))
            assert outer.get_key(key_arn("k1")) is None
    finally:
        store.close()


# --- read-only blocks that begin no transaction until a read misses (``_Reading``)


@pytest.fixture
def two_handles(url: str) -> Iterator[tuple[Any, Any]]:
    """A reader and a writer on one file: two processes, as far as SQLite can tell."""
    root = RootKey.generate()
    reader, writer = open_store(url, root), open_store(url, root)
    with writer.transaction() as tx:
        tx.put_key(key("k1"))
        tx.put_key(key("k2"))
    try:
        yield reader, writer
    finally:
        reader.close()
        writer.close()


def test_a_read_only_block_sets_every_slot_of_its_transaction(
    two_handles: tuple[Any, Any],
) -> None:
    """``_Reading.__init__`` sets its transaction's slots by hand (the hot path's one object per
    block): a slot added to the transaction classes without it there would be unset."""
    reader, _ = two_handles
    with reader.transaction(readonly=True) as tx:
        slots = {name for cls in type(tx).__mro__ for name in getattr(cls, "__slots__", ())}
        assert type(tx).__name__ == "_Reading" and slots
        unset = {name for name in slots if not hasattr(tx, name)}
    assert not unset, f"_Reading leaves {sorted(unset)} unset"


def _put(store: Any, record: object) -> None:
    with store.transaction() as tx:
        tx.put_key(record)


def test_a_commit_between_the_check_and_the_reads_is_seen_by_the_next_block(
    two_handles: tuple[Any, Any],
) -> None:
    """Answered from the reads, a block is the state at its check: a commit after it is for
    the next block, never half of this one."""
    reader, writer = two_handles
    assert _state(reader) is KeyState.ENABLED  # the reads are made
    with reader.transaction(readonly=True) as tx:
        _put(writer, key("k1", state=KeyState.DISABLED))  # after this block's check
        assert tx.get_key(key_arn("k1")).key_state is KeyState.ENABLED  # as at the check
        assert not tx.attached  # no SQLite transaction was needed
    assert _state(reader) is KeyState.DISABLED


def test_a_read_that_misses_after_answers_from_an_older_state_moves_the_snapshot(
    two_handles: tuple[Any, Any],
) -> None:
    """The race: the block answered from its reads (the key enabled), another writer
    disabled the key, then the block needs a read its reads do not hold. The database can
    only answer from the new state, which would mix two states in one request: refused."""
    reader, writer = two_handles
    assert _state(reader) is KeyState.ENABLED
    with pytest.raises(SnapshotMoved), reader.transaction(readonly=True) as tx:
        assert tx.get_key(key_arn("k1")).key_state is KeyState.ENABLED
        _put(writer, key("k1", state=KeyState.DISABLED))
        tx.get_key(key_arn("k2"))  # not among the reads
    assert _state(reader) is KeyState.DISABLED


def test_a_block_that_answered_nothing_yet_reads_the_new_state(
    two_handles: tuple[Any, Any],
) -> None:
    reader, writer = two_handles
    assert _state(reader) is KeyState.ENABLED
    with reader.transaction(readonly=True) as tx:
        _put(writer, key("k1", state=KeyState.DISABLED))
        assert tx.get_grant(key_arn("k1"), "g1") is None  # to the database, at the new state
        assert tx.attached
        # so the reads of the older state are not used for the rest of the block
        assert tx.get_key(key_arn("k1")).key_state is KeyState.DISABLED


def test_a_write_nested_in_a_block_answered_from_its_reads_is_not_lost(url: str) -> None:
    store = open_store(url, RootKey.generate())
    try:
        _put(store, key("k1"))
        assert _state(store) is KeyState.ENABLED
        with store.transaction(readonly=True) as outer:
            assert outer.get_key(key_arn("k1")) is not None  # from the reads
            with store.transaction() as inner:  # begins the outer transaction first
                inner.put_key(key("k1", state=KeyState.DISABLED))
            assert outer.get_key(key_arn("k1")).key_state is KeyState.DISABLED
        assert _state(store) is KeyState.DISABLED  # committed with the outer block
    finally:
        store.close()


def test_the_pipeline_runs_a_request_again_when_its_snapshot_moved(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DisableKey committed by another process while an Encrypt was between a read answered
    from the reads and one that was not: the Encrypt is run again on the new state (refused
    as disabled), not answered from two states nor failed with a retryable error; the log
    holds one record for it, the last round's."""
    from kmspolicy import KMS
    from kmspolicy.audit import open_audit_log, verify
    from kmspolicy.errors import DisabledException
    from kmspolicy.store import sqlite

    root = RootKey.generate()
    store, other = open_store(url, root), open_store(url, root)
    audit_path = tmp_path / "audit.log"
    service = KMS(store=store, audit=open_audit_log(audit_path))
    other_service = KMS(store=other)
    try:
        key_id = service.create_key()["KeyMetadata"]["KeyId"]
        arn = service.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        service.encrypt(KeyId=key_id, Plaintext=b"x")  # its reads are made
        reads = store._local.handle.reads
        for question in [q for q in reads if q[:2] == ("list_grants_naming", arn)]:
            reads.pop(question)  # this one will miss after the others
        for question in [q for q in reads if q[0] is service._pipeline._plans]:
            reads.pop(question)  # and the request is not answered from its plan
        attach = sqlite._SqliteTransaction.attach
        raced: list[bool] = []

        def racing_attach(tx: Any) -> None:
            if not tx.attached and not raced:
                raced.append(True)
                other_service.disable_key(KeyId=key_id)
            attach(tx)

        monkeypatch.setattr(sqlite._SqliteTransaction, "attach", racing_attach)
        with pytest.raises(DisabledException):
            service.encrypt(KeyId=key_id, Plaintext=b"x")
        assert raced
        result = verify(audit_path)
        last = json.loads(audit_path.read_bytes().splitlines()[-1])
        assert result.ok and result.records == 4  # create, describe, encrypt, this one
        assert (last["operation"], last["error_code"]) == ("Encrypt", "DisabledException")
    finally:
        service.close()
        other_service.close()
