"""The runner and ``kmspolicy test``: fixtures pass with coverage, a broken fixture fails with an
explanation a reviewer understands, exit codes and CI formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmspolicy.cli import cli
from kmspolicy.testing.runner import run_paths
from kmspolicy.testing.suite import discover, load_suite

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
BROKEN = Path(__file__).resolve().parent / "suites" / "broken"


def test_every_fixture_suite_passes_with_full_statement_coverage() -> None:
    report = run_paths([FIXTURES])
    assert report.load_errors == []
    assert [r.id for r in report.failures] == []
    assert len(discover([FIXTURES])) >= 9
    assert report.coverage.percent >= 95.0
    # every key policy of the library is in play in some suite
    labels = {Path(label).name for label in report.coverage.policies}
    key_policies = {
        p.name
        for p in FIXTURES.glob("*.kmsp")
        if "identity" not in p.name and p.name != "administrator-access.kmsp"
    }
    json_twins_in_play = {
        p.with_suffix(".kmsp").name for p in FIXTURES.glob("*.json") if p.name in labels
    }
    assert key_policies <= labels | json_twins_in_play


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_broken_fixture_fails_with_an_explanation() -> None:
    report = run_paths([BROKEN])
    [failure] = report.failures
    assert failure.case.name == "administrators cannot decrypt"
    detail = failure.detail
    assert "request:  arn:aws:iam::111122223333:role/KeyAdmin kms:Decrypt on arn:aws:kms:" in detail
    assert "expected: explicitDeny" in detail
    assert "got:      allowed" in detail
    # the reviewer sees which statements let the administrator in, and where they are
    admin_line = _line_of(FIXTURES / "administrator-access.kmsp", 'allow "AdministratorAccess"')
    assert (
        f"Allow AdministratorAccess (identity-policy fixtures/administrator-access.kmsp:"
        f"{admin_line})"
    ) in detail
    assert "Allow Enable IAM User Permissions (key-policy " in detail
    assert str(failure.case.mark).endswith("separation-of-duties.kmstest.yaml:16:5")


def test_because_pins_the_deciding_statement(tmp_path: Path) -> None:
    suite = tmp_path / "b.kmstest.yaml"
    suite.write_text(f"""\
policies:
  key: {FIXTURES / "deny-deletion-break-glass.json"}
defaults:
  resource: arn:aws:kms:us-east-1:111122223333:key/k
cases:
  - name: admin denied, but for the reason we think?
    principal: arn:aws:iam::111122223333:role/KeyAdmin
    action: kms:ScheduleKeyDeletion
    expect: explicitDeny
    because: Deny break-glass deletion without MFA
""")
    [result] = run_paths([suite]).results
    assert not result.passed
    assert "expected the decision to rest on: Deny break-glass deletion without MFA" in (
        result.detail
    )


def test_denied_accepts_both_kinds_of_deny(tmp_path: Path) -> None:
    suite = tmp_path / "d.kmstest.yaml"
    suite.write_text(f"""\
policies:
  key: {FIXTURES / "deny-deletion-break-glass.json"}
defaults:
  resource: arn:aws:kms:us-east-1:111122223333:key/k
cases:
  - {{name: explicit, principal: arn:aws:iam::111122223333:role/KeyAdmin,
      action: kms:ScheduleKeyDeletion, expect: denied}}
  - {{name: implicit, principal: arn:aws:iam::111122223333:role/KeyAdmin,
      action: kms:Decrypt, expect: denied}}
""")
    report = run_paths([suite])
    assert [r.got for r in report.results] == ["explicitDeny", "implicitDeny"]
    assert report.ok


def test_invalid_principal_is_a_failed_case_not_a_crash(tmp_path: Path) -> None:
    suite = tmp_path / "p.kmstest.yaml"
    suite.write_text(f"""\
policies:
  key: {FIXTURES / "default-key-policy.json"}
cases:
  - {{name: bad arn, principal: not-an-arn, action: kms:Decrypt, resource: "*",
      expect: allowed}}
""")
    [result] = run_paths([suite]).results
    assert not result.passed and result.decision is None
    assert result.detail.startswith("the request could not be evaluated:")


# --- kmspolicy test --------------------------------------------------------------------------


def _test(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["test", *args])
    return result.exit_code, result.output


def test_cli_passes_on_fixtures_with_min_coverage() -> None:
    code, out = _test(str(FIXTURES), "--min-coverage", "95", "--coverage")
    assert code == 0, out
    assert "0 failed; statement coverage 100.0%" in out
    assert "statement coverage:" in out


def test_cli_fails_on_the_broken_fixture() -> None:
    code, out = _test(str(BROKEN))
    assert code == 1
    assert (
        "FAIL separation of duties (deny statement removed)::administrators cannot decrypt" in out
    )
    assert "got:      allowed" in out


def test_cli_min_coverage_fails_when_statements_are_never_exercised() -> None:
    code, out = _test(
        str(BROKEN / "separation-of-duties.kmstest.yaml"), "--min-coverage", "90", "--coverage"
    )
    assert code == 1
    assert "not exercised: Allow access for Key Administrators" in out
    assert "is below the required 90%" in out


def test_cli_json_report() -> None:
    code, out = _test(str(BROKEN), "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert document["summary"] == {"cases": 2, "passed": 1, "failed": 1, "load_errors": 0}
    failed = [r for r in document["results"] if not r["passed"]]
    assert failed[0]["expect"] == "explicitDeny" and failed[0]["got"] == "allowed"
    assert failed[0]["decision"]["matched_statements"]
    assert document["coverage"]["total"] == 5


def test_cli_junit_report() -> None:
    code, out = _test(str(BROKEN), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    [failure] = root.iter("failure")
    assert failure.get("message") == "expected explicitDeny, got allowed"
    assert "AdministratorAccess" in (failure.text or "")


def test_cli_unloadable_suite_exits_2(tmp_path: Path) -> None:
    (tmp_path / "x.kmstest.yaml").write_text("policies: {key: k.json}\ncases: nope\n")
    code, out = _test(str(tmp_path))
    assert code == 2
    assert "x.kmstest.yaml:2:1: cases: Input should be a valid list" in out


def test_cli_no_suites_is_a_usage_error(tmp_path: Path) -> None:
    code, out = _test(str(tmp_path))
    assert code == 2 and "no *.kmstest.yaml suites" in out


def test_suites_load_from_any_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # labels become absolute; policies still resolve next to the suite
    suite = load_suite(FIXTURES / "cross-account-sharing.kmstest.yaml")
    assert suite.key_policy is not None
    assert Path(suite.key_policy.label).is_absolute()


def test_scps_boundaries_and_session_policies_restrict(tmp_path: Path) -> None:
    suite = tmp_path / "org.kmstest.yaml"
    suite.write_text(f"""\
principals:
  dev: arn:aws:iam::111122223333:role/Dev
  dev-session: arn:aws:sts::111122223333:assumed-role/Dev/s1
policies:
  key: {FIXTURES / "default-key-policy.json"}
  identity:
    dev: {FIXTURES / "administrator-access.json"}
  scps:
    - {FIXTURES / "administrator-access.json"}
    - Version: "2012-10-17"
      Statement:
        - {{Sid: AllowAll, Effect: Allow, Action: "*", Resource: "*"}}
        - {{Sid: NoDeletion, Effect: Deny, Action: kms:ScheduleKeyDeletion, Resource: "*"}}
  boundaries:
    dev:
      Version: "2012-10-17"
      Statement: [{{Sid: KmsCrypto, Effect: Allow, Action: [kms:Decrypt, kms:Encrypt,
                   kms:ScheduleKeyDeletion], Resource: "*"}}]
  sessions:
    dev-session:
      Version: "2012-10-17"
      Statement: [{{Sid: DecryptOnly, Effect: Allow, Action: kms:Decrypt, Resource: "*"}}]
defaults:
  resource: arn:aws:kms:us-east-1:111122223333:key/k
tables:
  - name: limits
    actions: [kms:Decrypt, kms:Encrypt, kms:DescribeKey, kms:ScheduleKeyDeletion]
    expect:
      dev:         [allowed, allowed,      implicitDeny, explicitDeny]
      dev-session: [allowed, implicitDeny, implicitDeny, explicitDeny]
cases:
  - name: the SCP deny decides
    principal: dev
    action: kms:ScheduleKeyDeletion
    expect: explicitDeny
    because: NoDeletion
""")
    report = run_paths([suite])
    assert [(r.case.name, r.got) for r in report.failures] == []
    assert len(report.results) == 9


def test_case_time_is_the_request_time(tmp_path: Path) -> None:
    suite = tmp_path / "t.kmstest.yaml"
    suite.write_text("""\
policies:
  key:
    Version: "2012-10-17"
    Statement:
      - Sid: UntilEndOfMarch
        Effect: Allow
        Principal: {AWS: arn:aws:iam::111122223333:role/Temp}
        Action: kms:Decrypt
        Resource: "*"
        Condition: {DateLessThan: {aws:CurrentTime: "2026-04-01T00:00:00Z"}}
defaults:
  principal: arn:aws:iam::111122223333:role/Temp
  resource: arn:aws:kms:us-east-1:111122223333:key/k
  time: 2026-03-31T23:59:59Z
cases:
  - {name: before, action: kms:Decrypt, expect: allowed, because: UntilEndOfMarch}
  - {name: after, action: kms:Decrypt, time: 2026-04-01T00:00:01Z, expect: implicitDeny}
""")
    report = run_paths([suite])
    assert [r.got for r in report.results] == ["allowed", "implicitDeny"]
    assert report.ok
