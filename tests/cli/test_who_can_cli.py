"""``kmspolicy who-can`` as a user runs it: the server's identities file, a table, JSON, and one
self-contained HTML page; exit 2 for bad input, 3 when a cell is unknown."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from kmspolicy.cli import cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EC = str(FIXTURES / "encryption-context-enforcement.json")
A, B = "111122223333", "444455556666"

IDENTITIES = f"""\
account: "{A}"
region: eu-west-1
identities:
  - arn: arn:aws:iam::{A}:user/alice
    access_key_id: AKIAALICEEXAMPLE0001
    secret_access_key: alice-secret
    policies:
      - Version: "2012-10-17"
        Statement: [{{Effect: Allow, Action: "kms:*", Resource: "*"}}]
  - arn: arn:aws:iam::{A}:role/Payroll
    access_key_id: AKIAPAYROLLEXAMPLE01
    secret_access_key: payroll-secret
  - arn: arn:aws:iam::{B}:user/bob
    access_key_id: AKIABOBEXAMPLE000001
    secret_access_key: bob-secret
"""


def run(tmp_path: Path, *args: str, identities: str = IDENTITIES) -> tuple[int, str]:
    ids = tmp_path / "ids.yaml"
    ids.write_text(identities, encoding="utf-8")
    result = CliRunner().invoke(cli, ["who-can", *args, "--identities", str(ids)])
    return result.exit_code, result.output


def test_json_matrix_for_the_file_s_identities(tmp_path: Path) -> None:
    code, out = run(
        tmp_path, EC, "--action", "Decrypt", "--action", "kms:PutKeyPolicy", "--format", "json"
    )
    assert code == 0, out
    doc = json.loads(out)
    # the key: in the account the policy makes certain, in the file's region
    assert doc["key"].startswith(f"arn:aws:kms:eu-west-1:{A}:key/")
    assert doc["principals"] == [
        f"arn:aws:iam::{A}:user/alice",
        f"arn:aws:iam::{A}:role/Payroll",
        f"arn:aws:iam::{B}:user/bob",
    ]
    cells = {(c["principal"].rsplit("/", 1)[-1], c["action"]): c for c in doc["cells"]}
    payroll = cells[("Payroll", "kms:Decrypt")]
    assert payroll["access"] == "allowed-only-if"
    assert payroll["condition"] == 'StringEquals kms:EncryptionContext:app "payroll"'
    assert payroll["when"][0][0]["key"] == "kms:EncryptionContext:app"
    assert payroll["example"]["kms:EncryptionContext:app"] == "payroll"
    assert payroll["statements"][0]["line"] == 14  # the statement's `{` in the canonical layout
    assert cells[("alice", "kms:PutKeyPolicy")]["access"] == "allowed"
    assert cells[("Payroll", "kms:PutKeyPolicy")]["access"] == "denied"
    assert cells[("bob", "kms:Decrypt")]["access"] == "denied"


def test_text_table_names_every_identity_and_the_condition(tmp_path: Path) -> None:
    code, out = run(
        tmp_path, EC, "--action", "Decrypt", "--principal", f"arn:aws:iam::{A}:role/Payroll"
    )
    assert code == 0, out
    assert f"arn:aws:iam::{A}:role/Payroll" in out and "alice" not in out
    assert 'if StringEquals kms:EncryptionContext:app "payroll"' in out


def test_html_is_one_self_contained_page_with_hover_statements(tmp_path: Path) -> None:
    code, out = run(tmp_path, EC, "--format", "html")
    assert code == 0, out
    assert out.startswith("<!doctype html>") and out.rstrip().endswith("</html>")
    # nothing fetched: no script, stylesheet link, image, frame or URL
    for banned in ("<script", "<link", "<img", "<iframe", "src=", "http://", "https://", "url("):
        assert banned not in out.lower()
    assert 'class="allowed-only-if"' in out and 'class="denied"' in out
    titles = re.findall(r'title="([^"]*)"', out)
    assert any("Allow payroll to use the key for payroll data" in t for t in titles)
    assert out.count("<tr>") == 1 + out.count('<th scope="row">')


def test_bad_input_exits_2(tmp_path: Path) -> None:
    code, out = run(tmp_path, EC, "--action", "kms:CreateKey")
    assert code == 2 and "not a KMS action on a key" in out
    code, out = run(tmp_path, EC, "--principal", "not-an-arn")
    assert code == 2 and "not-an-arn" in out
    code, out = run(tmp_path, EC, "--account", "12")
    assert code == 2 and "12-digit" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",}]}')
    code, out = run(tmp_path, str(bad))
    assert code == 2 and "bad.json:1:" in out


def test_unknown_cells_exit_3(tmp_path: Path) -> None:
    policy = tmp_path / "binary.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                        "Condition": {"BinaryEquals": {"kms:RecipientAttestation:PCR0": "AA=="}},
                    }
                ],
            }
        )
    )
    code, out = run(tmp_path, str(policy), "--action", "Decrypt")
    assert code == 3, out
    assert "BinaryEquals" in out


def test_key_context_fixes_the_key_s_properties(tmp_path: Path) -> None:
    policy = tmp_path / "key.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{A}:role/Payroll"},
                        "Action": "kms:Decrypt",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}},
                    }
                ],
            }
        )
    )
    args = (str(policy), "--action", "Decrypt", "--account", A, "--format", "json")
    code, out = run(tmp_path, *args)
    assert code == 0, out
    cells = {c["principal"]: c for c in json.loads(out)["cells"]}
    role = f"arn:aws:iam::{A}:role/Payroll"
    assert cells[role]["condition"] == 'StringEquals aws:ResourceTag/team "blue"'
    code, out = run(tmp_path, *args, "--key-context", "aws:ResourceTag/team=blue")
    assert json.loads(out)["cells"][1]["access"] == "allowed"
    code, out = run(tmp_path, *args, "--key-context", "kms:KeySpec=SYMMETRIC_DEFAULT")
    assert json.loads(out)["cells"][1]["access"] == "denied"  # the key has no such tag
    code, out = run(tmp_path, *args, "--key-context", "team")
    assert code == 2 and "KEY=VALUE" in out


def test_a_caller_s_variable_past_the_evaluator_s_limit_is_denied_not_a_traceback(
    tmp_path: Path,
) -> None:
    # a principal tag of 9,000 characters substituted into a Resource: the evaluator denies
    # every such request (authz.limits); who-can must say so, not crash
    alice = "secret_access_key: alice-secret\n"
    tagged = IDENTITIES.replace(alice, f'{alice}    tags: {{team: "{"x" * 9000}"}}\n')
    policy = tmp_path / "key.json"
    root = {"AWS": f"arn:aws:iam::{A}:root"}
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": root, "Action": "kms:*", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "kms:Decrypt",
                        "Resource": "arn:aws:kms:*:*:key/${aws:PrincipalTag/team}",
                    },
                ],
            }
        )
    )
    args = (str(policy), "--principal", f"arn:aws:iam::{A}:user/alice", "--format", "json")
    code, out = run(
        tmp_path, *args, "--action", "Decrypt", "--action", "Encrypt", identities=tagged
    )
    assert code == 0, out
    cells = {c["action"]: c for c in json.loads(out)["cells"]}
    assert cells["kms:Decrypt"]["access"] == "denied"
    assert "went past the evaluator's limit" in cells["kms:Decrypt"]["reason"]
    assert cells["kms:Encrypt"]["access"] == "allowed"  # the Deny's Action does not match
    # the same variable in a condition: the solver's allowed request (the context equal to the
    # tag) is denied by the evaluator; the cell is unknown and says why
    statements = json.loads(policy.read_text())["Statement"]
    statements[1]["Resource"] = "*"
    statements[1]["Condition"] = {
        "StringNotEquals": {"kms:EncryptionContext:team": "${aws:PrincipalTag/team}"}
    }
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    code, out = run(tmp_path, *args, "--action", "Decrypt", identities=tagged)
    assert code == 3, out
    (cell,) = json.loads(out)["cells"]
    assert cell["access"] == "unknown" and "went past the evaluator's limit" in cell["reason"]
