"""``kmspolicy simulate`` as a user runs it: files in, table or JSON out, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmspolicy.cli import cli

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/k1"
DSL_KP = f"""
policy "key-policy" version 2012-10-17
allow "EnableIAM"
  principal aws "arn:aws:iam::{A}:root"
  action kms:*
  resource *
deny "NoDelete"
  principal *
  action kms:ScheduleKeyDeletion
  resource *
"""
IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Use", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
}


def _files(tmp: Path) -> tuple[str, str]:
    (tmp / "kp.kmsp").write_text(DSL_KP)
    (tmp / "id.json").write_text(json.dumps(IDENTITY))
    return str(tmp / "kp.kmsp"), str(tmp / "id.json")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result.exit_code, result.output


def test_json_one_result_per_action(tmp_path: Path) -> None:
    kp, ident = _files(tmp_path)
    code, out = run(
        "--key-policy",
        kp,
        "--identity-policy",
        ident,
        "--principal",
        f"arn:aws:iam::{A}:user/a",
        "--action",
        "kms:Decrypt",
        "--action",
        "kms:ScheduleKeyDeletion",
        "--action",
        "kms:Encrypt",
        "--resource",
        KEY,
        "--format",
        "json",
    )
    assert code == 0
    results = json.loads(out)["results"]
    assert [r["decision"] for r in results] == ["allowed", "explicitDeny", "implicitDeny"]
    assert results[1]["matched_statements"][0]["sid"] == "NoDelete"
    assert results[1]["matched_statements"][0]["start_position"]["line"] == 7
    assert results[2]["nearest_miss"]["statement"]["sid"] == "Use"


def test_expect_mismatch_exits_1(tmp_path: Path) -> None:
    kp, _ = _files(tmp_path)
    code, _ = run(
        "--key-policy",
        kp,
        "--principal",
        f"arn:aws:iam::{A}:user/a",
        "--action",
        "kms:Decrypt",
        "--expect",
        "allowed",
    )
    assert code == 1
    code, _ = run(
        "--key-policy",
        kp,
        "--principal",
        f"arn:aws:iam::{A}:user/a",
        "--action",
        "kms:Decrypt",
        "--expect",
        "denied",
    )
    assert code == 0


def test_text_output_is_a_table(tmp_path: Path) -> None:
    kp, ident = _files(tmp_path)
    code, out = run(
        "--key-policy",
        kp,
        "--identity-policy",
        ident,
        "--principal",
        f"arn:aws:iam::{A}:user/a",
        "--action",
        "kms:Decrypt",
        "--resource",
        KEY,
    )
    assert code == 0
    assert "allowed" in out and "EnableIAM" in out and "Decision" in out


def test_policy_syntax_error_exits_2_with_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt",'
        ' "Resource": "*", "Condition": {"StringEquuals": {"a:b": "c"}}}]}'
    )
    code, out = run("--policy", str(bad), "--principal", A, "--action", "kms:Decrypt")
    assert code == 2
    assert "bad.json:1:" in out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    kp, ident = _files(tmp_path)
    assert run("--principal", "nobody", "--action", "kms:Decrypt", "--policy", ident)[0] == 2
    assert (
        run("--key-policy", kp, "--policy", ident, "--principal", A, "--action", "kms:Decrypt")[0]
        == 2
    )
    assert (
        run("--key-policy", str(tmp_path / "missing.json"), "--principal", A, "--action", "x:y")[0]
        == 2
    )
    assert run("--principal", A)[0] == 2  # --action is required
    assert (
        run("--policy", ident, "--principal", A, "--action", "kms:Decrypt", "--context", "novalue")[
            0
        ]
        == 2
    )
    assert (
        run("--policy", ident, "--principal", A, "--action", "kms:Decrypt", "--at", "yesterday")[0]
        == 2
    )


def test_organization_levels_and_grants(tmp_path: Path) -> None:
    kp, _ = _files(tmp_path)
    (tmp_path / "full.json").write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        )
    )
    org = {
        "scps": [
            ["full.json"],
            [
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ],
        ],
        "rcps": [],
    }
    (tmp_path / "org.json").write_text(json.dumps(org))
    (tmp_path / "grants.json").write_text(
        json.dumps([{"GranteePrincipal": f"arn:aws:iam::{A}:user/g", "Operations": ["Decrypt"]}])
    )
    base = [
        "--key-policy",
        kp,
        "--principal",
        f"arn:aws:iam::{A}:user/g",
        "--action",
        "kms:Decrypt",
        "--resource",
        KEY,
        "--grants",
        str(tmp_path / "grants.json"),
        "--format",
        "json",
    ]
    code, out = run(*base)
    assert code == 0 and json.loads(out)["results"][0]["decision"] == "allowed"
    code, out = run(*base, "--organization", str(tmp_path / "org.json"))
    result = json.loads(out)["results"][0]
    assert result["decision"] == "implicitDeny" and result["decided_by"] == "service-control-policy"


def test_grants_file_rejects_unknown_fields(tmp_path: Path) -> None:
    kp, _ = _files(tmp_path)
    (tmp_path / "grants.json").write_text(json.dumps([{"Grantee": "x", "Operations": ["Decrypt"]}]))
    code, out = run(
        "--key-policy",
        kp,
        "--principal",
        A,
        "--action",
        "kms:Decrypt",
        "--grants",
        str(tmp_path / "grants.json"),
    )
    assert code == 2 and "grants.json[0]" in out


def test_grants_file_rejects_unknown_grant_operations(tmp_path: Path) -> None:
    kp, _ = _files(tmp_path)
    grant = {"GranteePrincipal": A, "Operations": ["Decrypt", "Decrpyt"]}
    (tmp_path / "grants.json").write_text(json.dumps([grant]))
    code, out = run(
        "--key-policy",
        kp,
        "--principal",
        A,
        "--action",
        "kms:Decrypt",
        "--grants",
        str(tmp_path / "grants.json"),
    )
    assert code == 2
    assert "`Decrpyt` is not a grant operation; did you mean `Decrypt`?" in out


def test_context_flags_and_lists(tmp_path: Path) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:TagResource",
                "Resource": "*",
                "Condition": {
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
                    "Null": {"aws:TagKeys": "false"},
                },
            }
        ],
    }
    (tmp_path / "p.json").write_text(json.dumps(policy))
    base = [
        "--policy",
        str(tmp_path / "p.json"),
        "--principal",
        A,
        "--action",
        "kms:TagResource",
        "--format",
        "json",
    ]
    ok = json.loads(run(*base, "--context", "aws:TagKeys=a", "--context", "aws:TagKeys=b")[1])
    assert ok["results"][0]["decision"] == "allowed"
    bad = json.loads(run(*base, "--context", 'aws:TagKeys=["a","c"]')[1])
    assert bad["results"][0]["decision"] == "implicitDeny"


def test_service_grant_with_source_arn(tmp_path: Path) -> None:
    """A grant to a service principal with a SourceArn constraint allows that service only
    on behalf of that resource (issue 14 §3)."""
    kp, _ = _files(tmp_path)
    group = f"arn:aws:logs:us-east-1:{A}:log-group:app"
    grant = {
        "GranteeServicePrincipal": "logs.amazonaws.com",
        "RetiringServicePrincipal": "logs.amazonaws.com",
        "Operations": ["Decrypt"],
        "Constraints": {"SourceArn": group},
    }
    (tmp_path / "grants.json").write_text(json.dumps([grant]))
    base = [
        "--key-policy",
        kp,
        "--principal",
        "logs.amazonaws.com",
        "--action",
        "kms:Decrypt",
        "--resource",
        KEY,
        "--grants",
        str(tmp_path / "grants.json"),
        "--format",
        "json",
    ]
    decisions = {}
    for source in (group, f"arn:aws:logs:us-east-1:{A}:log-group:other"):
        code, out = run(*base, "--context", f"aws:SourceArn={source}")
        assert code == 0, out
        decisions[source] = json.loads(out)["results"][0]["decision"]
    assert list(decisions.values()) == ["allowed", "implicitDeny"]


B = "444455556666"


@pytest.mark.parametrize(
    ("principal", "action", "extra", "says"),
    [
        # a caller of another account cannot claim the key's account as its own
        (
            f"arn:aws:iam::{B}:user/x",
            "kms:Decrypt",
            ["--context", f"kms:CallerAccount={A}"],
            "derives it from the caller",
        ),
        # an anonymous caller has no organization
        ("*", "kms:Decrypt", ["--context", "aws:PrincipalOrgID=o-123"], "belongs to no account"),
        # one request has one pending window
        (
            f"arn:aws:iam::{A}:user/x",
            "kms:ScheduleKeyDeletion",
            ["--context", "kms:ScheduleKeyDeletionPendingWindowInDays=[5, 40]"],
            "single-valued key cannot hold 2 values",
        ),
        # the keys are those of the encryption context
        (
            f"arn:aws:iam::{A}:user/x",
            "kms:Encrypt",
            ["--context", "kms:EncryptionContext:a=1", "--context", "kms:EncryptionContextKeys=b"],
            "must list exactly the keys",
        ),
        # the key policy does not govern account-level actions
        (f"arn:aws:iam::{A}:user/x", "kms:ListAliases", [], "is not authorized on a key"),
        (f"arn:aws:iam::{A}:user/x", "kms:CreateKey", [], "AWS authorizes it on `*`"),
    ],
)
def test_requests_aws_could_never_receive_are_refused(
    tmp_path: Path, principal: str, action: str, extra: list[str], says: str
) -> None:
    kp, _ = _files(tmp_path)
    args = ["--key-policy", kp, "--principal", principal, "--action", action, "--resource", KEY]
    code, out = run(*args, *extra)
    assert code == 2 and says in out, out


def test_the_same_requests_made_possible_are_answered(tmp_path: Path) -> None:
    kp, _ = _files(tmp_path)
    for args in (
        ["--principal", f"arn:aws:iam::{A}:user/x", "--action", "kms:ListAliases"],
        [
            "--principal",
            f"arn:aws:iam::{A}:user/x",
            "--action",
            "kms:Encrypt",
            "--context",
            "kms:EncryptionContext:a=1",
            "--context",
            "kms:EncryptionContextKeys=a",
            "--key-policy",
            kp,
            "--resource",
            KEY,
        ],
    ):
        code, out = run(*args, "--resource", "*") if "--resource" not in args else run(*args)
        assert code == 0, out


def test_resource_account_makes_an_s3_request_cross_account_and_says_so(tmp_path: Path) -> None:
    bucket_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::data/*",
            }
        ],
    }
    (tmp_path / "bucket.json").write_text(json.dumps(bucket_policy))
    args = [
        "--resource-policy",
        str(tmp_path / "bucket.json"),
        "--principal",
        f"arn:aws:iam::{B}:user/x",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::data/a.txt",
    ]
    # without the owner the bucket is taken to be the caller's: its bucket policy suffices
    # (the account delegates to IAM); owned by A, the caller of B also needs an IAM allow
    code, out = run(*args)
    assert code == 0 and "same-account (the resource names no account" in out
    code, out = run(*args, "--resource-account", A, "--format", "json")
    assert json.loads(out)["results"][0]["decision"] == "implicitDeny"
    code, out = run(*args, "--resource-account", A)
    assert f"IAM general rules, cross-account (caller {B}, resource {A})" in out
    code, out = run(*args, "--resource-account", "12")
    assert code == 2 and "12-digit" in out


def test_text_output_names_the_kms_rules(tmp_path: Path) -> None:
    kp, ident = _files(tmp_path)
    code, out = run(
        "--key-policy",
        kp,
        "--identity-policy",
        ident,
        "--principal",
        f"arn:aws:iam::{B}:user/m",
        "--action",
        "kms:Decrypt",
        "--resource",
        KEY,
    )
    assert code == 0
    assert f"rules: KMS key-policy rules, cross-account (caller {B}, resource {A})" in out


NOTE = "(IAM: an inverted operator matches a policy variable with no value)"


@pytest.mark.parametrize(
    ("operator", "value", "principal", "noted"),
    [
        # a role session has no user name: the inverted operator matches, and says why
        ("StringNotEquals", "${aws:username}", f"arn:aws:sts::{A}:assumed-role/R/s", True),
        ("StringNotLike", "team-${aws:username}-*", f"arn:aws:sts::{A}:assumed-role/R/s", True),
        # an IAM user has one: the Deny applies by the values, nothing to explain
        ("StringNotEquals", "${aws:username}", f"arn:aws:iam::{A}:user/alice", False),
        # a default stands in for the missing value: the variable is not empty
        ("StringNotEquals", "${aws:username, 'x'}", f"arn:aws:sts::{A}:assumed-role/R/s", False),
    ],
)
def test_text_says_an_inverted_operator_matched_an_empty_variable(
    tmp_path: Path, operator: str, value: str, principal: str, noted: bool
) -> None:
    identity = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "All", "Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {
                "Sid": "OwnContext",
                "Effect": "Deny",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {operator: {"kms:EncryptionContext:user": value}},
            },
        ],
    }
    kp, _ = _files(tmp_path)
    (tmp_path / "deny.json").write_text(json.dumps(identity))
    args = (
        "--key-policy",
        kp,
        "--identity-policy",
        str(tmp_path / "deny.json"),
        "--principal",
        principal,
        "--action",
        "kms:Encrypt",
        "--context",
        "kms:EncryptionContext:user=bob",
    )
    code, out = run(*args)
    assert code == 0
    assert "explicitDeny" in out
    expected = f"OwnContext: ${{aws:username}} has no value, so {operator} "
    note = expected + f"kms:EncryptionContext:user matched {NOTE}"
    assert (note in out) is noted, out
    # the JSON output carries the same note, and the rules, with the result
    code, out = run(*args, "--format", "json")
    (result,) = json.loads(out)["results"]
    assert result["notes"] == ([note] if noted else []), result
    assert result["rules"].startswith("KMS key-policy rules")


def test_no_note_for_a_positive_operator_with_an_empty_variable(tmp_path: Path) -> None:
    identity = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Own",
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:user": "${aws:username}"}},
            }
        ],
    }
    kp, _ = _files(tmp_path)
    (tmp_path / "own.json").write_text(json.dumps(identity))
    code, out = run(
        "--key-policy",
        kp,
        "--identity-policy",
        str(tmp_path / "own.json"),
        "--principal",
        f"arn:aws:sts::{A}:assumed-role/R/s",
        "--action",
        "kms:Encrypt",
        "--context",
        "kms:EncryptionContext:user=bob",
    )
    assert code == 0
    assert "implicitDeny" in out and "aws:username" in out  # listed as missing
    assert NOTE not in out
