"""Hypothesis properties: the compiled evaluator equals the reference one; denies are monotone."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kmspolicy.authz import (
    Caller,
    Grant,
    KmsPolicies,
    PolicyType,
    Request,
    authorize_iam,
    authorize_kms,
    evaluate_policies,
    match_policy,
)
from kmspolicy.authz.reference import (
    authorize_iam_reference,
    authorize_kms_reference,
    match_policy_reference,
)
from kmspolicy.lang import read_json
from kmspolicy.lang.ast import (
    Action,
    Condition,
    ConditionOperator,
    ConditionValue,
    Effect,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    SetQualifier,
    Statement,
)

A, B = "111122223333", "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k1"
CALLERS = [
    f"arn:aws:iam::{A}:user/alice",
    f"arn:aws:iam::{A}:user/bob",
    f"arn:aws:iam::{A}:root",
    f"arn:aws:sts::{A}:assumed-role/app/s1",
    f"arn:aws:iam::{A}:role/app",
    f"arn:aws:iam::{B}:user/ext",
    f"arn:aws:sts::{B}:assumed-role/app/s1",
    "logs.amazonaws.com",
]
ACTIONS = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:CreateAlias",
    "s3:GetObject",
    "kms:RetireGrant",
]
RESOURCES = [
    KEY,
    f"arn:aws:kms:us-east-1:{A}:key/k2",
    f"arn:aws:kms:us-east-1:{A}:alias/app",
    "*",
    "arn:aws:s3:::home/alice/x",
    f"arn:aws:kms:eu-west-1:{B}:key/k9",
]
ACTION_PATTERNS = [
    "kms:Decrypt",
    "kms:encrypt",
    "kms:*",
    "kms:Re*",
    "kms:?ncrypt",
    "*",
    "s3:Get*",
    "kms:CreateAlias",
]
RESOURCE_PATTERNS = [
    "*",
    KEY,
    f"arn:aws:kms:*:{A}:key/*",
    f"arn:aws:kms:us-east-1:{A}:key/k?",
    f"arn:aws:kms:us-east-1:{A}:alias/*",
    "arn:aws:s3:::home/${aws:username}/*",
    "arn:aws:kms:*:${aws:PrincipalAccount}:key/*",
]
PRINCIPALS = [
    Principal(PrincipalKind.ANY, "*"),
    Principal(PrincipalKind.AWS, "*"),
    Principal(PrincipalKind.AWS, A),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{A}:root"),
    Principal(PrincipalKind.AWS, CALLERS[0]),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{A}:role/app"),
    Principal(PrincipalKind.AWS, CALLERS[3]),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{B}:root"),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{B}:role/app"),
    Principal(PrincipalKind.SERVICE, "logs.amazonaws.com"),
]
Op = ConditionOperator
CONDITION_SHAPES = [
    (
        Op.STRING_EQUALS,
        "kms:ViaService",
        ["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"],
    ),
    (Op.STRING_LIKE, "kms:ViaService", ["s3.*", "*.amazonaws.com"]),
    (Op.STRING_NOT_EQUALS, "aws:PrincipalTag/team", ["blue"]),
    (Op.STRING_EQUALS_IGNORE_CASE, "aws:PrincipalTag/team", ["BLUE", "red"]),
    (
        Op.STRING_EQUALS,
        "aws:ResourceTag/team",
        ["${aws:PrincipalTag/team}", "${aws:PrincipalTag/x, 'none'}"],
    ),
    (Op.STRING_EQUALS, "kms:EncryptionContext:app", ["web", "${aws:username}"]),
    (Op.STRING_EQUALS, "kms:EncryptionContextKeys", ["app", "env"]),
    (Op.STRING_NOT_LIKE, "kms:EncryptionContextKeys", ["a*"]),
    (Op.STRING_EQUALS, "kms:CallerAccount", [A]),
    (Op.NUMERIC_LESS_THAN, "kms:RotationPeriodInDays", [100, "365"]),
    (Op.NUMERIC_GREATER_THAN_EQUALS, "aws:EpochTime", [1700000000]),
    (Op.DATE_LESS_THAN, "aws:CurrentTime", ["2026-06-01T00:00:00Z"]),
    (Op.BOOL, "aws:SecureTransport", ["true"]),
    (Op.BOOL, "aws:SecureTransport", [False]),
    (Op.IP_ADDRESS, "aws:SourceIp", ["10.0.0.0/8", "2001:db8::/32"]),
    (Op.NOT_IP_ADDRESS, "aws:SourceIp", ["10.1.0.0/16"]),
    (Op.ARN_LIKE, "aws:PrincipalArn", [f"arn:aws:iam::{A}:role/*", "arn:aws:iam::*:user/al*"]),
    (Op.ARN_NOT_EQUALS, "aws:PrincipalArn", [CALLERS[0]]),
    (Op.NULL, "kms:ViaService", ["true"]),
    (Op.NULL, "kms:EncryptionContextKeys", ["false"]),
    (Op.BINARY_EQUALS, "aws:RequestTag/blob", ["aGVsbG8="]),
]
CONTEXTS = st.fixed_dictionaries(
    {},
    optional={
        "kms:ViaService": st.sampled_from(
            ["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com", "x"]
        ),
        "aws:ResourceTag/team": st.sampled_from(["blue", "red", "none"]),
        "kms:EncryptionContext:app": st.sampled_from(["web", "alice", "db"]),
        "kms:EncryptionContext:env": st.just("prod"),
        "kms:RotationPeriodInDays": st.sampled_from([90, 365, "abc"]),
        "aws:SecureTransport": st.booleans(),
        "aws:SourceIp": st.sampled_from(["10.1.2.3", "10.2.0.1", "192.0.2.1", "2001:db8::1"]),
        "aws:RequestTag/blob": st.sampled_from(["aGVsbG8=", "d29ybGQ="]),
        "aws:TagKeys": st.lists(st.sampled_from(["app", "env", "x"]), max_size=3),
    },
)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    op, key, values = draw(st.sampled_from(CONDITION_SHAPES))
    chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))
    qualifier = None if op is Op.NULL else draw(st.sampled_from([None, None, *SetQualifier]))
    if_exists = False if op is Op.NULL else draw(st.booleans())
    return Condition(op, key, tuple(ConditionValue(v) for v in chosen), qualifier, if_exists)


@st.composite
def statements(draw: st.DrawFn, *, resource_based: bool, effect: Effect | None = None) -> Statement:
    principals = None
    if resource_based or draw(st.integers(0, 4)) == 0:
        principals = tuple(
            draw(st.lists(st.sampled_from(PRINCIPALS), min_size=1, max_size=3, unique=True))
        )
    return Statement(
        effect=effect
        or draw(st.sampled_from([Effect.ALLOW, Effect.ALLOW, Effect.ALLOW, Effect.DENY])),
        actions=tuple(
            Action(a)
            for a in draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
        ),
        sid=f"S{draw(st.integers(0, 99))}",
        principals=principals,
        not_principal=principals is not None and draw(st.integers(0, 5)) == 0,
        not_action=draw(st.integers(0, 5)) == 0,
        resources=tuple(
            Resource(r)
            for r in draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2))
        ),
        not_resource=draw(st.integers(0, 5)) == 0,
        conditions=tuple(draw(st.lists(conditions(), max_size=2))) if draw(st.booleans()) else (),
    )


@st.composite
def policies(draw: st.DrawFn, *, resource_based: bool) -> Policy:
    stmts = draw(st.lists(statements(resource_based=resource_based), min_size=1, max_size=6))
    return Policy(
        tuple(stmts), version=draw(st.sampled_from(["2012-10-17", "2012-10-17", "2008-10-17"]))
    )


@st.composite
def requests(draw: st.DrawFn) -> Request:
    tags = draw(st.fixed_dictionaries({}, optional={"team": st.sampled_from(["blue", "red"])}))
    caller = Caller.from_arn(draw(st.sampled_from(CALLERS)), tags=tags)
    time = draw(st.sampled_from([None, "2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"]))
    from datetime import datetime

    return Request(
        caller,
        draw(st.sampled_from(ACTIONS)),
        draw(st.sampled_from(RESOURCES)),
        draw(CONTEXTS),
        datetime.fromisoformat(time) if time else None,
    )


def _summary(m):  # type: ignore[no-untyped-def]
    return (
        [(r.statement_index, h) for r, h in m.allows],
        [(r.statement_index, h) for r, h in m.denies],
        sorted(set(m.missing)),
    )


def _decision(d):  # type: ignore[no-untyped-def]
    return (
        d.kind,
        d.decided_by,
        [(m.source_policy_type, m.statement_index) for m in d.matched_statements],
        set(d.missing_context_keys),
        [(m.source_policy_type, m.statement_index) for m in d.all_matched],
    )


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    policy=st.one_of(policies(resource_based=True), policies(resource_based=False)),
    request=requests(),
)
def test_compiled_policy_match_equals_reference(policy: Policy, request: Request) -> None:
    for ptype in (PolicyType.KEY_POLICY, PolicyType.IDENTITY):
        assert _summary(match_policy(policy, request, ptype)) == _summary(
            match_policy_reference(policy, request, ptype)
        )


def test_star_outranks_a_role_naming_itself() -> None:
    # found by the property above: `Principal: ["*", <the caller's role ARN>]` for a role caller
    # is an ANYONE match in both evaluators (the compiled one used to say ROLE)
    role = "arn:aws:iam::111122223333:role/app"
    stmt = Statement(
        Effect.ALLOW,
        (Action("kms:Decrypt"),),
        principals=(Principal(PrincipalKind.ANY, "*"), Principal(PrincipalKind.AWS, role)),
        resources=(Resource("*"),),
    )
    policy = Policy((stmt,), version="2012-10-17")
    request = Request(
        Caller.from_arn(role), "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k1"
    )
    compiled = match_policy(policy, request, PolicyType.KEY_POLICY)
    assert _summary(compiled) == _summary(
        match_policy_reference(policy, request, PolicyType.KEY_POLICY)
    )


GRANTEES = [
    CALLERS[0],
    CALLERS[1],
    f"arn:aws:iam::{A}:root",
    f"arn:aws:iam::{A}:role/app",
    CALLERS[5],
]


@st.composite
def grants(draw: st.DrawFn) -> Grant:
    constraint = draw(st.sampled_from([None, {"app": "web"}, {"APP": "web"}, {"app": "db"}]))
    kind = draw(st.sampled_from(["equals", "subset"]))
    return Grant(
        f"g{draw(st.integers(0, 9))}",
        draw(st.sampled_from([KEY, KEY, "", RESOURCES[1]])),
        draw(st.sampled_from(GRANTEES)),
        frozenset(
            draw(st.lists(st.sampled_from(["Decrypt", "Encrypt", "RetireGrant"]), max_size=2))
        ),
        retiring_principal=draw(st.sampled_from([None, CALLERS[0], CALLERS[3]])),
        encryption_context_equals=constraint if kind == "equals" else None,
        encryption_context_subset=constraint if kind == "subset" else None,
    )


@st.composite
def kms_sets(draw: st.DrawFn) -> KmsPolicies:
    return KmsPolicies(
        draw(st.one_of(st.none(), policies(resource_based=True))),
        draw(st.lists(policies(resource_based=False), max_size=2)),
        grants=draw(st.lists(grants(), max_size=2)),
        permissions_boundary=draw(st.one_of(st.none(), policies(resource_based=False))),
        session_policies=draw(st.lists(policies(resource_based=False), max_size=1)),
        scps=draw(
            st.one_of(
                st.just([]),
                st.lists(st.lists(policies(resource_based=False), max_size=2), max_size=2),
            )
        ),
        rcps=draw(st.one_of(st.just([]), st.lists(policies(resource_based=False), max_size=1))),
    )


@SETTINGS
@given(pols=kms_sets(), request=requests())
def test_compiled_decisions_equal_reference(pols: KmsPolicies, request: Request) -> None:
    """The rule table and the compiled matcher against the reference evaluator, which shares
    no matching, operator or combining code with them."""
    assert _decision(authorize_kms(request, pols)) == _decision(
        authorize_kms_reference(request, pols)
    )
    iam_args = dict(
        scps=pols.scp_levels,
        permissions_boundary=pols.permissions_boundary,
        session_policies=pols.session_policies,
    )
    assert _decision(
        authorize_iam(request, pols.identity_policies, pols.key_policy, **iam_args)
    ) == _decision(
        authorize_iam_reference(request, pols.identity_policies, pols.key_policy, **iam_args)
    )


def _with(policy: Policy, statement: Statement, index: int) -> Policy:
    stmts = list(policy.statements)
    stmts.insert(index % (len(stmts) + 1), statement)
    return Policy(tuple(stmts), policy.version, policy.id)


@SETTINGS
@given(pols=kms_sets(), request=requests(), data=st.data())
def test_adding_a_deny_never_allows(
    pols: KmsPolicies, request: Request, data: st.DataObject
) -> None:
    before = authorize_kms(request, pols)
    target = data.draw(st.sampled_from(["key", "identity", "boundary"]))
    deny_rb = data.draw(statements(resource_based=True, effect=Effect.DENY))
    deny_id = data.draw(statements(resource_based=False, effect=Effect.DENY))
    at = data.draw(st.integers(0, 10))
    if target == "key" and pols.key_policy is not None:
        after_set = replace(pols, key_policy=_with(pols.key_policy, deny_rb, at))
    elif target == "boundary" and pols.permissions_boundary is not None:
        after_set = replace(
            pols, permissions_boundary=_with(pols.permissions_boundary, deny_id, at)
        )
    else:
        extra = Policy((deny_id,), "2012-10-17")
        after_set = replace(pols, identity_policies=[*pols.identity_policies, extra])
    after = authorize_kms(request, after_set)
    if not before.allowed:
        assert not after.allowed
    plain_before = evaluate_policies(request, pols.identity_policies)
    plain_after = evaluate_policies(
        request, [*pols.identity_policies, Policy((deny_id,), "2012-10-17")]
    )
    if not plain_before.allowed:
        assert not plain_after.allowed


def _without(policy: Policy, index: int) -> Policy:
    allows = [i for i, s in enumerate(policy.statements) if s.effect is Effect.ALLOW]
    if not allows:
        return policy
    drop = allows[index % len(allows)]
    return Policy(
        tuple(s for i, s in enumerate(policy.statements) if i != drop), policy.version, policy.id
    )


@SETTINGS
@given(
    pols=kms_sets(),
    request=requests(),
    index=st.integers(0, 10),
    target=st.sampled_from(["key", "identity"]),
)
def test_removing_an_allow_never_allows(
    pols: KmsPolicies, request: Request, index: int, target: str
) -> None:
    before = authorize_kms(request, pols)
    if target == "key" and pols.key_policy is not None:
        after_set = replace(pols, key_policy=_without(pols.key_policy, index))
    elif pols.identity_policies:
        ids = list(pols.identity_policies)
        ids[index % len(ids)] = _without(ids[index % len(ids)], index)
        after_set = replace(pols, identity_policies=ids)
    else:
        return
    if not before.allowed:
        assert not authorize_kms(request, after_set).allowed


#: a key policy's Deny with NotPrincipal "*" and a caller with a permissions boundary: the deny
#: matches her all the same (found by this property once the boundary rule landed)
_BOUNDED_DENY = KmsPolicies(
    read_json(
        '{"Statement": [{"Effect": "Deny", "NotPrincipal": "*", "Action": "kms:Decrypt",'
        ' "Resource": "*"}]}'
    ),
    permissions_boundary=read_json(
        '{"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}'
    ),
)
_ALICE_DECRYPTS = Request(
    Caller.from_arn(f"arn:aws:iam::{A}:user/alice"),
    "kms:Decrypt",
    f"arn:aws:kms:us-east-1:{A}:key/k1",
)


@SETTINGS
@given(pols=kms_sets(), request=requests())
@example(pols=_BOUNDED_DENY, request=_ALICE_DECRYPTS)
def test_all_matched_holds_every_matching_statement(pols: KmsPolicies, request: Request) -> None:
    """``all_matched`` = exactly the statements each consulted policy matches on its own (so an
    allow an explicit deny overrode is there), and it includes the deciding statements."""
    d = authorize_kms(request, pols)
    assert set(d.matched_statements) <= set(d.all_matched)
    consulted: list[tuple[Policy, PolicyType]] = []
    if request.caller.type.value != "Service":
        consulted += [(p, PolicyType.SCP) for level in pols.scp_levels for p in level]
        consulted += [(p, PolicyType.RCP) for level in pols.rcp_levels for p in level]
    if pols.key_policy is not None and request.resource.split(":")[-1].startswith("key/"):
        consulted.append((pols.key_policy, PolicyType.KEY_POLICY))
    consulted += [(p, PolicyType.IDENTITY) for p in pols.identity_policies]
    if pols.permissions_boundary is not None:
        consulted.append((pols.permissions_boundary, PolicyType.PERMISSIONS_BOUNDARY))
    consulted += [(p, PolicyType.SESSION) for p in pols.session_policies]
    # with a boundary attached, a key policy's Deny with NotPrincipal matches the caller
    # whatever it lists (c486bdb): each policy is matched as the decision matches it
    as_decided = request.with_boundary() if pols.permissions_boundary is not None else request
    expected = []
    for policy, ptype in consulted:
        m = match_policy_reference(policy, as_decided, ptype)
        expected += sorted((h[0] for h in m.allows + m.denies), key=lambda r: r.statement_index)
    statements = [r for r in d.all_matched if r.source_policy_type is not PolicyType.GRANT]
    assert [(r.source_policy_type, r.statement_index) for r in statements] == [
        (r.source_policy_type, r.statement_index) for r in expected
    ]
