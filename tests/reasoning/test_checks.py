"""The four checks through the Python API: verdicts, counterexamples that are real requests and
replay through the evaluator, and UNKNOWN (never PASS) for what the encoding does not model."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kmspolicy.authz import Caller, KmsPolicies, Request, authorize_kms
from kmspolicy.lang import Policy, read_policies
from kmspolicy.reasoning import (
    Verdict,
    check_access_not_granted,
    check_equivalent,
    check_no_new_access,
    check_no_public_access,
)
from kmspolicy.reasoning import checks as checks_module

A, B = "111122223333", "444455556666"


def policy(*statements: dict[str, Any], key: bool = True) -> Policy:
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return read_policies(json.dumps(doc), "<test>", key_policy=key)[0]


ENABLE_IAM = {
    "Sid": "EnableIAM",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
DEFAULT = policy(ENABLE_IAM)


def partner(**extra: Any) -> dict[str, Any]:
    return {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        **extra,
    }


def test_no_new_access_fails_with_the_partner_statement_and_a_replayable_request() -> None:
    result = check_no_new_access(DEFAULT, policy(ENABLE_IAM, partner()))
    assert result.verdict is Verdict.FAIL
    example = result.counterexample
    assert example is not None and example["action"] == "kms:Decrypt"
    assert example["principal"].split(":")[4] == B
    assert [s.statement.sid for s in result.statements] == ["Partner"]
    # the counterexample is a request the evaluator allows under NEW and denies under OLD
    request = Request(Caller.from_arn(example["principal"]), "kms:Decrypt", example["resource"])
    identity = [policy({"Effect": "Allow", "Action": "*", "Resource": "*"}, key=False)]
    if example["identity"] == "none":
        identity = []
    new = authorize_kms(request, KmsPolicies(policy(ENABLE_IAM, partner()), identity))
    old = authorize_kms(request, KmsPolicies(DEFAULT, identity))
    assert new.allowed and not old.allowed


def test_no_new_access_passes_when_the_new_policy_only_removes() -> None:
    result = check_no_new_access(policy(ENABLE_IAM, partner()), DEFAULT)
    assert result.verdict is Verdict.PASS


def test_a_deny_for_every_other_account_makes_the_partner_grant_no_new_access() -> None:
    deny_partner = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:CallerAccount": A}},
    }
    new = policy(ENABLE_IAM, partner(), deny_partner)
    assert check_no_new_access(DEFAULT, new).verdict is Verdict.PASS


def test_equivalent_passes_for_the_same_policy_and_fails_for_a_narrower_one() -> None:
    assert check_equivalent(DEFAULT, DEFAULT).verdict is Verdict.PASS
    narrower = policy({**ENABLE_IAM, "Action": "kms:Describe*"})
    result = check_equivalent(DEFAULT, narrower)
    assert result.verdict is Verdict.FAIL
    assert result.counterexample is not None
    assert not result.counterexample["action"].startswith("kms:Describe")


def test_equivalent_compares_under_each_identity_assumption() -> None:
    # B lets alice Decrypt without any identity policy; A only through IAM delegation. With an
    # allow-all identity policy both allow her, so only the per-assumption comparison sees that
    # swapping A for B changes a decision (docs/check.md: equivalent means "whatever the
    # identity policies")
    alice = {
        "Sid": "Alice",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{A}:user/alice"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    b = policy(ENABLE_IAM, alice)
    result = check_equivalent(DEFAULT, b)
    assert result.verdict is Verdict.FAIL
    example = result.counterexample
    assert example is not None and example["identity"] == "none"
    assert example["principal"] == f"arn:aws:iam::{A}:user/alice"
    assert example["action"] == "kms:Decrypt"
    assert [s.statement.sid for s in result.statements] == ["Alice"]
    # the replayed request: B allows it and A denies it, with no identity policy
    request = result.request
    assert request is not None
    assert authorize_kms(request, KmsPolicies(b)).allowed
    assert not authorize_kms(request, KmsPolicies(DEFAULT)).allowed
    # no-new-access counts a request as allowed under either assumption: alice could already
    # be allowed through an identity policy under A, so B opens nothing IAM could not
    assert check_no_new_access(DEFAULT, b).verdict is Verdict.PASS


def test_conditions_that_cover_the_same_requests_are_equivalent() -> None:
    # StringLike with no wildcard is StringEquals; IfExists on a key that is always there
    like = partner(Condition={"StringLike": {"kms:EncryptionContext:app": "payroll"}})
    equals = partner(Condition={"StringEquals": {"kms:EncryptionContext:app": "payroll"}})
    assert check_equivalent(policy(like), policy(equals), account=A).verdict is Verdict.PASS


def test_encryption_context_keys_agree_with_the_pairs_in_a_counterexample() -> None:
    needs_key = partner(
        Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "app"}}
    )
    result = check_access_not_granted(policy(needs_key), ["kms:Decrypt"], account=A)
    assert result.verdict is Verdict.FAIL
    context = result.counterexample["context"]  # type: ignore[index]
    pairs = sorted(k.split(":", 2)[2] for k in context if k.startswith("kms:EncryptionContext:"))
    assert sorted(context["kms:EncryptionContextKeys"]) == pairs
    assert "app" in pairs


def test_a_condition_on_the_pair_and_its_absence_from_the_keys_never_holds_together() -> None:
    # kms:EncryptionContext:app present but no spelling of `app` among kms:EncryptionContextKeys
    # (condition-key names match in any case): no real request is like that
    impossible = partner(
        Condition={
            "StringEquals": {"kms:EncryptionContext:app": "payroll"},
            "ForAllValues:StringNotEqualsIgnoreCase": {"kms:EncryptionContextKeys": "app"},
        }
    )
    result = check_access_not_granted(policy(impossible), ["kms:Decrypt", "kms:Encrypt"], account=A)
    assert result.verdict is Verdict.PASS


def test_caller_account_always_agrees_with_the_principal() -> None:
    # "allow anyone whose kms:CallerAccount is A": never a caller of another account
    anyone_in_a = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": A}},
    }
    result = check_no_public_access(policy(ENABLE_IAM, anyone_in_a))
    assert result.verdict is Verdict.PASS


def test_anonymous_callers_have_no_account_or_organization() -> None:
    org_only = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-other"}},
    }
    result = check_no_public_access(policy(ENABLE_IAM, org_only))
    assert result.verdict is Verdict.FAIL
    assert result.counterexample is not None


def test_public_access_within_the_organization_passes_with_organization() -> None:
    org = "o-abc123def4"
    in_org = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org}},
    }
    p = policy(ENABLE_IAM, in_org)
    assert check_no_public_access(p, organization=org).verdict is Verdict.PASS
    failed = check_no_public_access(p)
    assert failed.verdict is Verdict.FAIL
    assert failed.counterexample["context"]["aws:PrincipalOrgID"] == org  # type: ignore[index]


def test_operation_specific_keys_appear_only_on_their_operations() -> None:
    # kms:GrantIsForAWSResource exists only on CreateGrant/ListGrants/RevokeGrant: a Deny on
    # its absence leaves Decrypt fully open, and an Allow on it never reaches Decrypt
    allow_for_aws = partner(
        Action="kms:*", Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}
    )
    result = check_access_not_granted(
        policy(ENABLE_IAM, allow_for_aws),
        ["kms:Decrypt"],
        resources=[f"arn:aws:kms:*:{A}:key/*"],
        account=A,
    )
    # the partner cannot Decrypt; the account's own users can (through IAM): FAIL for them only
    assert result.verdict is Verdict.FAIL
    assert result.counterexample["principal"].split(":")[4] == A  # type: ignore[index]


def test_single_valued_keys_hold_one_value() -> None:
    both = partner(
        Condition={
            "StringEquals": {"aws:SourceVpce": "vpce-1"},
            "ForAnyValue:StringEquals": {"aws:SourceVpce": "vpce-2"},
        }
    )
    assert check_access_not_granted(policy(both), ["kms:Decrypt"], account=A).verdict is (
        Verdict.PASS
    )


def test_account_level_actions_target_star_and_key_policies_do_not_govern_them() -> None:
    # a key policy is about requests on its key: CreateKey is not in its request space
    result = check_access_not_granted(DEFAULT, ["kms:CreateKey", "kms:ListAliases"])
    assert result.verdict is Verdict.PASS


def test_identity_policies_are_checked_with_a_key_policy_that_delegates() -> None:
    identity = read_policies(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt",'
        f'"Resource":"arn:aws:kms:*:{A}:key/*"}}]}}'
    )
    result = check_access_not_granted(identity, ["kms:Encrypt"], policy_type="identity")
    assert result.verdict is Verdict.PASS
    result = check_access_not_granted(identity, ["kms:Decrypt"], policy_type="identity")
    assert result.verdict is Verdict.FAIL
    assert "identity" not in result.counterexample  # type: ignore[operator]


def test_an_scp_is_checked_as_a_limit() -> None:
    scp = read_policies(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},'
        '{"Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}'
    )
    result = check_access_not_granted(scp, ["kms:ScheduleKeyDeletion"], policy_type="scp")
    assert result.verdict is Verdict.PASS
    assert check_access_not_granted(scp, ["kms:Decrypt"], policy_type="scp").verdict is (
        Verdict.FAIL
    )


def test_binary_equals_is_unknown_not_pass() -> None:
    binary = partner(Condition={"BinaryEquals": {"aws:SourceVpce": "AAAA"}})
    result = check_equivalent(policy(binary), policy(partner()))
    assert result.verdict is Verdict.UNKNOWN
    assert "BinaryEquals" in result.reasons[0]


def test_a_variable_inside_a_wildcard_pattern_is_unknown_not_pass() -> None:
    templated = partner(
        Condition={"StringLike": {"aws:SourceArn": "arn:aws:s3:::${aws:username}/*"}}
    )
    result = check_equivalent(policy(templated), policy(partner()))
    assert result.verdict is Verdict.UNKNOWN


def test_a_key_compared_as_text_and_as_a_number_is_unknown() -> None:
    mixed = partner(
        Condition={
            "StringEquals": {"kms:RotationPeriodInDays": "90"},
            "NumericLessThan": {"kms:RotationPeriodInDays": "100"},
        }
    )
    assert check_equivalent(policy(mixed), DEFAULT).verdict is Verdict.UNKNOWN


def admin(**extra: Any) -> dict[str, Any]:
    """A statement for a user of the key's own account (no cross-account rules in the way)."""
    return {**partner(**extra), "Principal": {"AWS": f"arn:aws:iam::{A}:user/admin"}}


def test_numbers_dates_and_addresses_are_compared_by_value() -> None:
    window = admin(
        Action="kms:ScheduleKeyDeletion",
        Condition={"NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": 30}},
    )
    ranged = admin(
        Action="kms:ScheduleKeyDeletion",
        Condition={"NumericGreaterThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "29.99"}},
    )
    result = check_equivalent(policy(window), policy(ranged), account=A)
    assert result.verdict is Verdict.FAIL  # 29.995 is allowed by one only
    value = result.counterexample["context"]["kms:ScheduleKeyDeletionPendingWindowInDays"]  # type: ignore[index]
    from decimal import Decimal

    assert Decimal("29.99") < Decimal(value) < 30
    office = partner(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    narrower = partner(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/25"}})
    assert check_no_new_access(policy(office), policy(narrower), account=A).verdict is Verdict.PASS
    assert check_no_new_access(policy(narrower), policy(office), account=A).verdict is Verdict.FAIL
    before = partner(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
    result = check_no_new_access(policy(before), policy(partner()), account=A)
    assert result.verdict is Verdict.FAIL
    assert result.counterexample["context"]["aws:CurrentTime"] >= "2030"  # type: ignore[index]


def test_a_counterexample_that_does_not_replay_is_unknown_with_an_internal_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kmspolicy.authz import Decision

    real = checks_module.Scenario.replay

    def lying(
        self: Any, policies: Any, request: Request, assumption: Any, compiled: Any = None
    ) -> Decision:
        decision = real(self, policies, request, assumption, compiled)
        # pretend the evaluator denied everything: the solver's FAIL no longer reproduces
        return authorize_kms(request, KmsPolicies(None)) if decision.allowed else decision

    monkeypatch.setattr(checks_module.Scenario, "replay", lying)
    result = check_no_new_access(DEFAULT, policy(ENABLE_IAM, partner()))
    assert result.verdict is Verdict.UNKNOWN
    assert "internal error" in result.reasons[0]


def test_the_owner_account_comes_from_the_policy_when_it_is_certain() -> None:
    result = check_no_public_access(DEFAULT)
    assert result.verdict is Verdict.PASS
    assert any(A in reason for reason in result.reasons)
    # naming another owner makes A's root an outsider
    other = check_no_public_access(DEFAULT, account=B)
    assert other.verdict is Verdict.FAIL


def test_counterexamples_read_well_without_another_solve() -> None:
    # the first model's free names are replaced by plain ones when the question still holds
    # with them (checks._nicer): a user or session named in letters and digits, no path
    for result in (
        check_access_not_granted(DEFAULT, ["kms:PutKeyPolicy"]),
        check_no_new_access(DEFAULT, policy(ENABLE_IAM, partner())),
    ):
        assert result.verdict is Verdict.FAIL
        assert result.counterexample is not None
        principal = result.counterexample["principal"]
        assert re.fullmatch(
            r"arn:aws:(iam|sts)::\d{12}:(root|(user|assumed-role|federated-user)"
            r"(/[A-Za-z][A-Za-z0-9]*)+)",
            principal,
        ), principal
