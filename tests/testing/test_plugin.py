"""The pytest plugin, run as users run it (``pytest`` in a subprocess): suites become one item
per case, failures and malformed suites are reported readably, and loading the plugin imports
nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kmspolicy.testing.suite import discover, load_suite

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
BROKEN = Path(__file__).resolve().parent / "suites" / "broken"


def _pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pytest_collects_one_item_per_case_and_check_of_the_fixture_suites() -> None:
    suites = [load_suite(p) for p in discover([FIXTURES])]
    expected = sum(len(s.cases) + len(s.checks) for s in suites)
    run = _pytest(str(FIXTURES), "--collect-only", "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    items = [line for line in run.stdout.splitlines() if ".kmstest.yaml::" in line]
    assert len(items) == expected
    assert "fixtures/separation-of-duties.kmstest.yaml::duties: admin × kms:Decrypt" in items
    assert "fixtures/default-key-policy.kmstest.yaml::check no-public-access" in items


def test_pytest_reports_the_broken_fixture_with_its_explanation() -> None:
    run = _pytest(str(BROKEN), "-q")
    assert run.returncode == 1
    out = run.stdout
    assert "1 failed, 1 passed" in out
    assert "separation-of-duties.kmstest.yaml:16:5" in out
    assert "expected: explicitDeny" in out and "got:      allowed" in out
    assert "Allow AdministratorAccess (identity-policy" in out
    assert "Traceback" not in out


def test_pytest_reports_a_malformed_suite_as_a_collection_error(tmp_path: Path) -> None:
    (tmp_path / "bad.kmstest.yaml").write_text("policies: {key: k.json}\ncases:\n  - {name: x}\n")
    run = _pytest(str(tmp_path), "-q", cwd=tmp_path)
    assert run.returncode == 2
    assert "invalid compliance suite" in run.stdout
    assert "bad.kmstest.yaml:3:5: cases.0.expect: Field required" in run.stdout


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, kmspolicy.testing.plugin\n"
        "heavy = ('kmspolicy.authz', 'kmspolicy.kms', 'kmspolicy.testing.suite', 'botocore',"
        " 'pydantic', 'yaml', 'cryptography')\n"
        "print(sorted({m.split('.')[0] + '.' + m.split('.')[1] if m.startswith('kmspolicy.')"
        " else m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.strip() == "[]"
