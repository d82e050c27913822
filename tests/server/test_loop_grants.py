"""Review finding (denial of service): a caller that 50,000 grants on a key name (its own key:
CreateGrant to itself) made each of its Encrypts test all of them on the event loop, ~0.7-1 s
per request while every other client waited (bench/grant_stall.py --self). On the loop, a
read-only transaction is inline: reading more than INLINE_GRANTS grants naming the caller
raises RunInThread before anything is decided, and the server runs the request in a worker
thread. Counted, not timed: what the guarded store's reads do on and off the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kmspolicy.authz import Caller
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.ports import INLINE_GRANTS, RunInThread, Store
from kmspolicy.server.backend import LoopWriteGuard
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey, read_root_key_file
from kmspolicy.testing import serve_in_thread

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k1"
ALICE = Caller.from_arn(f"arn:aws:iam::{A}:user/alice")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory:" if request.param == "memory" else f"sqlite://{tmp_path / 'kms.db'}"
    opened = open_store(url, RootKey.generate())
    yield opened
    opened.close()


def _fill(store: Store, key_arn: str, grantee: str, count: int) -> None:
    with store.transaction() as tx:
        for i in range(count):
            tx.put_grant(
                GrantRecord(
                    grant_id=f"{i:064x}",
                    key_arn=key_arn,
                    grantee_principal=grantee,
                    operations=("Encrypt",),
                    issuing_account=f"arn:aws:iam::{A}:root",
                    creation_date=FakeClock().now(),
                    token_nonce="00" * 16,
                )
            )


def _read(guard: LoopWriteGuard) -> int:
    with guard.transaction(readonly=True) as tx:
        return len(tx.list_grants_naming(KEY, ALICE.index_keys))


def _on_loop(read: Callable[[], int]) -> int:
    async def main() -> int:
        return read()  # synchronously, as the server's protocol answers on the loop

    return asyncio.run(main())


@pytest.mark.parametrize("count", [INLINE_GRANTS, INLINE_GRANTS + 1])
def test_on_the_loop_a_read_of_more_than_inline_grants_is_run_in_a_thread(
    store: Store, count: int
) -> None:
    _fill(store, KEY, ALICE.arn, count)
    guard = LoopWriteGuard(store)
    assert _read(guard) == count  # off the loop: every grant
    if count > INLINE_GRANTS:
        with pytest.raises(RunInThread):
            _on_loop(lambda: _read(guard))
    else:
        assert _on_loop(lambda: _read(guard)) == count
    assert _read(guard) == count  # and off the loop again (a worker thread's re-run)


def test_a_whole_read_kept_from_a_thread_is_not_answered_on_the_loop(tmp_path: Path) -> None:
    """SQLite keeps a thread's reads: one made whole off the loop, on the thread that later
    runs the loop, must not be handed to an inline block."""
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    try:
        _fill(store, KEY, ALICE.arn, INLINE_GRANTS + 1)
        guard = LoopWriteGuard(store)
        assert _read(guard) == INLINE_GRANTS + 1  # kept with the thread's reads
        with pytest.raises(RunInThread):
            _on_loop(lambda: _read(guard))
    finally:
        store.close()


def test_the_server_answers_a_caller_named_by_many_grants(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'kms.db'}"
    with serve_in_thread(store_url=url, data_dir=tmp_path) as endpoint:
        client = endpoint.client()
        key = client.create_key()["KeyMetadata"]["Arn"]
        root = f"arn:aws:iam::{key.split(':')[4]}:root"  # the development identity
        store = open_store(url, read_root_key_file(tmp_path / "root.key"))
        _fill(store, key, root, INLINE_GRANTS + 5)
        store.close()
        blob = client.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"]
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
