"""``kmspolicy audit verify``: exit codes and output, on a log written by a real KMS service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from kmspolicy.audit import open_audit_log
from kmspolicy.cli import cli
from kmspolicy.kms.service import KMS


@pytest.fixture
def service_log(tmp_path: Path) -> Path:
    """A decision log produced by the service: allowed and denied requests."""
    path = tmp_path / "audit.log"
    log = open_audit_log(path)
    kms = KMS(audit=log)
    client = kms.client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    client.encrypt(
        KeyId=key_id, Plaintext=b"secret-plaintext", EncryptionContext={"case": "case-4711-x"}
    )
    stranger = kms.client(principal="arn:aws:iam::111122223333:user/stranger")
    with pytest.raises(ClientError):
        stranger.encrypt(KeyId=key_id, Plaintext=b"secret-plaintext")
    log.close()
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", *args])
    return result.exit_code, result.output


def test_intact_service_log_verifies_and_prints_an_anchor(service_log: Path) -> None:
    code, out = run(str(service_log))
    assert code == 0, out
    assert "3 records, chain intact" in out
    records = [json.loads(line) for line in service_log.read_text().splitlines()]
    assert [r["operation"] for r in records] == ["CreateKey", "Encrypt", "Encrypt"]
    assert [r["allowed"] for r in records] == [True, True, False]
    assert records[2]["error_code"] == "AccessDeniedException"
    assert f"anchor: 3:{records[-1]['hash']}" in out
    raw = service_log.read_bytes()
    assert b"secret-plaintext" not in raw and b"case-4711-x" not in raw


def test_tampered_log_exits_1_naming_the_line(service_log: Path) -> None:
    text = service_log.read_text().replace('"allowed":false', '"allowed":true')
    service_log.write_text(text)
    code, out = run(str(service_log))
    assert code == 1
    assert f"{service_log}:3: modified" in out


def test_anchor_catches_a_cut_tail_and_json_output(service_log: Path) -> None:
    _, out = run(str(service_log))
    anchor = out.strip().splitlines()[-1].removeprefix("anchor: ")
    lines = service_log.read_text().splitlines(keepends=True)
    service_log.write_text("".join(lines[:2]))
    code, out = run(str(service_log), "--anchor", anchor, "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["records"] == 2
    assert [p["kind"] for p in report["problems"]] == ["truncated"]


def test_bad_anchor_and_missing_file_are_usage_errors(tmp_path: Path) -> None:
    assert run(str(tmp_path / "absent.log"))[0] == 2
    (tmp_path / "a.log").touch()
    assert run(str(tmp_path / "a.log"), "--anchor", "nonsense")[0] == 2
