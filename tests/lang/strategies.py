"""Hypothesis strategies for policy ASTs that both faces can express (grouped principals and
conditions, unique Sids and (operator, key) pairs — what a JSON document can hold)."""

from __future__ import annotations

from hypothesis import strategies as st

from kmspolicy.lang import (
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
from kmspolicy.lang.vocab import AWS_PREFIX_KEYS, KMS_PREFIX_KEYS, WELL_KNOWN_KEYS

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
word = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_/", min_size=1, max_size=10)

actions = st.one_of(
    st.just("*"),
    st.from_regex(r"[a-z0-9-]{1,6}:[A-Za-z0-9*?]{1,10}", fullmatch=True),
    st.from_regex(r"[A-Z]{1,3}:[a-z?*]{1,4}", fullmatch=True),
)
resources = st.one_of(
    st.just("*"),
    word.map(lambda w: f"arn:aws:kms:us-east-1:111122223333:key/{w}"),
    st.just("arn:aws:kms:*:111122223333:alias/*"),
)
principal_values = {
    PrincipalKind.AWS: st.one_of(
        st.just("*"),
        st.from_regex(r"\d{12}", fullmatch=True),
        word.map(lambda w: f"arn:aws:iam::111122223333:role/{w}"),
        word.map(lambda w: f"arn:aws:sts::111122223333:assumed-role/R/{w}"),
    ),
    PrincipalKind.SERVICE: st.sampled_from(["ec2.amazonaws.com", "logs.us-east-1.amazonaws.com"]),
    PrincipalKind.FEDERATED: st.sampled_from(
        ["cognito-identity.amazonaws.com", "accounts.google.com"]
    ),
    PrincipalKind.CANONICAL_USER: st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
}


@st.composite
def principal_lists(draw: st.DrawFn) -> tuple[Principal, ...]:
    if draw(st.integers(0, 4)) == 0:
        return (Principal(PrincipalKind.ANY, "*"),)
    kinds = draw(
        st.lists(st.sampled_from(list(principal_values)), min_size=1, max_size=3, unique=True)
    )
    out: list[Principal] = []
    for kind in kinds:
        values = draw(st.lists(principal_values[kind], min_size=1, max_size=3))
        out.extend(Principal(kind, v) for v in values)
    return tuple(out)


keys = st.one_of(
    st.sampled_from(WELL_KNOWN_KEYS),
    st.tuples(st.sampled_from(AWS_PREFIX_KEYS + KMS_PREFIX_KEYS), word).map("".join),
    st.tuples(st.sampled_from(["s3:", "ec2:", "dynamodb:"]), text.filter(bool)).map("".join),
)
values = st.one_of(
    text,
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
)
operators = st.tuples(
    st.sampled_from([None, *SetQualifier]),
    st.sampled_from(list(ConditionOperator)),
    st.booleans(),
).map(lambda t: (t[0], t[1], t[2] and t[1] is not ConditionOperator.NULL))


@st.composite
def condition_lists(draw: st.DrawFn) -> tuple[Condition, ...]:
    ops = draw(st.lists(operators, max_size=3, unique=True))
    out: list[Condition] = []
    for qualifier, op, if_exists in ops:
        for key in draw(st.lists(keys, min_size=1, max_size=2, unique=True)):
            vals = draw(st.lists(values, min_size=1, max_size=3))
            out.append(
                Condition(op, key, tuple(ConditionValue(v) for v in vals), qualifier, if_exists)
            )
    return tuple(out)


@st.composite
def statements(draw: st.DrawFn, sid: str | None) -> Statement:
    principals = draw(st.none() | principal_lists())
    res = draw(st.none() | st.lists(resources, min_size=1, max_size=3).map(tuple))
    return Statement(
        effect=draw(st.sampled_from(list(Effect))),
        actions=tuple(Action(a) for a in draw(st.lists(actions, min_size=1, max_size=4))),
        sid=sid,
        principals=principals,
        not_principal=principals is not None and draw(st.booleans()),
        not_action=draw(st.booleans()),
        resources=None if res is None else tuple(Resource(r) for r in res),
        not_resource=res is not None and draw(st.booleans()),
        conditions=draw(condition_lists()),
        comments=tuple(
            draw(st.lists(text.map(lambda t: t.replace("\n", " ").strip()), max_size=2))
        ),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    sids = draw(st.lists(st.none() | text, min_size=1, max_size=4))
    seen: set[str] = set()
    unique = []
    for sid in sids:  # INVARIANT: Sids are unique within a policy
        unique.append(None if sid in seen else sid)
        if sid:
            seen.add(sid)
    return Policy(
        statements=tuple(draw(statements(sid)) for sid in unique),
        version=draw(st.sampled_from([None, "2012-10-17", "2008-10-17"])),
        id=draw(st.none() | text),
    )
