"""Caller parsing and the request context (derived global keys, case rules, encryption context)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kmspolicy.authz import Caller, PrincipalType, Request
from kmspolicy.errors import InvalidArnException, UserError

A = "111122223333"


@pytest.mark.parametrize(
    ("arn", "kind", "principal_arn", "account"),
    [
        (f"arn:aws:iam::{A}:root", PrincipalType.ACCOUNT, f"arn:aws:iam::{A}:root", A),
        (A, PrincipalType.ACCOUNT, f"arn:aws:iam::{A}:root", A),
        (
            f"arn:aws:iam::{A}:user/dev/alice",
            PrincipalType.USER,
            f"arn:aws:iam::{A}:user/dev/alice",
            A,
        ),
        (f"arn:aws:iam::{A}:role/app", PrincipalType.ROLE, f"arn:aws:iam::{A}:role/app", A),
        (
            f"arn:aws:sts::{A}:assumed-role/app/s1",
            PrincipalType.ASSUMED_ROLE,
            f"arn:aws:iam::{A}:role/app",
            A,
        ),
        (
            f"arn:aws:sts::{A}:federated-user/carol",
            PrincipalType.FEDERATED_USER,
            f"arn:aws:sts::{A}:federated-user/carol",
            A,
        ),
        ("kms.amazonaws.com", PrincipalType.SERVICE, "kms.amazonaws.com", None),
        ("*", PrincipalType.ANONYMOUS, "*", None),
    ],
)
def test_caller_from_arn(
    arn: str, kind: PrincipalType, principal_arn: str, account: str | None
) -> None:
    caller = Caller.from_arn(arn)
    assert (caller.type, caller.principal_arn, caller.account) == (kind, principal_arn, account)


@pytest.mark.parametrize(
    "bad", ["bob", "arn:aws:iam::12:user/x", f"arn:aws:s3:::{A}", f"arn:aws:iam::{A}:group/g"]
)
def test_caller_from_bad_arn_is_a_user_error(bad: str) -> None:
    with pytest.raises(InvalidArnException) as info:
        Caller.from_arn(bad)
    assert isinstance(info.value, UserError)


def test_session_derives_principal_keys() -> None:
    r = Request(
        Caller.from_arn(f"arn:aws:sts::{A}:assumed-role/app/s1", user_id="AROAEXAMPLE:s1"),
        "kms:Decrypt",
    )
    assert r.get("aws:PrincipalArn") == (f"arn:aws:iam::{A}:role/app",)
    assert r.get("AWS:principaltype") == ("AssumedRole",)
    assert r.get("aws:userid") == ("AROAEXAMPLE:s1",)
    assert r.get("aws:username") is None
    assert r.get("kms:CallerAccount") == (A,)


def test_user_derives_username_and_tags() -> None:
    r = Request(
        Caller.from_arn(f"arn:aws:iam::{A}:user/dev/alice", tags={"Team": "blue"}), "kms:Decrypt"
    )
    assert r.get("aws:username") == ("alice",)
    assert r.get("aws:PrincipalTag/team") == ("blue",)
    assert r.get("aws:userid") is None  # unknown unless given: never invented


def test_explicit_context_wins_over_derived() -> None:
    r = Request(
        Caller.from_arn(f"arn:aws:iam::{A}:user/a"),
        "kms:Decrypt",
        context={"aws:PrincipalArn": "x"},
    )
    assert r.get("aws:principalarn") == ("x",)


def test_time_keys_from_request_time() -> None:
    r = Request(Caller.from_arn(A), "kms:Decrypt", time=datetime(2026, 1, 1))
    assert r.get("aws:CurrentTime") == (datetime(2026, 1, 1, tzinfo=UTC),)
    assert r.get("aws:EpochTime") == (1767225600,)
    assert Request(Caller.from_arn(A), "kms:Decrypt").get("aws:CurrentTime") is None


def test_encryption_context_keeps_key_case_and_derives_keys() -> None:
    r = Request(Caller.from_arn(A), "kms:Encrypt", context={"kms:EncryptionContext:Dept": "IT"})
    assert dict(r.encryption_context) == {"Dept": "IT"}
    assert r.get("kms:EncryptionContextKeys") == ("Dept",)
    assert r.get("kms:encryptioncontext:dept") == ("IT",)


def test_given_encryption_context_keys_win() -> None:
    r = Request(
        Caller.from_arn(A),
        "kms:Encrypt",
        context={"kms:EncryptionContext:a": "1", "kms:EncryptionContextKeys": ["z"]},
    )
    assert r.get("kms:EncryptionContextKeys") == ("z",)


def test_request_is_frozen() -> None:
    r = Request(Caller.from_arn(A), "kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/k")
    with pytest.raises(AttributeError):
        r.action = "kms:Decrypt"  # type: ignore[misc]
    assert r.resource_account == A
