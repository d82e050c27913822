"""Fixtures of the store contract suite: one factory per store kind, a scratch PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kmspolicy.kms.ports import Store
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey

# A factory returns a NEW handle on the SAME store each call (a second "process"); the memory
# store has no second handle, so it returns the same object.
StoreFactory = Callable[[], Store]


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
        # one schema per test inside the session's scratch namespace keeps tests independent
        url = request.getfixturevalue("pg_store_url")

        def factory() -> Store:
            s = open_store(url, root_key)
            opened.append(s)
            return s

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()
