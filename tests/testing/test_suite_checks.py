"""``checks:`` in a compliance suite: properties of the key policy proved by ``kmspolicy check``,
reported beside the cases (text, JSON, exit status), with positioned errors for bad entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmspolicy.cli import cli
from kmspolicy.errors import ConfigError
from kmspolicy.testing.runner import run_paths
from kmspolicy.testing.suite import load_suite

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _suite(tmp_path: Path, checks: str, key: str = "cross-account-sharing.json") -> Path:
    path = tmp_path / "c.kmstest.yaml"
    path.write_text(f"policies:\n  key: {FIXTURES / key}\nchecks:\n{checks}")
    return path


def test_shorthand_and_full_entries_run_and_pass(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """\
  - no-public-access: FAIL
  - name: the partner never manages the key
    check: no-new-access
    other: default-key-policy.kmsp
    expect: FAIL
  - check: access-not-granted
    actions: [kms:PutKeyPolicy]
    account: "444455556666"
    expect: PASS
""",
    )
    (tmp_path / "default-key-policy.kmsp").write_text(
        (FIXTURES / "default-key-policy.kmsp").read_text()
    )
    report = run_paths([path])
    assert [(r.case.name, r.got, r.passed) for r in report.results] == [
        ("check no-public-access", "FAIL", True),
        ("the partner never manages the key", "FAIL", True),
        ("check access-not-granted", "PASS", True),
    ]


def test_a_check_that_does_not_hold_fails_with_the_counterexample(tmp_path: Path) -> None:
    path = _suite(tmp_path, "  - no-public-access: PASS\n")
    [result] = run_paths([path]).results
    assert not result.passed
    assert "expected: PASS" in result.detail and "got:      FAIL" in result.detail
    [line] = [x for x in result.detail.splitlines() if x.startswith("counterexample: ")]
    assert ":444455556666:" in line.split()[1]  # a caller of the partner account
    assert "decided by Allow the partner account" in result.detail


def test_the_cli_reports_checks_in_json_and_exits_1_on_a_failed_check(tmp_path: Path) -> None:
    path = _suite(tmp_path, "  - no-public-access: PASS\n")
    result = CliRunner().invoke(cli, ["test", str(path), "--format", "json"])
    assert result.exit_code == 1
    [entry] = json.loads(result.output)["results"]
    assert entry["check"] == "no-public-access" and entry["got"] == "FAIL"
    assert entry["expect"] == "PASS" and not entry["passed"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - check: access-not-granted\n    expect: PASS\n", "needs `actions`"),
        ("  - check: equivalent\n    expect: PASS\n", "needs `other`"),
        ("  - no-public-acess: PASS\n", "checks.0"),
        ("  - check: no-public-access\n    expect: MAYBE\n", "checks.0.expect"),
    ],
)
def test_bad_entries_are_positioned_errors(tmp_path: Path, entry: str, message: str) -> None:
    path = _suite(tmp_path, entry)
    with pytest.raises(ConfigError) as caught:
        load_suite(path)
    assert message in str(caught.value)
    assert "c.kmstest.yaml:" in str(caught.value)


def test_fixture_suites_state_checks() -> None:
    suites = [load_suite(p) for p in sorted(FIXTURES.glob("*.kmstest.yaml"))]
    assert sum(len(s.checks) for s in suites) >= 5
