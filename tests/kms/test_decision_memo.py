"""The decision memo stays bounded in size, whatever the callers send (issue 12 item 6)."""

from __future__ import annotations

from typing import Any

from kmspolicy import KMS
from kmspolicy.kms import decisions
from kmspolicy.kms.decisions import DecisionMemo

DECISION: Any = object()  # the memo stores decisions without looking at them


def _put(memo: DecisionMemo, context: dict[str, Any]) -> tuple[Any, ...]:
    key = memo.key(object(), "kms:Encrypt", "arn", context, (), ())
    assert key is not None
    memo.put(key, DECISION, ())
    return key


def test_a_large_context_is_not_memoised() -> None:
    memo = DecisionMemo()
    small = _put(memo, {"kms:EncryptionContext:team": "a"})
    big = _put(memo, {"kms:EncryptionContext:team": "a" * (decisions.MAX_ENTRY_CHARS + 1)})
    assert memo.get(small) is DECISION and memo.get(big) is None
    listed = _put(memo, {"kms:EncryptionContextKeys": ["k" * 100] * 50})
    assert memo.get(listed) is None  # list values count too


def test_the_memo_is_bounded_by_the_size_of_its_contexts() -> None:
    memo = DecisionMemo(limit=1_000_000, max_chars=100_000)
    for i in range(1000):
        _put(memo, {"kms:EncryptionContext:n": f"{i:04d}" + "v" * 3000})
        assert memo.chars <= 100_000
    assert 0 < len(memo) < 40


def test_a_caller_sending_distinct_large_contexts_does_not_grow_the_memo() -> None:
    service = KMS()
    client = service.client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    memo = service._pipeline._memo  # the service's own memo, observed from outside
    for i in range(300):
        context = {"n": str(i), "pad": "x" * 6000}  # within the 8 KB limit of the wire
        client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=context)
    assert len(memo) < 10  # the small requests of this test (CreateKey...) only
    for i in range(300):  # small contexts are still memoised
        client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"n": str(i)})
    assert len(memo) >= 300
