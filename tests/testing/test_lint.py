"""``kmspolicy lint``: rule contracts, the CLI (exit codes, text/json/sarif), docs anchors, and a
property: lint never raises and only reports documented codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.authz.lint import CODES, LintSeverity, PolicyType, lint_policy, lint_text
from kmspolicy.authz.lint.catalog import KMS_ACTIONS, key_applies_to, kms_actions_matching
from kmspolicy.cli import cli
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
    Statement,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "lint"
DOCS = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8")


def _codes(findings: list) -> set[str]:
    return {f.code for f in findings}


# --- catalog ---------------------------------------------------------------------------------


def test_action_wildcards_match_case_insensitively() -> None:
    assert kms_actions_matching("kms:ReEncrypt*") == {"ReEncryptFrom", "ReEncryptTo"}
    assert kms_actions_matching("KMS:decrypt") == {"Decrypt"}
    assert kms_actions_matching("kms:Generate?ac") == {"GenerateMac"}
    assert kms_actions_matching("*") == set(KMS_ACTIONS)
    assert kms_actions_matching("s3:GetObject") == frozenset()


def test_condition_key_applicability_follows_the_authorization_reference() -> None:
    assert key_applies_to("kms:GrantIsForAWSResource") == {
        "CreateGrant",
        "ListGrants",
        "RevokeGrant",
    }
    assert "Decrypt" in (key_applies_to("kms:EncryptionContext:Tenant") or set())
    assert "DescribeKey" not in (key_applies_to("kms:EncryptionContextKeys") or set())
    assert "ListKeys" not in (key_applies_to("kms:ViaService") or set())
    assert key_applies_to("aws:SourceIp") is None  # global keys apply everywhere


# --- rules -----------------------------------------------------------------------------------


def _stmt(**kw: object) -> Statement:
    base: dict[str, object] = dict(
        effect=Effect.ALLOW,
        sid="S",
        principals=(Principal(PrincipalKind.AWS, "arn:aws:iam::111122223333:root"),),
        actions=(Action("kms:*"),),
        resources=(Resource("*"),),
    )
    base.update(kw)
    return Statement(**base)  # type: ignore[arg-type]


def test_default_key_policy_is_clean() -> None:
    policy = Policy((_stmt(),), version="2012-10-17")
    assert lint_policy(policy) == []


def test_public_statement_scoped_by_caller_account_is_not_public() -> None:
    public = _stmt(
        sid="P", principals=(Principal(PrincipalKind.ANY, "*"),), actions=(Action("kms:Decrypt"),)
    )
    scoped = _stmt(
        sid="P",
        principals=(Principal(PrincipalKind.ANY, "*"),),
        actions=(Action("kms:Decrypt"),),
        conditions=(
            Condition(
                ConditionOperator.STRING_EQUALS,
                "kms:CallerAccount",
                (ConditionValue("111122223333"),),
            ),
        ),
    )
    assert "PUBLIC_ACCESS" in _codes(lint_policy(Policy((_stmt(), public), "2012-10-17")))
    assert "PUBLIC_ACCESS" not in _codes(lint_policy(Policy((_stmt(), scoped), "2012-10-17")))


def test_cross_account_decrypt_uses_the_given_owner_account() -> None:
    partner = _stmt(
        sid="Partner",
        actions=(Action("kms:Decrypt"),),
        principals=(Principal(PrincipalKind.AWS, "444455556666"),),
    )
    policy = Policy((_stmt(), partner), "2012-10-17")
    assert "CROSS_ACCOUNT_DECRYPT" in _codes(lint_policy(policy, account="111122223333"))
    # seen from the partner's side, the root statement is the foreign one and grants kms:*
    findings = lint_policy(policy, account="444455556666")
    assert [f.message for f in findings if f.code == "CROSS_ACCOUNT_DECRYPT"] == [
        "statement `S` lets account(s) 111122223333 use `kms:Decrypt` with no "
        "encryption-context or `kms:ViaService` condition"
    ]


def test_identity_policy_errors_use_iam_wording() -> None:
    text = '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}]}'
    messages = {f.message for f in lint_text(text, "p.json", PolicyType.IDENTITY)}
    assert {
        "Policy document must be version 2012-10-17 or greater.",
        "Policy document should not specify a principal.",
        "Policy statement must contain resources.",
    } <= messages


def test_key_policy_accepts_what_iam_rejects() -> None:
    text = (
        '{"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", '
        '"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, '
        '"Action": "kms:*", "Resource": "*"}]}'
    )
    assert lint_text(text, "k.json", "key") == []
    assert _codes(lint_text(text, "k.json", "identity")) == {"INVALID_SID", "PRINCIPAL_NOT_ALLOWED"}


def test_syntax_errors_become_error_findings_with_positions() -> None:
    findings = lint_text('{"Version": "2012-10-17", "Statement": [}', "bad.json")
    assert findings and findings[0].severity is LintSeverity.ERROR
    assert findings[0].code == "SYNTAX_ERROR" and findings[0].span is not None


# --- docs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_has_an_anchored_section(code: str) -> None:
    anchor = code.lower().replace("_", "-")
    assert f'<a id="{anchor}"></a>\n### {code}\n' in DOCS


def test_docs_document_no_unknown_codes() -> None:
    assert set(re.findall(r"^### ([A-Z_]+)$", DOCS, re.MULTILINE)) == set(CODES)


# --- CLI -------------------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.output


def test_cli_exit_1_on_security_warning_with_position_and_anchor() -> None:
    path = CORPUS / "key-public-kms-all.json"
    code, out = _run(str(path))
    assert code == 1
    assert f"{path}:13:5: SECURITY_WARNING PUBLIC_ACCESS:" in out
    assert "see: docs/lint.md#public-access" in out
    assert "13 |     {\n   |     ^\n" in out  # the source line with a caret


def test_cli_exit_0_on_warnings_only() -> None:
    code, out = _run(str(CORPUS / "key-unknown-action.json"))
    assert code == 0 and "WARNING UNKNOWN_ACTION" in out


def test_cli_policy_type_changes_validity() -> None:
    path = str(CORPUS / "identity-good-abac.json")
    assert _run("--policy-type", "identity", path)[0] == 0
    code, out = _run("--policy-type", "key", path)
    assert code == 1 and "MISSING_PRINCIPAL" in out


def test_cli_json_format() -> None:
    code, out = _run("--format", "json", str(CORPUS / "key-no-root.json"))
    assert code == 1
    findings = json.loads(out)
    # the role's account may not be the key's: the cross-account rules could not run
    assert [f["code"] for f in findings] == ["IAM_DISABLED", "ACCOUNT_UNKNOWN"]
    finding = findings[0]
    assert finding["code"] == "IAM_DISABLED" and finding["severity"] == "SECURITY_WARNING"
    assert finding["doc"] == "docs/lint.md#iam-disabled" and finding["line"] == 1


def test_cli_sarif_is_sarif_2_1_0() -> None:
    paths = [str(CORPUS / n) for n in ("key-public-kms-all.json", "key-redundant-action.json")]
    code, out = _run("--format", "sarif", *paths)
    assert code == 1
    log = json.loads(out)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == set(CODES)
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {
        "PUBLIC_ACCESS": "error",
        "REDUNDANT_STATEMENT": "warning",
        "REDUNDANT_ACTION": "note",
    }
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].endswith(".json")
        assert location["region"]["startLine"] >= 1 and location["region"]["startColumn"] >= 1


def test_cli_min_severity_hides_suggestions() -> None:
    path = str(CORPUS / "key-redundant-action.json")
    assert "REDUNDANT_ACTION" in _run(path)[1]
    assert "REDUNDANT_ACTION" not in _run("--min-severity", "warning", path)[1]


# --- property --------------------------------------------------------------------------------

_actions = st.sampled_from(
    [
        "kms:*",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:Get*",
        "s3:GetObject",
        "kms:CreateKey",
        "*",
        "kms:Nope",
    ]
)
_principals = st.sampled_from(
    [
        Principal(PrincipalKind.ANY, "*"),
        Principal(PrincipalKind.AWS, "444455556666"),
        Principal(PrincipalKind.AWS, "arn:aws:iam::111122223333:root"),
        Principal(PrincipalKind.AWS, "arn:aws:iam::111122223333:role/App"),
    ]
)
_conditions = st.builds(
    Condition,
    operator=st.sampled_from(list(ConditionOperator)),
    key=st.sampled_from(
        [
            "kms:ViaService",
            "kms:EncryptionContextKeys",
            "aws:SourceIp",
            "kms:EncryptionContext:App",
            "kms:GrantIsForAWSResource",
            "aws:ResourceTag/team",
        ]
    ),
    values=st.lists(
        st.builds(ConditionValue, st.sampled_from(["x", "true", "10", "10.0.0.0/8", "2026-01-01"])),
        min_size=1,
        max_size=2,
    ).map(tuple),
)
_statements = st.builds(
    Statement,
    effect=st.sampled_from(list(Effect)),
    actions=st.lists(st.builds(Action, _actions), min_size=1, max_size=3).map(tuple),
    sid=st.one_of(st.none(), st.sampled_from(["A", "B", "with space"])),
    principals=st.one_of(st.none(), st.lists(_principals, min_size=1, max_size=2).map(tuple)),
    not_principal=st.booleans(),
    not_action=st.booleans(),
    resources=st.one_of(st.none(), st.just((Resource("*"),))),
    conditions=st.lists(_conditions, max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(
    statements=st.lists(_statements, min_size=1, max_size=4),
    version=st.sampled_from([None, "2008-10-17", "2012-10-17"]),
    policy_type=st.sampled_from(list(PolicyType)),
)
def test_lint_never_raises_and_reports_only_documented_codes(
    statements: list[Statement], version: str | None, policy_type: PolicyType
) -> None:
    findings = lint_policy(Policy(tuple(statements), version), policy_type)
    for finding in findings:
        assert finding.code in CODES
        assert finding.severity.rank >= CODES[finding.code][0].rank


ROLE_ADMIN_AND_PARTNER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "KeyAdmin",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    ],
}


def test_lint_never_says_clean_when_the_account_rules_did_not_run(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(ROLE_ADMIN_AND_PARTNER))
    code, out = _run(str(path))
    assert code == 0
    assert "no findings" not in out
    assert "ACCOUNT_UNKNOWN" in out and "--account" in out
    assert "IAM_DISABLED, CROSS_ACCOUNT_DECRYPT, CROSS_ACCOUNT_UNSUPPORTED did not run" in out
    code, out = _run("--account", "111122223333", str(path))
    assert code == 1
    assert "IAM_DISABLED" in out and "CROSS_ACCOUNT_DECRYPT" in out
    assert "ACCOUNT_UNKNOWN" not in out


def test_the_default_statement_makes_the_account_certain(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(ROLE_ADMIN_AND_PARTNER))
    doc["Statement"].insert(
        0,
        {
            "Sid": "EnableIAM",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
    )
    path = tmp_path / "key.json"
    path.write_text(json.dumps(doc))
    code, out = _run(str(path))
    assert code == 1
    assert "CROSS_ACCOUNT_DECRYPT" in out and "ACCOUNT_UNKNOWN" not in out
