"""The repository's pre-commit hooks (``.pre-commit-hooks.yaml``), run as a user's repository
would run them: ``pre-commit try-repo`` against this checkout, in a scratch git repository.

pre-commit builds each hook's environment with ``pip install .`` from a clone of this checkout.
The test keeps that offline: the hook environment builds the wheel with the hatchling and finds
the dependencies already installed in the test's own environment (``PYTHONPATH``), so the hooks
run the code of this checkout without reaching a package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from kmspolicy.lang import format_dsl, parse_dsl

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

UNFORMATTED = """\
policy "key" version 2012-10-17
allow "Enable IAM User Permissions"   principal aws "arn:aws:iam::111122223333:root"
  action   kms:*   resource *
"""


def _offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUALENV_"))}
    env.update(
        PRE_COMMIT_HOME=str(home),
        PYTHONPATH=sysconfig.get_paths()["purelib"],
        PIP_NO_INDEX="1",
        PIP_NO_DEPS="1",
        PIP_FIND_LINKS="",
        PIP_CONFIG_FILE=os.devnull,
        # pip reads this variable inverted: "0" turns build isolation off (no hatchling download)
        PIP_NO_BUILD_ISOLATION="0",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    return env


def _try_repo(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _hook_lines(output: str) -> dict[str, str]:
    """``kmspolicy fmt.....Passed`` lines → {"kmspolicy fmt": "Passed"}."""
    found = {}
    for line in output.splitlines():
        if line.startswith("kmspolicy ") and "..." in line:
            name, _, status = line.partition("...")
            found[name] = status.strip(".").split("(")[0]
    return found


def test_the_manifest_declares_the_three_hooks() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    ids = [hook["id"] for hook in hooks]
    assert {"kmspolicy-fmt", "kmspolicy-lint", "kmspolicy-test", "kmspolicy-check"} <= set(ids)
    assert all(hook["language"] == "python" for hook in hooks)


@pytest.mark.slow
def test_try_repo_formats_lints_and_tests_a_policy_repository(tmp_path: Path) -> None:
    repo = tmp_path / "policies"
    repo.mkdir()
    (repo / "key.kmsp").write_text(UNFORMATTED, encoding="utf-8")
    suite = (FIXTURES / "default-key-policy.kmstest.yaml").read_text(encoding="utf-8")
    suite = suite.replace("default-key-policy.kmsp", "key.kmsp").replace(
        "administrator-access.kmsp", "administrator-access.json"
    )
    (repo / "key.kmstest.yaml").write_text(suite, encoding="utf-8")
    # an identity policy: JSON, which the hooks leave alone unless configured (`files:`)
    shutil.copy(FIXTURES / "administrator-access.json", repo)
    env = _offline_env(tmp_path / "pre-commit-home")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)

    first = _try_repo(repo, env)
    hooks = _hook_lines(first.stdout)
    assert hooks == {
        "kmspolicy fmt": "Failed",  # it rewrote key.kmsp: pre-commit fails a hook that edits
        "kmspolicy lint": "Passed",
        "kmspolicy test": "Passed",
        "kmspolicy check no-public-access": "Passed",  # z3 proved it (the account root only)
    }, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    formatted = (repo / "key.kmsp").read_text(encoding="utf-8")
    assert formatted != UNFORMATTED
    assert formatted == format_dsl(parse_dsl(UNFORMATTED, "key.kmsp"))

    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    # a broken expectation: the test hook fails and names the case
    broken = suite.replace("expect: allowed", "expect: explicitDeny", 1)
    (repo / "key.kmstest.yaml").write_text(broken, encoding="utf-8")
    second = _try_repo(repo, env)
    hooks = _hook_lines(second.stdout)
    assert hooks == {
        "kmspolicy fmt": "Passed",
        "kmspolicy lint": "Passed",
        "kmspolicy test": "Failed",
        "kmspolicy check no-public-access": "Passed",
    }, second.stdout + second.stderr
    assert "FAIL default key policy::" in second.stdout

    # a key policy that lets another account in: the check hook fails with a counterexample
    shutil.copy(FIXTURES / "cross-account-sharing.kmsp", repo / "shared.kmsp")
    (repo / "key.kmstest.yaml").write_text(suite, encoding="utf-8")
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    third = _try_repo(repo, env)
    assert _hook_lines(third.stdout)["kmspolicy check no-public-access"] == "Failed"
    assert "counterexample" in third.stdout and "shared.kmsp:" in third.stdout
