"""The decision memo stays bounded in size, whatever the callers send (issue 12 item 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmspolicy import KMS
from kmspolicy.authz import Caller
from kmspolicy.authz.index import policy_chars
from kmspolicy.kms import decisions
from kmspolicy.kms import identities as identities_module
from kmspolicy.kms import pipeline as pipeline_module
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.decisions import DecisionMemo
from kmspolicy.kms.identities import Identities, Identity, Resolved
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.lang.awsjson import read_json
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey
from tests.kms.principals import ROOT, policy

DECISION: Any = object()  # the memo stores decisions without looking at them


def _put(memo: DecisionMemo, context: dict[str, Any]) -> tuple[Any, ...]:
    key = memo.key(object(), "kms:Encrypt", "arn", context, (), ())
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


def test_a_full_memo_keeps_its_newest_decisions() -> None:
    memo = DecisionMemo(limit=10)
    keys = [_put(memo, {"n": str(i)}) for i in range(25)]
    assert len(memo) == 10
    assert all(memo.get(k) is DECISION for k in keys[-10:])  # not emptied when full
    assert all(memo.get(k) is None for k in keys[:15])


@pytest.mark.parametrize(
    "change",
    [
        lambda client, key: client.disable_key(KeyId=key),
        lambda client, key: client.schedule_key_deletion(KeyId=key, PendingWindowInDays=7),
    ],
)
def test_a_disabled_or_doomed_key_leaves_no_decision_about_it(change: Any) -> None:
    """Design invariant 7: the memo forgets a key when it is disabled or scheduled for
    deletion (deleted: the sweeper test below); other keys' decisions stay."""
    service = KMS()
    client = service.client()
    key, other = (client.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    for arn in (key, other):
        client.encrypt(KeyId=arn, Plaintext=b"p")
    memo = service._pipeline._memo
    assert memo.about(key) > 0 and memo.about(other) > 0
    change(client, key)
    assert memo.about(key) == 0 and memo.about(other) > 0


def test_the_sweeper_forgets_the_decisions_about_the_keys_it_deletes() -> None:
    clock = FakeClock()
    service = KMS(MemoryStore(), clock, "111122223333")
    client = service.client()
    key = client.create_key()["KeyMetadata"]["Arn"]
    client.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    client.describe_key(KeyId=key)  # allowed (a decision memoised) while pending deletion
    memo = service._pipeline._memo
    assert memo.about(key) > 0
    clock.advance(days=8)
    assert service.sweep().deleted == 1
    assert memo.about(key) == 0


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_memoised_decision_follows_the_keys_aliases_and_tags(
    store_kind: str, tmp_path: Path
) -> None:
    """The key's condition keys are cached per key record and alias names (and frozen into
    the memo key once): a new alias or tag must still change the next decision, on the
    memory store and on SQLite, whose reused reads hand out the same record object."""
    store = (
        MemoryStore(RootKey.generate())
        if store_kind == "memory"
        else open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    )
    service = KMS(store)
    client = service.client()
    root = service.root_principal
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    deny = [
        {
            "Sid": "BlockedAlias",
            "Effect": "Deny",
            "Principal": {"AWS": root},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/blocked"}},
        },
        {
            "Sid": "RedTeam",
            "Effect": "Deny",
            "Principal": {"AWS": root},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "red"}},
        },
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
    ]
    client.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy(*deny))

    def allowed() -> bool:
        try:
            for _ in range(2):  # the second is answered by the memo
                client.encrypt(KeyId=key_id, Plaintext=b"p")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDeniedException"
            return False
        return True

    assert allowed()
    client.create_alias(AliasName="alias/blocked", TargetKeyId=key_id)
    assert not allowed()
    client.delete_alias(AliasName="alias/blocked")
    assert allowed()
    client.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "red"}])
    assert not allowed()
    client.untag_resource(KeyId=key_id, TagKeys=["team"])
    assert allowed()


def _large_policy(root: str, version: int) -> str:
    """A key policy of about 30 KB letting ``root`` in, distinct for each ``version``."""
    allow = {"Sid": f"Root{version}", "Effect": "Allow", "Principal": {"AWS": root}}
    padding = [
        {
            "Sid": f"Pad{version}x{i}",
            "Effect": "Deny",
            "Principal": {"AWS": root},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:pad": f"{i:04d}" + "p" * 120}},
        }
        for i in range(95)
    ]
    text = policy({**allow, "Action": "kms:*", "Resource": "*"}, *padding)
    assert 28_000 < len(text) <= 32_768
    return text


def test_the_hot_path_caches_keep_no_more_policy_text_than_their_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17: each write of a key policy makes a new record and a new parsed policy, and
    the caches keyed by object id (the compiled policies too) keep each alive: counted by
    entries only, every version stayed (4,096 records of up to 32 KB). Bounded by what they
    keep (the bounds shrunk here, so that 30 versions of a 30 KB policy are more than each)."""
    bound = 300_000
    monkeypatch.setattr(pipeline_module, "MAX_KEY_CONTEXT_CHARS", bound)
    monkeypatch.setattr(pipeline_module, "MAX_POLICY_CHARS", bound)
    service = KMS()
    client = service.client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    pipeline = service._pipeline
    for version in range(30):
        text = _large_policy(service.root_principal, version)
        client.put_key_policy(KeyId=key_id, Policy=text, PolicyName="default")
        client.encrypt(KeyId=key_id, Plaintext=b"p")
    contexts = pipeline._key_contexts
    records = [contexts.get(k) for k in contexts]
    assert sum(len(entry[0].policy) for entry in records if entry is not None) <= bound
    assert sum(len(text) for text in pipeline._policies) <= bound
    memo = pipeline._memo
    facts = memo._time_free
    kept = [facts.get(k) for k in facts]
    assert sum(policy_chars(entry[0]) for entry in kept if entry is not None) <= bound
    sets = memo._sets
    held = [sets.get(k) for k in sets]
    assert sum(policy_chars(e[1]) for e in held if e is not None and e[1]) <= bound
    compiled = pipeline._compiled._compiled  # compiled forms, each holding its policy
    forms = [compiled.get(k) for k in compiled]
    assert sum(policy_chars(form.policy) for form in forms if form is not None) <= bound
    # still caches: the newest versions are kept
    assert min(len(records), len(pipeline._policies), len(kept), len(held), len(forms)) >= 5
    assert client.encrypt(KeyId=key_id, Plaintext=b"p")["KeyId"]


def test_the_policy_facts_are_bounded_by_the_policies_they_keep_alive() -> None:
    memo = DecisionMemo(max_policy_chars=200_000)
    identity = Resolved(Caller.from_arn("arn:aws:iam::111122223333:root"), (), None, ())
    for version in range(100):
        text = _large_policy("arn:aws:iam::111122223333:root", version)
        parsed = read_json(text, "key policy", key_policy=True)
        assert memo.policy_ids(identity, parsed, (), ()) is not None
        assert max(memo.pinned_policy_chars) <= 200_000
    assert min(memo.pinned_policy_chars) > 100_000  # the newest are kept


def test_the_resolved_callers_are_bounded_by_what_they_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each session of a role is resolved to a caller of its own, holding a copy of the role's
    tags (50 of them: ~19 KB); counted by entries only, 10,000 such callers stayed. Bounded by
    their characters too (shrunk here, so that 100 sessions are more than it)."""
    bound = 200_000
    monkeypatch.setattr(identities_module, "MAX_RESOLVED_CHARS", bound)
    role = "arn:aws:iam::111122223333:role/Tagged"
    tags = {f"k{i:03d}" + "k" * 124: "v" * 256 for i in range(50)}
    directory = Identities([Identity(role, tags=tags)])
    session = "arn:aws:sts::111122223333:assumed-role/Tagged/s{}"
    for n in range(100):
        assert len(directory.resolve(session.format(n)).caller.tags) == 50
    resolved = directory._resolved
    callers = [entry.caller for entry in map(resolved.get, resolved) if entry is not None]
    held = sum(len(c.arn) + sum(len(k) + len(v) for k, v in c.tags.items()) for c in callers)
    assert held <= bound
    assert len(callers) >= 5  # still a cache: the newest are kept
    assert directory.resolve(session.format(99)) is directory.resolve(session.format(99))


_DENY_PLAIN_HTTP = policy(
    {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
    {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
)


def _encrypt_as(service: KMS, key_id: str, secure: Any) -> str:
    """Encrypt with ``aws:SecureTransport`` set to ``secure``: "allowed" or the refusal's name."""
    try:
        service.call(
            "Encrypt", {"KeyId": key_id, "Plaintext": b"x"}, context={"aws:SecureTransport": secure}
        )
    except Exception as error:  # the refusal's class is the answer
        return type(error).__name__
    return "allowed"


@pytest.mark.parametrize(("first", "then"), [(0, False), (0.0, False), ([0], [False])])
def test_values_python_holds_equal_are_not_one_memoised_decision(first: Any, then: Any) -> None:
    """Review finding: the memo keyed contexts by Python equality, where ``0 == False``: a
    library caller's request with ``aws:SecureTransport`` 0 (allowed: 0 is no boolean) made
    the memo answer the next request's False, which the policy denies, with that allow."""
    answers = []
    for asked in ((then,), (first, then)):  # a fresh service: no memoised answer to reuse
        service = KMS()
        created = service.create_key(Policy=_DENY_PLAIN_HTTP, BypassPolicyLockoutSafetyCheck=True)
        answers.append([_encrypt_as(service, created["KeyMetadata"]["KeyId"], v) for v in asked])
    alone, after_first = answers
    assert after_first[-1] == alone[-1]
