"""Review finding: the memory store merged, sorted and copied the grants naming a caller on
every read (375f885), so with no write in between each decision of a caller named by 50,000
grants still cost ~55 ms of work in them. The answer is now kept per state of the key's grants:
the same tuple until a write to the key's grants, or the rollback of one, drops it."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, Identities
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.pipeline import Pipeline
from kmspolicy.kms.ports import INLINE_GRANTS, RunInThread

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k"
BOB = f"arn:aws:iam::{A}:user/bob"
ROOT = f"arn:aws:iam::{A}:root"


def _grant(i: int, grantee: str = BOB, key_arn: str = KEY) -> GrantRecord:
    return GrantRecord(
        grant_id=f"{i:064x}",
        key_arn=key_arn,
        grantee_principal=grantee,
        operations=("Encrypt",),
        issuing_account=ROOT,
        creation_date=FakeClock().now(),
        token_nonce="00" * 16,
    )


def _naming(store: MemoryStore, *, inline: bool = False) -> tuple[str, ...]:
    with store.transaction(readonly=True, inline=inline) as tx:
        return tuple(g.grant_id for g in tx.list_grants_naming(KEY, (BOB,)))


def test_an_unchanged_key_answers_with_the_same_grants_object() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        for i in range(3):
            tx.put_grant(_grant(i))
    with store.transaction(readonly=True) as tx:
        first = tx.list_grants_naming(KEY, (BOB,))
    with store.transaction(readonly=True) as tx:
        assert tx.list_grants_naming(KEY, (BOB,)) is first
    with store.transaction() as tx:  # another key's grants leave this key's answer
        tx.put_grant(_grant(9, key_arn=f"arn:aws:kms:us-east-1:{A}:key/other"))
    with store.transaction(readonly=True) as tx:
        assert tx.list_grants_naming(KEY, (BOB,)) is first


def test_writes_and_rollbacks_of_the_keys_grants_are_seen() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        tx.put_grant(_grant(1))
    assert _naming(store) == (f"{1:064x}",)
    with store.transaction() as tx:
        tx.put_grant(_grant(2))
        assert [g.grant_id for g in tx.list_grants_naming(KEY, (BOB,))] == [
            f"{1:064x}",
            f"{2:064x}",
        ]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.delete_grant(KEY, f"{1:064x}")
        tx.put_grant(_grant(3))
        assert len(tx.list_grants_naming(KEY, (BOB,))) == 2  # kept in the transaction
        raise RuntimeError("rolled back")
    assert _naming(store) == (f"{1:064x}", f"{2:064x}")
    with store.transaction() as tx:
        tx.delete_grant(KEY, f"{1:064x}")
    assert _naming(store) == (f"{2:064x}",)


def test_a_kept_answer_of_too_many_grants_still_leaves_the_loop() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        for i in range(INLINE_GRANTS + 1):
            tx.put_grant(_grant(i))
    assert len(_naming(store)) == INLINE_GRANTS + 1  # read whole, off the loop
    with pytest.raises(RunInThread):
        _naming(store, inline=True)


def test_encrypts_of_the_grantee_of_many_grants_convert_none_of_them_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The replayed attack's victim: Encrypts of a caller named by 2,000 grants, no writes in
    between. Counted: the grant records a decision turns into the pipeline's grants."""
    store = MemoryStore()
    kms = KMS(store, FakeClock(), A, identities=Identities([]))
    key = kms.client().create_key()["KeyMetadata"]["Arn"]
    with store.transaction() as tx:
        for i in range(2000):
            tx.put_grant(_grant(i, ROOT, key))
    converted = [0]
    convert = Pipeline._authz_grant

    def counted(self: Pipeline, key_arn: str, g: GrantRecord) -> Any:
        converted[0] += 1
        return convert(self, key_arn, g)

    monkeypatch.setattr(Pipeline, "_authz_grant", counted)
    root = kms.client()
    root.encrypt(KeyId=key, Plaintext=b"p")
    assert converted[0] == 2000
    for i in range(3):
        root.encrypt(KeyId=key, Plaintext=b"p", EncryptionContext={"n": str(i)})
    assert converted[0] == 2000
