"""Resuming a check of the audit chain at a checkpoint (the console checks only what was
appended since its last view): the same verdict as a check from the start on what it reads,
and a changed prefix end is seen before resuming."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmspolicy.audit import open_audit_log, prefix_unchanged, verify
from kmspolicy.audit.chain import sealed_line
from tests.audit.records import rec

KEY = bytes(range(32))


def _log(tmp_path: Path, records: int) -> Path:
    log = open_audit_log(tmp_path / "audit.log", mac_key=KEY)
    for i in range(records):
        log.append(rec(i))
    log.close()
    return tmp_path / "audit.log"


def test_a_resumed_check_continues_the_chain(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    first = verify(path, key=KEY)
    assert first.ok and first.checkpoint is not None and first.checkpoint.records == 3
    log = open_audit_log(path, mac_key=KEY)
    for i in range(3, 5):
        log.append(rec(i))
    log.close()
    assert prefix_unchanged(path, first.checkpoint)
    resumed = verify(path, key=KEY, resume=first.checkpoint)
    whole = verify(path, key=KEY)
    assert resumed.resumed_after == 3 and whole.resumed_after == 0
    assert (resumed.ok, resumed.records, resumed.head) == (True, 5, whole.head)
    assert resumed.checkpoint == whole.checkpoint
    # nothing appended: the same checkpoint again
    assert verify(path, key=KEY, resume=resumed.checkpoint).checkpoint == resumed.checkpoint


def test_a_forged_appended_record_is_found_by_the_resumed_check(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    first = verify(path, key=KEY)
    assert first.checkpoint is not None
    # a well-chained record sealed with another key, appended by someone else
    line, _ = sealed_line(rec(3), 3, first.checkpoint.head, b"\x01" * 32)
    with path.open("ab") as out:
        out.write(line)
    assert prefix_unchanged(path, first.checkpoint)
    resumed = verify(path, key=KEY, resume=first.checkpoint)
    assert not resumed.ok and resumed.checkpoint is None
    assert {p.kind for p in resumed.problems} == {"forged"}


def test_a_changed_last_checked_line_means_checking_from_the_start(tmp_path: Path) -> None:
    path = _log(tmp_path, 3)
    first = verify(path, key=KEY)
    assert first.checkpoint is not None
    path.write_bytes(path.read_bytes().replace(b'"req-2"', b'"req-X"'))
    assert not prefix_unchanged(path, first.checkpoint)
    path.write_bytes(path.read_bytes()[:10])  # shorter than the prefix
    assert not prefix_unchanged(path, first.checkpoint)


def test_a_checkpoint_resumes_only_a_check_with_the_same_key(tmp_path: Path) -> None:
    path = _log(tmp_path, 2)
    checkpoint = verify(path).checkpoint
    assert checkpoint is not None
    with pytest.raises(ValueError):
        verify(path, key=KEY, resume=checkpoint)
