"""Hypothesis properties of the checks against the evaluator itself.

* ``equivalent(P, P)`` is PASS for every generated policy, and so is P against its DSL round trip;
* ``no-new-access(OLD, NEW)`` PASS ⇒ no request drawn from a generator biased toward the
  policies' own strings is allowed by NEW and denied by OLD (under either identity assumption);
* FAIL ⇒ the counterexample reproduces through ``authorize_kms`` (checked here again, outside
  the checker's own guard), and no answer is an internal error.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Caller, KmsPolicies, Request, authorize_kms
from kmspolicy.lang import format_dsl, parse_dsl
from kmspolicy.lang.ast import (
    Policy,
)
from kmspolicy.reasoning import Verdict, check_equivalent, check_no_new_access
from kmspolicy.reasoning.decisions import ALLOW_ALL
from tests.reasoning.policy_strategies import KEY, A, B, policies

CALLERS = [
    f"arn:aws:iam::{A}:root",
    f"arn:aws:iam::{A}:user/alice",
    f"arn:aws:sts::{A}:assumed-role/App/s1",
    f"arn:aws:iam::{B}:root",
    f"arn:aws:iam::{B}:user/bob",
    "logs.amazonaws.com",
    "*",
]


@st.composite
def requests(draw: st.DrawFn) -> Request:
    context: dict[str, object] = {}
    if draw(st.booleans()):
        context["kms:EncryptionContext:app"] = draw(st.sampled_from(["payroll", "hr"]))
    if draw(st.booleans()):
        context["kms:ViaService"] = draw(st.sampled_from(["s3.us-east-1.amazonaws.com", "ec2"]))
    if draw(st.booleans()):
        context["aws:SecureTransport"] = draw(st.sampled_from(["true", "false"]))
    action = draw(
        st.sampled_from(["kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:ReEncryptFrom"])
    )
    if action == "kms:CreateGrant" and draw(st.booleans()):
        context["kms:GrantIsForAWSResource"] = draw(st.sampled_from(["true", "false"]))
    if action not in ("kms:Encrypt", "kms:Decrypt", "kms:CreateGrant", "kms:ReEncryptFrom"):
        context = {k: v for k, v in context.items() if not k.startswith("kms:EncryptionContext")}
    caller = draw(st.sampled_from(CALLERS))
    tags = {"team": draw(st.sampled_from(["blue", "BLUE", "red"]))} if ":user/" in caller else {}
    return Request(Caller.from_arn(caller, tags=tags), action, KEY, context)


def allowed(policy: Policy, request: Request) -> bool:
    return any(
        authorize_kms(request, KmsPolicies(policy, identity)).allowed
        for identity in ([], [ALLOW_ALL])
    )


FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(policies())
def test_equivalent_to_itself_and_to_its_dsl_round_trip(policy: Policy) -> None:
    assert check_equivalent(policy, policy, account=A).verdict is Verdict.PASS
    again = parse_dsl(format_dsl(policy))[0]
    assert check_equivalent(policy, again, account=A).verdict is Verdict.PASS


@FAST
@given(policies(), policies(), st.lists(requests(), min_size=20, max_size=20))
def test_no_new_access_agrees_with_the_evaluator(
    old: Policy, new: Policy, probes: list[Request]
) -> None:
    result = check_no_new_access(old, new, account=A)
    assert not any("internal error" in r for r in result.reasons), result.reasons
    if result.verdict is Verdict.UNKNOWN:  # only the time limit may say UNKNOWN here
        assert "gave up" in result.reasons[0], result.reasons
        return
    if result.verdict is Verdict.PASS:
        for request in probes:
            assert not (allowed(new, request) and not allowed(old, request)), request
    else:
        example = result.counterexample
        assert example is not None and result.request is not None
        assert allowed(new, result.request) and not allowed(old, result.request)
