"""Hypothesis strategies for small KMS key policies drawn from a few principals, actions,
resources and conditions, biased so that policies overlap."""

from __future__ import annotations

from hypothesis import strategies as st

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
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
Op = ConditionOperator

PRINCIPALS = [
    Principal(PrincipalKind.ANY, "*"),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{A}:root"),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{B}:root"),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{A}:role/App"),
    Principal(PrincipalKind.AWS, f"arn:aws:iam::{A}:user/alice"),
    Principal(PrincipalKind.SERVICE, "logs.amazonaws.com"),
]
ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:*", "kms:Describe*", "kms:CreateGrant", "kms:Re*"]
RESOURCES = ["*", f"arn:aws:kms:*:{A}:key/*", KEY, f"arn:aws:kms:us-east-1:{B}:key/*"]


def _cond(op: Op, key: str, *values: str, q: SetQualifier | None = None, ife: bool = False):
    return Condition(op, key, tuple(ConditionValue(v) for v in values), q, ife)


CONDITIONS = [
    _cond(Op.STRING_EQUALS, "kms:EncryptionContext:app", "payroll"),
    _cond(Op.STRING_LIKE, "kms:ViaService", "s3.*.amazonaws.com"),
    _cond(Op.BOOL, "kms:GrantIsForAWSResource", "true"),
    _cond(Op.STRING_EQUALS, "kms:CallerAccount", A),
    _cond(Op.STRING_NOT_EQUALS, "aws:PrincipalAccount", A),
    _cond(Op.NULL, "kms:EncryptionContextKeys", "true"),
    _cond(Op.STRING_EQUALS, "kms:EncryptionContextKeys", "app", q=SetQualifier.FOR_ANY_VALUE),
    _cond(Op.ARN_LIKE, "aws:PrincipalArn", f"arn:aws:iam::{A}:role/*"),
    _cond(Op.BOOL, "aws:SecureTransport", "false", ife=True),
    _cond(Op.STRING_EQUALS_IGNORE_CASE, "aws:PrincipalTag/team", "Blue"),
]


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    return Statement(
        draw(st.sampled_from([Effect.ALLOW, Effect.ALLOW, Effect.DENY])),
        tuple(
            Action(a)
            for a in draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2, unique=True))
        ),
        principals=draw(
            st.one_of(
                st.just((PRINCIPALS[0],)),
                st.lists(st.sampled_from(PRINCIPALS[1:]), min_size=1, max_size=2, unique=True).map(
                    tuple
                ),
            )
        ),
        resources=(Resource(draw(st.sampled_from(RESOURCES))),),
        conditions=tuple(draw(st.lists(st.sampled_from(CONDITIONS), max_size=2, unique=True))),
    )


def policies() -> st.SearchStrategy[Policy]:
    return st.lists(statements(), min_size=1, max_size=3).map(
        lambda s: Policy(tuple(s), version="2012-10-17")
    )
