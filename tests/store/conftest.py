"""Fixtures of the store contract suite: one factory per store kind, a scratch PostgreSQL schema."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from kmspolicy.kms.ports import Store
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
from store_records import PG_URL

# A factory returns a NEW handle on the SAME store each call (a second "process"); the memory
# store has no second handle, so it returns the same object.
StoreFactory = Callable[[], Store]


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_URL} is unreachable: {str(exc).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A uniquely named scratch schema for this test session, dropped at the end."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    name = f"kmsp_test_{os.getpid()}_{secrets.token_hex(4)}"
    yield name
    # every per-test schema starts with the session's name: drop whatever a test left behind
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (name + "%",)
        ).fetchall()
        for (schema,) in rows:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]


@pytest.fixture
def root_key() -> RootKey:
    return RootKey.generate()


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(
    store_kind: str, tmp_path: Path, root_key: RootKey, request: pytest.FixtureRequest
) -> Iterator[StoreFactory]:
    opened: list[Store] = []
    if store_kind == "memory":
        single = open_store("memory:")
        opened.append(single)

        def factory() -> Store:
            return single

    elif store_kind == "sqlite":
        url = f"sqlite://{tmp_path / 'kms.db'}"

        def factory() -> Store:
            s = open_store(url, root_key)
            opened.append(s)
            return s

    else:
        base = request.getfixturevalue("pg_schema")
        # one schema per test inside the session's scratch namespace keeps tests independent
        url = f"{PG_URL}?schema={base}_{secrets.token_hex(3)}"

        def factory() -> Store:
            s = open_store(url, root_key)
            opened.append(s)
            return s

    yield factory
    for s in opened:
        s.close()
    if store_kind == "postgres":
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            schema = url.rsplit("=", 1)[1]
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()
