"""Decisions explain themselves: AWS reason wording, matched statements with lines, nearest miss."""

from __future__ import annotations

from kmspolicy.authz import (
    Caller,
    DecisionKind,
    Grant,
    KmsPolicies,
    PolicyType,
    Request,
    authorize_kms,
)
from kmspolicy.authz.index import PolicyCache, compile_policy, policy_chars
from kmspolicy.lang import read_json

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k1"
KP = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "EnableIAM", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*",
     "Condition": {"StringEquals": {"kms:CallerAccount": "999999999999"}}},
    {"Sid": "NoDelete", "Effect": "Deny", "Principal": "*",
     "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
  ]
}"""


def _req(action: str = "kms:Decrypt", who: str = f"arn:aws:iam::{A}:user/alice") -> Request:
    return Request(Caller.from_arn(who), action, KEY)


def test_implicit_deny_reason_and_nearest_miss() -> None:
    d = authorize_kms(_req(), KmsPolicies(read_json(KP, "kp.json")))
    assert d.kind is DecisionKind.IMPLICIT_DENY and not d.allowed
    assert d.reason == (
        f"User: arn:aws:iam::{A}:user/alice is not authorized to perform: kms:Decrypt "
        f"on resource: {KEY} "
        "because no resource-based policy allows the kms:Decrypt action"
    )
    assert d.nearest_miss is not None
    assert d.nearest_miss.describe() == (
        "statement EnableIAM matched action and principal and resource; "
        "condition StringEquals kms:CallerAccount failed"
    )


def test_explicit_deny_names_statement_and_line() -> None:
    d = authorize_kms(_req("kms:ScheduleKeyDeletion"), KmsPolicies(read_json(KP, "kp.json")))
    assert d.kind is DecisionKind.EXPLICIT_DENY
    assert d.reason.endswith("with an explicit deny in a resource-based policy")
    [m] = d.matched_statements
    assert (m.sid, m.line, m.source, m.source_policy_type) == (
        "NoDelete",
        7,
        "kp.json",
        PolicyType.KEY_POLICY,
    )


def test_reason_never_contains_policy_text() -> None:
    d = authorize_kms(_req(), KmsPolicies(read_json(KP, "kp.json")))
    assert "999999999999" not in d.reason and "EnableIAM" not in d.reason
    assert "999999999999" not in d.explain()  # the owner's view names statements, not values


def test_grant_decision_lists_the_grant() -> None:
    grant = Grant("g-1", KEY, f"arn:aws:iam::{A}:user/alice", frozenset({"Decrypt"}), name="app")
    d = authorize_kms(_req(), KmsPolicies(read_json(KP), grants=[grant]))
    assert d.allowed and d.decided_by is PolicyType.GRANT
    assert [(m.source_policy_type, m.sid) for m in d.matched_statements] == [
        (PolicyType.GRANT, "g-1")
    ]


def test_to_dict_uses_simulator_field_names() -> None:
    out = authorize_kms(
        _req("kms:ScheduleKeyDeletion"), KmsPolicies(read_json(KP, "kp.json"))
    ).to_dict()
    assert out["decision"] == "explicitDeny"
    assert out["matched_statements"][0]["start_position"] == {"line": 7, "column": 5}
    assert set(out) >= {
        "action",
        "resource",
        "decision",
        "matched_statements",
        "missing_context_keys",
    }


def test_compiled_policy_cache_is_by_identity_and_bounded() -> None:
    cache = PolicyCache(maxsize=2)
    policy = read_json(KP)
    first = cache.compile(policy, PolicyType.KEY_POLICY)
    assert cache.compile(policy, PolicyType.KEY_POLICY) is first
    equal_copy = read_json(KP)
    assert cache.compile(equal_copy, PolicyType.KEY_POLICY) is not first
    assert compile_policy(policy, PolicyType.KEY_POLICY) is not first  # compiles afresh
    cache.compile(read_json(KP), PolicyType.KEY_POLICY)
    assert len(cache) == 2
    assert cache.compile(policy, PolicyType.KEY_POLICY) is not first  # the oldest was dropped


def test_compiled_policy_cache_is_bounded_by_the_policies_it_keeps_alive() -> None:
    """Each version of a key policy is a new object, compiled afresh: counted by entries only,
    1,024 compiled 32 KB policies stayed. Bounded by their ``policy_chars`` too."""
    size = policy_chars(read_json(KP))
    cache = PolicyCache(maxsize=1024, maxweight=5 * size)
    policies = [read_json(KP) for _ in range(20)]
    for policy in policies:
        cache.compile(policy, PolicyType.KEY_POLICY)
    entries = cache._compiled
    kept = [form.policy for form in map(entries.get, entries) if form is not None]
    assert sum(map(policy_chars, kept)) <= 5 * size
    assert kept == policies[-5:]  # the newest are kept


def test_two_policy_caches_share_nothing() -> None:
    policy = read_json(KP)
    one, other = PolicyCache(), PolicyCache()
    assert one.compile(policy, PolicyType.KEY_POLICY) is not other.compile(
        policy, PolicyType.KEY_POLICY
    )


def test_index_files_exact_principals_and_scans_the_rest() -> None:
    compiled = compile_policy(read_json(KP), PolicyType.KEY_POLICY)
    assert set(compiled.by_principal) == {f"arn:aws:iam::{A}:root"}
    assert [c.stmt.sid for c in compiled.by_action["kms:scheduleKeydeletion".lower()]] == [
        "NoDelete"
    ]
    assert compiled.scan == []


ENABLE_AND_DENY = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "EnableIAM", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "NoDelete", "Effect": "Deny", "Principal": "*",
     "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
  ]
}"""
ID_ALL = (
    '{"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow", '
    '"Action": "kms:*", "Resource": "*"}]}'
)


def test_all_matched_keeps_allows_an_explicit_deny_overrode() -> None:
    pols = KmsPolicies(read_json(ENABLE_AND_DENY, "kp.json"), [read_json(ID_ALL, "id.json")])
    d = authorize_kms(_req("kms:ScheduleKeyDeletion"), pols)
    assert [m.sid for m in d.matched_statements] == ["NoDelete"]
    assert [(m.source_policy_type, m.sid) for m in d.all_matched] == [
        (PolicyType.KEY_POLICY, "EnableIAM"),
        (PolicyType.KEY_POLICY, "NoDelete"),
        (PolicyType.IDENTITY, "All"),
    ]
    assert d.all_matched is d.all_matched  # collected once, on first access
    assert [m["sid"] for m in d.to_dict()["all_matched_statements"]] == [
        "EnableIAM",
        "NoDelete",
        "All",
    ]
    explained = d.explain()
    assert "  also matched: Allow EnableIAM (key-policy kp.json:4)" in explained
    assert "  also matched: Allow All (identity-policy id.json:1)" in explained


def test_all_matched_lists_grants_that_allowed() -> None:
    grant = Grant("g-1", KEY, f"arn:aws:iam::{A}:user/alice", frozenset({"Decrypt"}))
    d = authorize_kms(_req(), KmsPolicies(read_json(ENABLE_AND_DENY), grants=[grant]))
    assert d.decided_by is PolicyType.GRANT
    # the key policy's account statement matched too (it would need an IAM allow to decide)
    assert [(m.source_policy_type, m.sid) for m in d.all_matched] == [
        (PolicyType.KEY_POLICY, "EnableIAM"),
        (PolicyType.GRANT, "g-1"),
    ]


def test_account_delegation_allow_is_reported_as_the_identity_policy() -> None:
    pols = KmsPolicies(read_json(ENABLE_AND_DENY), [read_json(ID_ALL)])
    d = authorize_kms(_req(), pols)
    assert d.allowed and d.decided_by is PolicyType.IDENTITY
    assert d.reason.endswith(
        f"on resource: {KEY} by an identity-based policy that the key policy enables"
    )
    assert "resource-based" not in d.reason


def test_explicit_construction_takes_all_matched() -> None:
    from kmspolicy.authz import Decision, MatchedStatement
    from kmspolicy.lang.ast import Effect

    ref = MatchedStatement("p", PolicyType.POLICY, Effect.ALLOW, "S")
    d = Decision(
        DecisionKind.ALLOWED,
        "kms:Decrypt",
        "*",
        "arn:aws:iam::1:user/x",
        (ref,),
        all_matched=(ref,),
    )
    assert d.all_matched == (ref,)
    assert Decision(DecisionKind.ALLOWED, "a:b", "*", "p").all_matched == ()


def test_expectation_denied_accepts_either_deny_and_the_others_are_exact() -> None:
    from kmspolicy.authz import Decision, Expectation

    def decision(kind: DecisionKind) -> Decision:
        return Decision(kind, "kms:Decrypt", "*", "arn:aws:iam::1:user/x")

    holds = {(e, k): e.holds_for(decision(k)) for e in Expectation for k in DecisionKind}
    assert {pair for pair, ok in holds.items() if ok} == {
        (Expectation.ALLOWED, DecisionKind.ALLOWED),
        (Expectation.DENIED, DecisionKind.EXPLICIT_DENY),
        (Expectation.DENIED, DecisionKind.IMPLICIT_DENY),
        (Expectation.EXPLICIT_DENY, DecisionKind.EXPLICIT_DENY),
        (Expectation.IMPLICIT_DENY, DecisionKind.IMPLICIT_DENY),
    }
