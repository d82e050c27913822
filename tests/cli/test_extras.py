"""The light install (issue 15 §1): ``pip install kmspolicy`` is the policy toolkit, and a
command whose extra is missing names the pip command to run.

Each test runs a fresh interpreter in which the modules of the extras cannot be imported (a
``sys.meta_path`` finder refuses them, as a venv without them would), so what is asserted is
what a user with only the core install sees. scripts/wheel-check.sh does the same with a real
core-only install.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kmspolicy._extras import EXTRA_OF_MODULE
from kmspolicy.audit import open_audit_log
from kmspolicy.kms.ports import AuditRecord

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
#: every module an extra brings, and what the core never needs (boto3: tests only; rich: gone)
EXTRAS = sorted({*EXTRA_OF_MODULE, "boto3", "rich", "psycopg_binary", "markupsafe"})

_PRELUDE = """
import json, sys
BLOCKED = set(json.loads(sys.argv[1]))
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
"""

_RUN_COMMANDS = """
from kmspolicy.cli import main
codes = []
for argv in json.loads(sys.argv[2]):
    try:
        main(argv)
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code or 0)
print("CODES=" + json.dumps(codes))
"""


def _python(code: str, blocked: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE + code, json.dumps(blocked), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_toolkit_commands_need_no_extra(tmp_path: Path) -> None:
    unformatted = tmp_path / "p.json"
    unformatted.write_text((FIXTURES / "default-key-policy.json").read_text().replace("\n", ""))
    commands = [
        ["lint", str(FIXTURES / "default-key-policy.kmsp")],
        ["fmt", "--check", str(FIXTURES)],
        ["fmt", str(unformatted)],
        ["convert", "--to", "json", str(FIXTURES / "separation-of-duties.kmsp")],
        ["test", str(FIXTURES / "separation-of-duties.kmstest.yaml")],
        [
            "simulate",
            "--key-policy",
            str(FIXTURES / "separation-of-duties.kmsp"),
            "--principal",
            "arn:aws:iam::111122223333:role/App",
            "--action",
            "kms:Decrypt",
        ],
        ["docs", "lint"],
        ["serve", "--help"],
    ]
    done = _python(_RUN_COMMANDS, EXTRAS, json.dumps(commands))
    assert "Traceback" not in done.stderr, done.stderr
    codes = json.loads(done.stdout.rpartition("CODES=")[2])
    assert codes == [0] * len(commands), done.stdout + done.stderr
    assert "Allow access for Key Administrators" in done.stdout  # they did run
    assert unformatted.read_text().count("\n") > 10  # fmt wrote the canonical form


def test_audit_verify_checks_a_chain_without_any_extra(tmp_path: Path) -> None:
    """An auditor reads the decision log with the light install; a forged line is still found."""
    log = tmp_path / "audit.log"
    write_log = open_audit_log(log)
    for n in range(3):
        write_log.append(_record(n))
    write_log.close()
    argv = ["audit", "verify", str(log)]
    done = _python(_RUN_COMMANDS, EXTRAS, json.dumps([argv]))
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout.rpartition("CODES=")[2]) == [0], done.stdout + done.stderr
    log.write_text(log.read_text().replace("req-1", "req-X"))
    done = _python(_RUN_COMMANDS, EXTRAS, json.dumps([argv]))
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout.rpartition("CODES=")[2]) != [0], done.stdout + done.stderr


def _record(n: int) -> AuditRecord:
    return AuditRecord(
        time=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=n),
        request_id=f"req-{n}",
        operation="Encrypt",
        principal="arn:aws:iam::111122223333:user/alice",
        actions=("kms:Encrypt",),
        resources=("arn:aws:kms:us-east-1:111122223333:key/k1",),
        allowed=True,
        decision="allowed",
        matched=("KeyPolicy:Enable IAM User Permissions",),
    )


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        (EXTRAS, ["serve", "--data-dir", "{tmp}"], "server"),
        (["psycopg"], ["serve", "--store", "postgresql://u@127.0.0.1/db"], "postgres"),
        (EXTRAS, ["audit", "verify", "--data-dir", "{tmp}", "{tmp}/audit.log"], "server"),
        (EXTRAS, ["hsm", "create-key"], "hsm"),
    ],
)
def test_a_command_whose_extra_is_missing_names_it(
    tmp_path: Path, blocked: list[str], argv: list[str], extra: str
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    done = _python(_RUN_COMMANDS, blocked, json.dumps([argv]))
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout.rpartition("CODES=")[2]) == [2]
    assert f"`kmspolicy {argv[0]}` needs the `{extra}` extra" in done.stderr
    assert f"pip install 'kmspolicy[{extra}]'" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was half-created


def test_the_facade_names_the_extra_and_authorizes_without_it() -> None:
    code = """
import kmspolicy
decision = kmspolicy.authorize(
    key_policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}',
    principal="arn:aws:iam::111122223333:root", action="kms:Decrypt")
print(decision.kind.value)
try:
    kmspolicy.KMS
except kmspolicy.UserError as exc:
    print(exc)
"""
    done = _python(code, EXTRAS)
    assert done.returncode == 0, done.stderr
    allowed, error = done.stdout.splitlines()
    assert allowed == "allowed"
    assert error.startswith("kmspolicy.KMS needs the `server` extra")
    assert error.endswith("pip install 'kmspolicy[server]'")
