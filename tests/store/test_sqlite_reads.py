"""SQLite read-only transactions reuse earlier reads only while the database is unchanged.

The reuse is keyed by SQLite's ``data_version`` (any other connection's commit changes it) and
cleared by this connection's own writes: a change is seen by the very next transaction, from
another handle on the file (another process), another thread, or the same thread.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from kmspolicy.kms.model import KeyState
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
        with writer.transaction() as tx:
            tx.put_key(key("k1", state=KeyState.DISABLED))
            tx.delete_grant(key_arn("k1"), "g1")
        assert _state(reader) is KeyState.DISABLED
        with reader.transaction(readonly=True) as tx:
            assert tx.list_grants(key_arn("k1")) == ()
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
