"""``kmspolicy check`` as a user runs it: exit 0 PASS, 1 FAIL, 2 bad input, 3 UNKNOWN; the JSON
document of the contract; text with the deciding statements shown in their source."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kmspolicy.cli import cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEFAULT = str(FIXTURES / "default-key-policy.json")
SHARING = str(FIXTURES / "cross-account-sharing.kmsp")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.output


def test_no_new_access_fail_exits_1_with_a_counterexample_and_the_statement() -> None:
    code, out = run("no-new-access", "--existing", DEFAULT, "--new", SHARING)
    assert code == 1, out
    assert out.startswith("FAIL  no-new-access (key policy)")
    # Any principal of the partner account is a counterexample (its root, a user, an assumed
    # role): which one the solver returns is not fixed, so only its account is pinned.
    principal = next(
        line.split()[1] for line in out.splitlines() if line.strip().startswith("principal ")
    )
    assert principal.split(":")[4] == "444455556666", out
    assert "cross-account-sharing.kmsp:" in out and "^" in out  # the statement, with a caret


def test_no_new_access_pass_exits_0() -> None:
    code, out = run("no-new-access", "--existing", SHARING, "--new", DEFAULT)
    assert code == 0, out
    assert out.startswith("PASS")


def test_json_document_has_the_contract_fields() -> None:
    code, out = run("no-public-access", SHARING, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"result", "reasons", "counterexample", "statements"}
    assert doc["result"] == "FAIL"
    example = doc["counterexample"]
    assert set(example) >= {"principal", "action", "resource", "context", "identity"}
    assert example["identity"] in ("none", "allow-all")
    assert example["principal"].split(":")[4] == "444455556666"
    assert all({"source", "line", "column"} <= set(s) for s in doc["statements"])


def test_equivalent_dsl_and_json_faces_pass() -> None:
    code, out = run("equivalent", SHARING, SHARING.replace(".kmsp", ".json"), "--format", "json")
    assert code == 0
    assert json.loads(out)["counterexample"] is None


def test_access_not_granted_with_actions_and_resources() -> None:
    code, _ = run(
        "access-not-granted",
        str(FIXTURES / "deny-deletion-break-glass.kmsp"),
        "--action",
        "kms:ScheduleKeyDeletion",
        "--account",
        "111122223333",
    )
    assert code == 1  # the BreakGlass role may, with MFA
    code, out = run(
        "access-not-granted",
        str(FIXTURES / "aws-managed-key.kmsp"),
        "--action",
        "kms:PutKeyPolicy",
        "--action",
        "kms:ScheduleKeyDeletion",
    )
    assert code == 0, out


def test_unmodelled_construct_exits_3(tmp_path: Path) -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"BinaryEquals": {"aws:SourceVpce": "AAAA"}},
            }
        ],
    }
    path = tmp_path / "binary.json"
    path.write_text(json.dumps(doc))
    code, out = run("equivalent", str(path), DEFAULT)
    assert code == 3
    assert out.startswith("UNKNOWN") and "BinaryEquals" in out


def test_a_policy_with_a_syntax_error_exits_2_with_a_positioned_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resourc": "*"}]}')
    result = CliRunner().invoke(cli, ["check", "equivalent", str(path), DEFAULT])
    assert result.exit_code == 2
    assert f"{path}:1:" in result.output and "^" in result.output


def test_bad_account_and_missing_file_exit_2(tmp_path: Path) -> None:
    code, out = run("no-public-access", DEFAULT, "--account", "12")
    assert code == 2 and "12-digit" in out
    code, _ = run("equivalent", str(tmp_path / "missing.json"), DEFAULT)
    assert code == 2


def test_no_public_access_rejects_identity_policies() -> None:
    code, _ = run("no-public-access", DEFAULT, "--policy-type", "identity")
    assert code == 2
