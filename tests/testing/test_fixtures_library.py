"""The fixtures library: every policy has DSL and JSON twins that are the same AST, every key
policy lints without ERROR or SECURITY_WARNING, and every key policy has a suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmspolicy.authz.lint import PolicyType, fails, lint_policy
from kmspolicy.lang import load_policies

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
JSON = sorted(FIXTURES.glob("*.json"))
IDENTITY = ("-identity", "administrator-access")


def _type(path: Path) -> PolicyType:
    return PolicyType.IDENTITY if any(m in path.stem for m in IDENTITY) else PolicyType.KEY


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.stem)
def test_dsl_and_json_twins_are_the_same_ast(path: Path) -> None:
    twin = path.with_suffix(".kmsp")
    assert twin.is_file(), f"{path.name} has no DSL twin"
    assert load_policies(path) == load_policies(twin)


def test_every_dsl_fixture_has_a_json_twin() -> None:
    assert {p.stem for p in FIXTURES.glob("*.kmsp")} == {p.stem for p in JSON}


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.stem)
def test_fixture_lints_without_errors_or_security_warnings(path: Path) -> None:
    kind = _type(path)
    [policy] = load_policies(path, key_policy=kind is PolicyType.KEY)
    findings = lint_policy(policy, kind)
    assert not fails(findings), [f.render() for f in findings]


@pytest.mark.parametrize(
    "path", [p for p in JSON if _type(p) is PolicyType.KEY], ids=lambda p: p.stem
)
def test_every_key_policy_has_a_suite(path: Path) -> None:
    assert path.with_suffix(".kmstest.yaml").is_file()


def test_every_fixture_is_in_the_canonical_layout() -> None:
    """README shows `kmspolicy fmt --check` on a fixture: all of them stay fmt-clean."""
    from click.testing import CliRunner

    from kmspolicy.cli import cli

    result = CliRunner().invoke(cli, ["fmt", "--check", str(FIXTURES)])
    assert result.exit_code == 0, result.output


def test_the_fixtures_directory_lints_clean_each_policy_as_its_kind() -> None:
    """`kmspolicy lint fixtures/`: the suites say which files are identity policies (and their
    twins follow), so no identity policy is judged by the key-policy rules."""
    from click.testing import CliRunner

    from kmspolicy.cli import cli

    result = CliRunner().invoke(cli, ["lint", "--min-severity", "SECURITY_WARNING", str(FIXTURES)])
    assert result.exit_code == 0, result.output
