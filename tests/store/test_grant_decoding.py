"""Review finding (denial of service): CreateGrant read and decoded every grant of its key
twice (for its decision and for its duplicate and quota checks), so creating grants one by one
cost quadratic time (2,000 on SQLite: 193 s). Each grant document is now decoded once while the
store's cache holds it, and the quota is a count. Counted, not timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmspolicy import KMS, Identities
from kmspolicy.authz import Grant
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.ports import Store
from kmspolicy.store import codec
from kmspolicy.store.rootkey import RootKey
from kmspolicy.store.sqlite import SqliteStore

A = "111122223333"


def _grant(key_arn: str, i: int) -> GrantRecord:
    return GrantRecord(
        grant_id=f"{i:064x}",
        key_arn=key_arn,
        grantee_principal=f"arn:aws:iam::{A}:user/u{i}",
        operations=("Encrypt",),
        issuing_account=f"arn:aws:iam::{A}:root",
        creation_date=FakeClock().now(),
        token_nonce="00" * 16,
    )


def test_count_grants_counts_the_keys_grants_through_writes_and_rollbacks(store: Store) -> None:
    key = f"arn:aws:kms:us-east-1:{A}:key/k1"
    with store.transaction() as tx:
        assert tx.count_grants(key) == 0
        for i in range(3):
            tx.put_grant(_grant(key, i))
        tx.put_grant(_grant(f"{key}x", 9))
        tx.delete_grant(key, _grant(key, 1).grant_id)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_grant(_grant(key, 5))
        assert tx.count_grants(key) == len(tx.list_grants(key)) == 3
        raise RuntimeError
    with store.transaction(readonly=True) as tx:
        assert tx.count_grants(key) == len(tx.list_grants(key)) == 2


def _create_grant_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, others: int
) -> tuple[int, int]:
    """The grant documents decoded and the per-grant checks made by one CreateGrant (named,
    so its duplicate check runs) on a key that has ``others`` grants already."""
    store = SqliteStore(tmp_path / f"kms{others}.db", RootKey.generate())
    try:
        kms = KMS(store, FakeClock(), A, identities=Identities([]))
        root = kms.client()
        key_id = root.create_key()["KeyMetadata"]["KeyId"]
        for i in range(others):
            root.create_grant(
                KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{A}:user/u{i}", Operations=["Encrypt"]
            )
        root.encrypt(KeyId=key_id, Plaintext=b"p")  # the grants read (and decoded) once
        decoded: list[object] = []
        checked: list[object] = []
        decode, allows = codec.decode_grant, Grant.allows
        monkeypatch.setattr(codec, "decode_grant", lambda doc: decoded.append(1) or decode(doc))
        monkeypatch.setattr(Grant, "allows", lambda g, r: checked.append(1) or allows(g, r))
        root.create_grant(
            KeyId=key_id,
            GranteePrincipal=f"arn:aws:iam::{A}:user/new",
            Operations=["Encrypt"],
            Name="new",
        )
        monkeypatch.undo()
        return len(decoded), len(checked)
    finally:
        store.close()


def test_create_grant_decodes_no_more_grants_as_the_key_has_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    few = _create_grant_work(tmp_path, monkeypatch, 3)
    many = _create_grant_work(tmp_path, monkeypatch, 60)
    assert few == many == (0, 0)
