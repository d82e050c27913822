"""``who_can``: the matrix agrees with the evaluator for concrete requests.

* every ALLOWED (DENIED) cell: each generated request of that caller and action is allowed
  (denied) by ``authorize_kms`` with the caller's policies;
* every allowed-only-if cell: a request is allowed exactly when it satisfies the reported
  condition (decided by the evaluator's own condition code), and each alternative's example
  is allowed;
* on the fixture key policies with callers of every kind (root, users with identity policies,
  a role used as the caller, a session of it, another account, a service, anonymous), and on
  hypothesis-generated policies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Caller, KmsPolicies, Request, authorize_kms
from kmspolicy.authz.conditions import CompiledCondition
from kmspolicy.lang import Policy, load_policies, read_policies
from kmspolicy.lang.ast import Condition, ConditionOperator, ConditionValue
from kmspolicy.reasoning.whocan import (
    Access,
    CallerPolicies,
    Literal,
    WhoCanResult,
    example_key_arn,
    key_actions,
    opposite,
    who_can,
)
from tests.reasoning.policy_strategies import CONDITIONS, policies

A, B = "111122223333", "444455556666"
NULL_TRUE = Condition(
    ConditionOperator.NULL, "kms:EncryptionContextKeys", (ConditionValue("true"),)
)
KEY = example_key_arn(A)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KEY_FIXTURES = sorted(
    p for p in FIXTURES.glob("*.json") if "identity" not in p.name and "administrator" not in p.name
)


def doc(*statements: dict[str, Any], key: bool = False) -> Policy:
    text = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return read_policies(text, "<test>", key_policy=key)[0]


ALLOW_ALL = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
KMS_ONLY_DECRYPT = doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
BOUNDARY = doc({"Effect": "Allow", "Action": ["kms:Describe*", "kms:Encrypt"], "Resource": "*"})
SCP_DENY_DELETE = doc(
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
)


def callers() -> list[CallerPolicies]:
    def c(arn: str, **kw: Any) -> CallerPolicies:
        tags = kw.pop("tags", None)
        return CallerPolicies(Caller.from_arn(arn, tags=tags), **kw)

    return [
        c(f"arn:aws:iam::{A}:root", identity_policies=(ALLOW_ALL,)),
        c(f"arn:aws:iam::{A}:user/alice", identity_policies=(ALLOW_ALL,), tags={"team": "blue"}),
        c(
            f"arn:aws:iam::{A}:user/eve",
            identity_policies=(ALLOW_ALL,),
            permissions_boundary=BOUNDARY,
            scps=(SCP_DENY_DELETE,),
        ),
        c(f"arn:aws:iam::{A}:role/Payroll", identity_policies=(KMS_ONLY_DECRYPT,)),
        c(f"arn:aws:sts::{A}:assumed-role/Payroll/s1", identity_policies=(ALLOW_ALL,)),
        c(f"arn:aws:iam::{B}:user/bob", identity_policies=(ALLOW_ALL,)),
        c(f"arn:aws:iam::{B}:root"),
        c("logs.amazonaws.com"),
        c("*"),
    ]


def contexts(policy: Policy, action: str) -> list[dict[str, Any]]:
    """Contexts built from the policy's own condition keys and values (and a few others)."""
    keys: dict[str, set[str]] = {}
    for stmt in policy.statements:
        for cond in stmt.conditions:
            keys.setdefault(cond.key, set()).update(str(v.value) for v in cond.values)
    crypto = action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom")
    out: list[dict[str, Any]] = [{}]
    for key, values in keys.items():
        low = key.lower()
        if low.startswith("aws:principal") or low in ("kms:calleraccount", "aws:userid"):
            continue  # derived from the caller
        if low.startswith("kms:encryptioncontext") and not crypto:
            continue  # only on the cryptographic operations
        if low == "kms:grantisforawsresource" and action != "kms:CreateGrant":
            continue
        for value in [*sorted(values), "other"]:
            if low.startswith("kms:encryptioncontext:"):
                name = key.split(":", 2)[2]
                out.append({key: value, "kms:EncryptionContextKeys": [name]})
            elif low == "kms:encryptioncontextkeys":
                out.append({f"kms:EncryptionContext:{value}": "v"})
            else:
                out.append({key: value})
    merged: dict[str, Any] = {}
    for ctx in out:
        merged.update(ctx)
    if crypto and any(k.lower().startswith("kms:encryptioncontext:") for k in merged):
        merged["kms:EncryptionContextKeys"] = [
            k.split(":", 2)[2] for k in merged if k.lower().startswith("kms:encryptioncontext:")
        ]
    else:
        merged = {k: v for k, v in merged.items() if "encryptioncontext" not in k.lower()}
    return [*out, merged]


def agrees(result: WhoCanResult, key_policy: Policy, setups: list[CallerPolicies]) -> None:
    by_arn = {s.caller.arn: s for s in setups}
    for cell in result.cells:
        assert cell.access is not Access.UNKNOWN, (cell.principal, cell.action, cell.reason)
        setup = by_arn[cell.principal]
        for context in contexts(key_policy, cell.action):
            request = Request(setup.caller, cell.action, KEY, context)
            decision = authorize_kms(request, setup.kms_policies(key_policy))
            said = cell.allows(request)
            assert said == decision.allowed, (cell.to_dict(), context, decision.explain())
        if cell.access is Access.CONDITIONAL:
            assert cell.example is not None and cell.when and cell.complete
            for conj in cell.when:
                assert conj  # a conjunction of at least one of the policy's conditions


@pytest.mark.parametrize("path", KEY_FIXTURES, ids=lambda p: p.stem)
def test_fixture_matrix_agrees_with_the_evaluator(path: Path) -> None:
    policy = load_policies(path, key_policy=True)[0]
    setups = callers()
    actions = ["kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:PutKeyPolicy"]
    actions += ["kms:ScheduleKeyDeletion", "kms:DescribeKey", "kms:RetireGrant"]
    result = who_can(policy, setups, key_arn=KEY, actions=actions)
    agrees(result, policy, setups)


def test_encryption_context_enforcement_reads_as_its_author_meant() -> None:
    policy = load_policies(FIXTURES / "encryption-context-enforcement.json", key_policy=True)[0]
    session = CallerPolicies(Caller.from_arn(f"arn:aws:sts::{A}:assumed-role/Payroll/s2"))
    setups = [*callers(), session]
    result = who_can(policy, setups, key_arn=KEY, actions=["Decrypt", "DescribeKey"])
    # a session of the role, without identity policies: only the key policy's statement
    payroll = result.cell(session.caller.arn, "kms:Decrypt")
    assert payroll.access is Access.CONDITIONAL
    assert payroll.condition_text == 'StringEquals kms:EncryptionContext:app "payroll"'
    assert [m.sid for m in payroll.statements] == ["Allow payroll to use the key for payroll data"]
    assert payroll.example is not None
    assert payroll.example["kms:EncryptionContext:app"] == "payroll"
    # the role used as the caller: its identity policy allows Decrypt only, the key policy
    # names the role for DescribeKey directly
    role = f"arn:aws:iam::{A}:role/Payroll"
    assert result.cell(role, "kms:DescribeKey").access is Access.ALLOWED
    assert result.cell(f"arn:aws:iam::{B}:user/bob", "kms:Decrypt").access is Access.DENIED
    # alice may use the key through IAM, but never without an encryption context
    alice = result.cell(f"arn:aws:iam::{A}:user/alice", "kms:Decrypt")
    assert alice.access is Access.CONDITIONAL
    assert alice.condition_text == 'Null kms:EncryptionContextKeys "false"'


def test_boundary_and_scp_limit_the_identity_side() -> None:
    policy = load_policies(FIXTURES / "default-key-policy.json", key_policy=True)[0]
    eve = [s for s in callers() if s.caller.arn.endswith("user/eve")]
    result = who_can(policy, eve, key_arn=KEY)
    allowed = {c.action for c in result.cells if c.access is Access.ALLOWED}
    assert allowed == {"kms:DescribeKey", "kms:Encrypt"}
    assert result.actions == tuple(key_actions())
    deletion = result.cell(eve[0].caller.arn, "kms:ScheduleKeyDeletion")
    assert deletion.access is Access.DENIED


def test_not_principal_deny_denies_every_caller_with_a_boundary() -> None:
    """IAM: a Deny with NotPrincipal denies an IAM user or role with a permissions boundary
    whatever it lists; the same user without one is exempt. The matrix says so, and agrees
    with the evaluator."""
    listed = [f"arn:aws:iam::{A}:user/eve", f"arn:aws:iam::{A}:root"]
    policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "OnlyEve",
            "Effect": "Deny",
            "NotPrincipal": {"AWS": listed},
            "Action": "kms:Encrypt",
            "Resource": "*",
        },
        key=True,
    )
    eve = Caller.from_arn(f"arn:aws:iam::{A}:user/eve")
    bounded = CallerPolicies(eve, identity_policies=(ALLOW_ALL,), permissions_boundary=BOUNDARY)
    free = CallerPolicies(eve, identity_policies=(ALLOW_ALL,))
    for setup, access in ((bounded, Access.DENIED), (free, Access.ALLOWED)):
        result = who_can(policy, [setup], key_arn=KEY, actions=["kms:Encrypt"])
        (cell,) = result.cells
        assert cell.access is access
        agrees(result, policy, [setup])


def test_a_construct_the_encoding_does_not_model_makes_cells_unknown() -> None:
    policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"BinaryEquals": {"kms:RecipientAttestation:ImageSha384": "AAAA"}},
        },
        key=True,
    )
    result = who_can(policy, callers()[:1], key_arn=KEY, actions=["kms:Decrypt"])
    (cell,) = result.cells
    assert cell.access is Access.UNKNOWN and "BinaryEquals" in cell.reason
    assert cell.allows(Request(callers()[0].caller, "kms:Decrypt", KEY)) is None


def test_a_request_past_the_evaluator_s_limit_is_not_answered_by_a_cell() -> None:
    # three patterns against a 2 MB value: the evaluator denies it unmatched (authz.limits)
    patterns = [f"*{i}*x*" for i in range(5, 8)]
    policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:user/alice"},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringLike": {"kms:EncryptionContext:app": patterns}},
        },
        key=True,
    )
    setup = callers()[1]
    result = who_can(policy, [setup], key_arn=KEY, actions=["kms:Decrypt"])
    (cell,) = result.cells
    assert cell.access is Access.CONDITIONAL
    request = Request(setup.caller, "kms:Decrypt", KEY, {"kms:EncryptionContext:app": "7x" * 10**6})
    decision = authorize_kms(request, setup.kms_policies(policy))
    assert not decision.allowed and "limit" in decision.reason
    assert cell.allows(request) is None
    # a request within the limit is answered, and a request asked before starts afresh
    small = Request(setup.caller, "kms:Decrypt", KEY, {"kms:EncryptionContext:app": "7x"})
    assert cell.allows(small) is True and cell.allows(small) is True


def test_bad_actions_and_keys_are_value_errors() -> None:
    policy = load_policies(FIXTURES / "default-key-policy.json", key_policy=True)[0]
    with pytest.raises(ValueError, match="not a KMS action on a key"):
        who_can(policy, callers()[:1], key_arn=KEY, actions=["kms:CreateKey"])
    with pytest.raises(ValueError, match="not a KMS key ARN"):
        who_can(policy, callers()[:1], key_arn="arn:aws:s3:::bucket")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), st.sampled_from(["kms:Decrypt", "kms:Encrypt", "kms:CreateGrant"]))
def test_generated_policies_matrix_agrees_with_the_evaluator(policy: Policy, action: str) -> None:
    setups = callers()
    result = who_can(policy, setups, key_arn=KEY, actions=[action])
    agrees(result, policy, setups)


def test_kms_policies_are_the_service_s() -> None:
    setup = callers()[2]
    assert setup.kms_policies(ALLOW_ALL) == KmsPolicies(
        ALLOW_ALL,
        identity_policies=(ALLOW_ALL,),
        scps=(SCP_DENY_DELETE,),
        permissions_boundary=BOUNDARY,
    )


KEY_PROPERTY_POLICY = doc(
    {
        "Sid": "SymmetricForTeam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{A}:user/alice"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "aws:ResourceTag/team": "blue"},
            "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/app-*"},
        },
    },
    key=True,
)


def test_the_key_s_properties_are_context_unless_given() -> None:
    alice = CallerPolicies(Caller.from_arn(f"arn:aws:iam::{A}:user/alice"))
    free = who_can(KEY_PROPERTY_POLICY, [alice], key_arn=KEY, actions=["Decrypt"]).cells[0]
    assert free.access is Access.CONDITIONAL
    assert "kms:KeySpec" in free.condition_text and "aws:ResourceTag/team" in free.condition_text
    matching = {
        "kms:KeySpec": "SYMMETRIC_DEFAULT",
        "kms:ResourceAliases": ["alias/app-1", "alias/other"],
        "aws:ResourceTag/team": "blue",
    }
    cases = [
        (matching, Access.ALLOWED),
        ({**matching, "kms:KeySpec": "RSA_2048"}, Access.DENIED),
        # a tag the key does not have is absent, not free
        ({k: v for k, v in matching.items() if k != "aws:ResourceTag/team"}, Access.DENIED),
        ({**matching, "kms:ResourceAliases": []}, Access.DENIED),
    ]
    for key_context, expected in cases:
        result = who_can(
            KEY_PROPERTY_POLICY, [alice], key_arn=KEY, actions=["Decrypt"], key_context=key_context
        )
        (cell,) = result.cells
        assert cell.access is expected, (key_context, cell.to_dict())
        decision = authorize_kms(
            Request(alice.caller, "kms:Decrypt", KEY, key_context),
            alice.kms_policies(KEY_PROPERTY_POLICY),
        )
        assert decision.allowed == (expected is Access.ALLOWED)


def test_with_key_context_the_rest_of_the_context_stays_free() -> None:
    policy = load_policies(FIXTURES / "encryption-context-enforcement.json", key_policy=True)[0]
    session = CallerPolicies(Caller.from_arn(f"arn:aws:sts::{A}:assumed-role/Payroll/s2"))
    key_context = {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:ResourceAliases": []}
    result = who_can(policy, [session], key_arn=KEY, actions=["Decrypt"], key_context=key_context)
    (cell,) = result.cells
    assert cell.condition_text == 'StringEquals kms:EncryptionContext:app "payroll"'
    assert cell.example is not None and "kms:KeySpec" not in cell.example


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([*CONDITIONS, NULL_TRUE]),
    st.sampled_from(["payroll", "hr", "s3.us-east-1.amazonaws.com", A, "Blue", "blue"]),
    st.booleans(),
    st.booleans(),
)
def test_the_opposite_written_for_a_condition_not_to_hold_is_exact(
    cond: Condition, value: str, present: bool, twice: bool
) -> None:
    flipped = opposite(cond)
    if flipped is None:
        return
    context: dict[str, Any] = {}
    if present and not cond.key.lower().startswith(("aws:principal", "kms:calleraccount")):
        context[cond.key] = [value, "other"] if twice else value
        if cond.key.lower().startswith("kms:encryptioncontext:"):
            context[cond.key] = value
            context["kms:EncryptionContextKeys"] = [cond.key.split(":", 2)[2]]
    caller = Caller.from_arn(f"arn:aws:iam::{A}:user/alice", tags={"team": value})
    request = Request(caller, "kms:Decrypt", KEY, context)
    original = CompiledCondition(cond, variables=True).evaluate(request, [])
    assert CompiledCondition(flipped, variables=True).evaluate(request, []) is (not original)
    assert Literal(cond, False, True).satisfied_by(request) is (not original)
