"""Tampering with the audit log while the server runs (issue 12 item 5), and the audit key:
each test replays one attack against a running writer or the verifier."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kmspolicy import KMS
from kmspolicy.audit import Tampered, open_audit_key, open_audit_log, verify
from kmspolicy.audit.chain import record_fields, sealed_line
from kmspolicy.audit.file import FileAuditLog
from kmspolicy.cli.audit import command
from kmspolicy.errors import ConfigError, KMSInternalException
from kmspolicy.store import RootKey
from tests.audit.records import rec

KEY = bytes(range(32))


@pytest.fixture
def running(tmp_path: Path) -> FileAuditLog:
    """A writer that has appended three records and keeps the file open, like a server."""
    log = open_audit_log(tmp_path / "audit.log", mac_key=KEY)
    for i in range(3):
        log.append(rec(i))
    return log


def refuses_from_now_on(log: FileAuditLog) -> None:
    for n in (10, 11):  # the refusal sticks: no later record either
        with pytest.raises(Tampered, match="not the log this process was writing"):
            log.append(rec(n))


def test_an_edit_of_the_last_record_in_place_same_size(running: FileAuditLog) -> None:
    data = running.path.read_bytes()
    running.path.write_bytes(data.replace(b'"req-2"', b'"req-X"'))  # same inode, same size
    refuses_from_now_on(running)


def test_an_edit_of_an_earlier_record_is_for_verify(running: FileAuditLog) -> None:
    """The writer checks only its tail; verify finds the rest (documented)."""
    data = running.path.read_bytes()
    running.path.write_bytes(data.replace(b'"req-0"', b'"req-X"'))
    running.append(rec(3))
    assert {p.kind for p in verify(running.path).problems} == {"modified"}


def test_truncation_no_longer_re_chains(running: FileAuditLog) -> None:
    lines = running.path.read_bytes().splitlines(keepends=True)
    with running.path.open("r+b") as f:
        f.truncate(len(lines[0]))  # cut records 1 and 2; the rest would verify as intact
    refuses_from_now_on(running)
    assert verify(running.path).records == 1  # nothing was re-chained after the cut


def test_removal_and_rename(tmp_path: Path) -> None:
    for how in ("rm", "rename", "replace"):
        log = open_audit_log(tmp_path / f"{how}.log")
        log.append(rec(0))
        if how == "rm":
            log.path.unlink()
        elif how == "rename":
            log.path.rename(tmp_path / "elsewhere.log")
        else:  # a copy (another inode) put in its place
            copy = tmp_path / "copy.log"
            copy.write_bytes(log.path.read_bytes())
            copy.rename(log.path)
        refuses_from_now_on(log)
        log.close()


def test_a_foreign_record_appended_behind_the_writers_back(running: FileAuditLog) -> None:
    last = json.loads(running.path.read_bytes().splitlines()[-1])
    forged = record_fields(
        rec(99, principal="arn:aws:iam::111122223333:user/mallory"), 3, last["hash"]
    )
    line = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()  # no mac: no key
    with running.path.open("ab") as f:
        f.write(line + b"\n")
    refuses_from_now_on(running)


def test_records_of_another_writer_that_extend_the_chain_are_accepted(
    running: FileAuditLog,
) -> None:
    other = open_audit_log(running.path, mac_key=KEY)  # a second server on the data directory
    other.append(rec(3))
    running.append(rec(4))
    result = verify(running.path, key=KEY)
    assert result.ok and result.records == 5


def test_a_tampered_log_refuses_requests_before_they_commit(tmp_path: Path) -> None:
    log = open_audit_log(tmp_path / "audit.log")
    service = KMS(audit=log)
    service.create_key()
    log.path.unlink()  # rm of the live log
    with pytest.raises(KMSInternalException):
        service.create_key()
    with service.store.transaction(readonly=True) as tx:
        assert tx.count_keys(service.account, service.region) == 1


# --- the audit key: a forged record is detectable by whoever holds it


def test_an_appended_forged_record_with_a_valid_hash_chain_fails_the_keyed_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.log"
    log = open_audit_log(path, mac_key=KEY)
    log.append(rec(0))
    log.close()
    # the attacker appends with the plain writer (a valid chain, no audit key) ...
    forger = open_audit_log(path)
    forger.append(rec(1, principal="arn:aws:iam::111122223333:user/mallory"))
    forger.close()
    assert verify(path).ok  # ... which the unkeyed check cannot tell
    result = verify(path, key=KEY)
    assert [(p.line, p.kind) for p in result.problems] == [(2, "unauthenticated")]
    # ... or sealed with a key of its own
    first = path.read_bytes().splitlines(keepends=True)[0]
    line, _ = sealed_line(rec(1), 1, json.loads(first)["hash"], b"\x01" * 32)
    path.write_bytes(first + line)
    assert [p.kind for p in verify(path, key=KEY).problems] == ["forged"]


def test_the_audit_key_is_sealed_under_the_root_key(tmp_path: Path) -> None:
    root = RootKey(os.urandom(32))
    key = open_audit_key(tmp_path, root)
    assert open_audit_key(tmp_path, root) == key  # created once, then read
    stored = (tmp_path / "audit.key").read_bytes()
    assert key not in stored and (tmp_path / "audit.key").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError, match="does not unseal under this root key"):
        open_audit_key(tmp_path, RootKey(os.urandom(32)))


def _serve_like(data: Path) -> Any:
    """What ``kmspolicy serve`` builds over a data directory (root key, store, keyed log)."""
    from kmspolicy.kms.identities import Identities
    from kmspolicy.wiring import ServiceSettings, build_runtime

    return build_runtime(ServiceSettings(data_dir=data), Identities())


def test_verify_cli_checks_the_seals_with_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runtime = _serve_like(data)
    runtime.service().call("CreateKey")
    runtime.close()
    log = data / "audit.log"
    runner = CliRunner()
    ok = runner.invoke(command, ["verify", str(log), "--data-dir", str(data)])
    assert ok.exit_code == 0, ok.output
    assert "every record sealed with the audit key" in ok.output
    forger = open_audit_log(log)
    forger.append(rec(7))
    forger.close()
    assert runner.invoke(command, ["verify", str(log)]).exit_code == 0  # unkeyed: looks fine
    bad = runner.invoke(command, ["verify", str(log), "--data-dir", str(data)])
    assert bad.exit_code == 1 and "unauthenticated" in bad.output
    missing = runner.invoke(command, ["verify", str(log), "--data-dir", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no audit key" in missing.output
    assert not (tmp_path / "none").exists()  # checking creates nothing
