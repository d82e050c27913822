"""``open_store(url, root_key)``: URL forms, errors a user can act on, schema versions."""

from __future__ import annotations

import sqlite3
import stat
import sys
import threading
from pathlib import Path

import pytest

from kmspolicy.errors import ConfigError, InternalError
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.ports import Store
from kmspolicy.store import codec, open_store, sqlite_url
from kmspolicy.store.postgres import split_url
from kmspolicy.store.rootkey import RootKey
from kmspolicy.store.schema import LATEST
from kmspolicy.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
import store_records as r


def test_memory_url_needs_no_root_key() -> None:
    store = open_store("memory:")
    assert isinstance(store, MemoryStore)
    assert isinstance(store.root_key, RootKey)  # one of its own, made for it
    assert open_store("memory:").root_key is not store.root_key


def test_memory_url_seals_under_the_root_key_it_is_given() -> None:
    root = RootKey.generate()
    store = open_store("memory:", root)
    assert store.root_key is root
    sealed = root.seal(b"secret", b"aad")
    assert store.root_key.unseal(sealed, b"aad") == b"secret"


def test_sqlite_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(f"sqlite://{tmp_path / 'a.db'}", RootKey.generate())
    assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "a.db"
    assert isinstance(absolute, Store)
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:rel/b.db", RootKey.generate())
    assert (tmp_path / "rel" / "b.db").exists()
    relative.close()
    assert sqlite_url(str(tmp_path)) == f"sqlite://{tmp_path.resolve()}/kms.db"


def test_database_file_and_directory_are_private(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'data' / 'kms.db'}", RootKey.generate())
    store.close()
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "kms.db").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "unknown store URL"),
        ("sqlite://", "names no database file"),
        ("postgresql://h/db?schema=Robert'); DROP", "invalid PostgreSQL schema name"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url, RootKey.generate())


def test_durable_store_without_root_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a root key"):
        open_store(f"sqlite://{tmp_path / 'kms.db'}")


def test_postgres_url_keeps_libpq_parameters() -> None:
    conninfo, schema = split_url("postgresql://u@h:5432/db?sslmode=disable&schema=tenant_a")
    assert schema == "tenant_a"
    assert conninfo == "postgresql://u@h:5432/db?sslmode=disable"
    assert split_url("postgresql://u@h/db")[1] == "kmspolicy"


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    from kmspolicy.store import schema

    db = tmp_path / "kms.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(schema.VERSION_TABLE)
        for statement in schema.statements(1, "sqlite"):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, 'then')")
        conn.execute(
            "INSERT INTO aliases VALUES (?, ?, ?, ?, ?, ?)",
            (
                r.alias("alias/old", "k1").arn,
                r.ACCOUNT,
                r.REGION,
                "alias/old",
                "k1",
                codec.encode_alias(r.alias("alias/old", "k1")),
            ),
        )
    conn.close()
    store = open_store(f"sqlite://{db}", RootKey.generate())
    with store.transaction() as tx:
        assert tx.get_alias(r.alias("alias/old", "k1").arn) == r.alias("alias/old", "k1")
    store.close()
    conn = sqlite3.connect(db)
    versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    conn.close()
    assert versions == list(range(1, LATEST + 1))


def test_schema_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    db = tmp_path / "kms.db"
    open_store(f"sqlite://{db}", RootKey.generate()).close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == LATEST
    with conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'future')", (LATEST + 1,))
    conn.close()
    with pytest.raises(ConfigError, match="upgrade kmspolicy"):
        open_store(f"sqlite://{db}", RootKey.generate())


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    db = tmp_path / "kms.db"
    root = RootKey.generate()
    for _ in range(3):
        open_store(f"sqlite://{db}", root).close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == LATEST
    conn.close()


def test_nested_transaction_is_a_savepoint(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    with store.transaction() as outer:
        outer.put_key(r.key("k1"))
        with pytest.raises(ValueError), store.transaction() as inner:
            inner.put_key(r.key("k2"))
            raise ValueError("inner fails")
        outer.put_key(r.key("k3"))
    with store.transaction() as tx:
        assert [k.key_id for k in tx.list_keys(r.ACCOUNT, r.REGION)] == ["k1", "k3"]
    store.close()


def test_transaction_object_is_dead_after_its_block(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    with store.transaction() as tx:
        pass
    with pytest.raises(InternalError, match="after its block"):
        tx.get_key(r.key_arn("k1"))
    with store.transaction(readonly=True) as ro, pytest.raises(InternalError, match="read-only"):
        ro.put_key(r.key("k1"))
    store.close()


def test_threads_each_get_a_working_connection(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with store.transaction() as tx:
                tx.put_key(r.key(f"t{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.transaction() as tx:
        assert tx.count_keys(r.ACCOUNT, r.REGION) == 8
    store.close()
    with pytest.raises(InternalError, match="closed"), store.transaction():
        pass


def test_connections_of_finished_threads_are_released(tmp_path: Path) -> None:
    import gc

    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())

    def work() -> None:
        with store.transaction() as tx:
            tx.count_keys(r.ACCOUNT, r.REGION)

    for _ in range(20):
        t = threading.Thread(target=work)
        t.start()
        t.join()
    gc.collect()
    assert len(store._all) <= 1  # only a live thread's connection may remain
    store.close()
