"""GrantSet: the grants a request looks at are those naming its caller, and deciding with the
index gives exactly the decisions of the scan over every grant (the reference evaluator)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Caller, Grant, KmsPolicies, Request, authorize_kms
from kmspolicy.authz import kms as authz_kms
from kmspolicy.authz.grants import GrantSet
from kmspolicy.authz.reference import authorize_kms_reference
from kmspolicy.lang import read_json

A, B = "111122223333", "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k1"
#: callers and grantees chosen to collide: a user and a role of one name, paths, sessions,
#: roots, another account and partition, a service, a federated user
PRINCIPALS = [
    f"arn:aws:iam::{A}:user/app",
    f"arn:aws:iam::{A}:user/team/bob",
    f"arn:aws:iam::{A}:role/app",
    f"arn:aws:iam::{A}:role/path/app",
    f"arn:aws:sts::{A}:assumed-role/app/s1",
    f"arn:aws:iam::{A}:root",
    f"arn:aws:iam::{B}:root",
    f"arn:aws:iam::{B}:role/app",
    f"arn:aws:sts::{B}:assumed-role/app/s2",
    f"arn:aws-cn:iam::{A}:role/app",
    f"arn:aws:sts::{A}:federated-user/app",
    "ec2.amazonaws.com",
]
POLICY = read_json(
    f'{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"AWS": '
    f'"arn:aws:iam::{A}:root"}}, "Action": "kms:*", "Resource": "*"}}]}}',
    "key policy",
    key_policy=True,
)


@st.composite
def grants(draw: st.DrawFn, i: int) -> Grant:
    constraint = draw(st.sampled_from([None, {"app": "web"}, {"APP": "db"}]))
    return Grant(
        f"g{i:02}",
        draw(st.sampled_from([KEY, KEY, "", f"arn:aws:kms:us-east-1:{A}:key/k2"])),
        draw(st.sampled_from(PRINCIPALS)),
        frozenset(draw(st.lists(st.sampled_from(["Decrypt", "Encrypt", "RetireGrant"]))))
        or frozenset({"Decrypt"}),
        retiring_principal=draw(st.sampled_from([None, *PRINCIPALS])),
        encryption_context_subset=constraint,
    )


@st.composite
def grant_lists(draw: st.DrawFn) -> list[Grant]:
    return [draw(grants(i)) for i in range(draw(st.integers(0, 12)))]


@st.composite
def requests(draw: st.DrawFn) -> Request:
    ec = draw(st.sampled_from([{}, {"app": "web"}, {"App": "db"}]))
    return Request(
        Caller.from_arn(draw(st.sampled_from(PRINCIPALS))),
        draw(st.sampled_from(["kms:Decrypt", "kms:Encrypt", "kms:RetireGrant"])),
        KEY,
        {f"kms:EncryptionContext:{k}": v for k, v in ec.items()},
    )


def _usable(grant: Grant, request: Request) -> bool:
    """Every per-grant test the decision makes (any of them true: the grant can matter)."""
    return (
        grant.allows(request)
        or authz_kms._retiring(grant, request)
        or authz_kms._account_grant_allows(grant, request)
    )


def _decision(d):  # type: ignore[no-untyped-def]
    return (
        d.kind,
        d.decided_by,
        [(m.source_policy_type, m.sid) for m in d.matched_statements],
        [(m.source_policy_type, m.sid) for m in d.all_matched],
    )


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(granted=grant_lists(), request=requests())
def test_for_caller_keeps_every_grant_that_can_matter_in_order(
    granted: list[Grant], request: Request
) -> None:
    mine = GrantSet(granted).for_caller(request.caller)
    assert [g for g in granted if _usable(g, request)] == [g for g in mine if _usable(g, request)]
    assert list(mine) == [g for g in granted if g in mine]  # the grants' own order


@SETTINGS
@given(granted=grant_lists(), request=requests(), policy=st.sampled_from([None, POLICY]))
def test_indexed_decisions_equal_the_scan(
    granted: list[Grant], request: Request, policy: object
) -> None:
    """The reference evaluator tests every grant of the key; the rule table, the indexed ones."""
    pols = KmsPolicies(policy, grants=GrantSet(granted))  # type: ignore[arg-type]
    assert _decision(authorize_kms(request, pols)) == _decision(
        authorize_kms_reference(request, pols)
    )


def test_a_grant_set_is_a_sequence_of_its_grants() -> None:
    granted = [Grant(f"g{i}", KEY, PRINCIPALS[i], frozenset({"Decrypt"})) for i in range(3)]
    grant_set = GrantSet(granted)
    assert list(grant_set) == granted and grant_set[1] is granted[1] and len(grant_set) == 3
    assert grant_set == GrantSet(granted) and hash(grant_set) == hash(GrantSet(granted))
    assert KmsPolicies(None, grants=granted).grants == grant_set


def test_a_grant_to_a_role_is_not_a_grant_to_a_user_or_federated_user_of_its_name() -> None:
    """A grant to role/app names the role and its sessions (by name: a session's ARN has no
    path); an IAM user or federated user called app is another principal. It used to match
    any caller of the role's name in the role's account."""
    grant = Grant("g", KEY, f"arn:aws:iam::{A}:role/path/app", frozenset({"Encrypt"}))
    pols = KmsPolicies(None, grants=[grant])
    allowed = {}
    for caller in (
        f"arn:aws:iam::{A}:role/path/app",
        f"arn:aws:sts::{A}:assumed-role/app/s1",
        f"arn:aws:iam::{A}:user/app",
        f"arn:aws:sts::{A}:federated-user/app",
        f"arn:aws:iam::{B}:role/app",
    ):
        request = Request(Caller.from_arn(caller), "kms:Encrypt", KEY, {})
        decisions = {authorize_kms(request, pols).allowed}
        decisions.add(authorize_kms_reference(request, pols).allowed)
        assert len(decisions) == 1, caller
        allowed[caller.split(":", 5)[5]] = decisions.pop()
    assert allowed == {
        "role/path/app": True,
        "assumed-role/app/s1": True,
        "user/app": False,
        "federated-user/app": False,
        "role/app": False,
    }
