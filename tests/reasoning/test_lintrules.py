"""Solver-backed lint rules: conditions that never hold, Allows a Deny always covers — through
the Python API and ``kmspolicy lint`` (``--no-solver`` turns them off)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kmspolicy.cli import cli
from kmspolicy.lang import read_policies
from kmspolicy.reasoning.lintrules import solver_findings

A = "111122223333"
ENABLE_IAM = {
    "Sid": "EnableIAM",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [ENABLE_IAM, *statements]})


def codes(text: str) -> list[str]:
    [policy] = read_policies(text, "<test>", key_policy=True)
    return [f.code for f in solver_findings(policy, "key")]


CONTRADICTION = {
    "Sid": "Never",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{A}:role/App"},
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        "StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
    },
}


def test_contradicting_conditions_never_hold() -> None:
    assert codes(doc(CONTRADICTION)) == ["CONDITIONS_NEVER_HOLD"]


def test_a_pair_without_its_key_is_no_real_request() -> None:
    impossible = {
        **CONTRADICTION,
        "Condition": {
            "StringEquals": {"kms:EncryptionContext:app": "payroll"},
            "Null": {"kms:EncryptionContextKeys": "true"},
        },
    }
    assert codes(doc(impossible)) == ["CONDITIONS_NEVER_HOLD"]


def test_an_allow_that_a_deny_always_covers_is_shadowed() -> None:
    allow = {**CONTRADICTION, "Sid": "Use", "Condition": {}}
    allow.pop("Condition")
    deny = {
        "Sid": "NoDecrypt",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    assert codes(doc(allow, deny)) == ["ALLOW_SHADOWED_BY_DENY"]


def test_a_sound_policy_has_no_solver_findings() -> None:
    narrowed = {**CONTRADICTION, "Condition": {"StringEquals": {"kms:ViaService": "s3.x"}}}
    assert codes(doc(narrowed)) == []


def test_the_cli_reports_them_unless_no_solver(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(doc(CONTRADICTION))
    result = CliRunner().invoke(cli, ["lint", str(path)])
    assert "CONDITIONS_NEVER_HOLD" in result.output
    assert "statement `Never`" in result.output
    result = CliRunner().invoke(cli, ["lint", "--no-solver", str(path)])
    assert "CONDITIONS_NEVER_HOLD" not in result.output


DENY_OTHER_ACCOUNT = {
    "Sid": "NoOutsiders",
    "Effect": "Deny",
    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
    "Action": "kms:*",
    "Resource": "*",
    # the principal is this account's: its callers are never of account 444455556666
    "Condition": {"StringEquals": {"aws:PrincipalAccount": "444455556666"}},
}


def test_a_deny_whose_conditions_never_hold_denies_nothing() -> None:
    # a Deny gets DENY_NEVER_MATCHES (a missing protection), not CONDITIONS_NEVER_HOLD
    assert codes(doc(DENY_OTHER_ACCOUNT)) == ["DENY_NEVER_MATCHES"]
    [policy] = read_policies(doc(DENY_OTHER_ACCOUNT), "<test>", key_policy=True)
    [finding] = solver_findings(policy, "key")
    assert "conditions never hold" in finding.message
    assert finding.severity.value == "SECURITY_WARNING"


def test_a_deny_of_an_action_no_key_policy_governs_matches_nothing() -> None:
    deny = {
        "Sid": "NoNewKeys",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:CreateKey",
        "Resource": "*",
    }
    [policy] = read_policies(doc(deny), "<test>", key_policy=True)
    [finding] = solver_findings(policy, "key")
    assert finding.code == "DENY_NEVER_MATCHES"
    assert "Action, Principal and Resource" in finding.message
    # the same Deny in an identity policy (IAM governs CreateKey) matches requests
    assert solver_findings(policy, "identity") == []


def test_a_deny_that_matches_some_request_is_no_finding() -> None:
    working = {**DENY_OTHER_ACCOUNT, "Principal": "*"}
    assert codes(doc(working)) == []


def test_lint_fails_on_it_and_explains_it(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(doc(DENY_OTHER_ACCOUNT))
    result = CliRunner().invoke(cli, ["lint", str(path)])
    assert result.exit_code == 1, result.output
    assert "DENY_NEVER_MATCHES" in result.output and "`NoOutsiders`" in result.output
    explained = CliRunner().invoke(cli, ["lint", "--explain", "DENY_NEVER_MATCHES"])
    assert explained.exit_code == 0
    assert "denies nothing" in explained.output
