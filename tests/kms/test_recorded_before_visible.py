"""Invariant 8, recorded before visible: the audit record is written before the transaction
commits, a log that cannot be written refuses the request with nothing changed, and a failure
after the record leaves both the decision and the fact that it did not commit (issue 12 item 1).
Each test replays one attack or injects one fault between the steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmspolicy import KMS
from kmspolicy.audit import open_audit_log, verify
from kmspolicy.errors import DependencyTimeoutException, KMSInternalException, ServiceError
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.ports import AuditRecord, Store, Transaction
from kmspolicy.store import RootKey, open_store

ROOT = RootKey(bytes(range(32)))  # a fixed key: the crashed child and the test open one store


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def key_count(service: KMS) -> int:
    with service.store.transaction(readonly=True) as tx:
        return tx.count_keys(service.account, service.region)


class _Unwritable:
    """An audit log that cannot take a record (full disk, revoked permission, ...)."""

    def __init__(self) -> None:
        self.attempts = 0

    def append(self, record: AuditRecord) -> None:
        self.attempts += 1
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        """Nothing to release."""


def test_an_unwritable_log_refuses_the_change_before_it_commits() -> None:
    log = _Unwritable()
    service = KMS(audit=log)
    with pytest.raises(KMSInternalException, match="nothing was changed"):
        service.create_key(Description="never")
    assert key_count(service) == 0
    assert log.attempts == 1  # refused once, not retried as a second record


def test_an_unwritable_log_refuses_tagging_and_the_tags_stay(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    good = open_audit_log(path)
    service = KMS(audit=good)
    key = service.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    service._pipeline.audit = _Unwritable()
    with pytest.raises(KMSInternalException):
        service.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "b"}])
    with pytest.raises(KMSInternalException):
        service.untag_resource(KeyId=key, TagKeys=["team"])
    service._pipeline.audit = good
    assert service.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    good.close()
    assert verify(path).ok


@pytest.mark.parametrize("value", ["\udfff", "a\ud800b", "\ud83d\ude00"])
def test_a_lone_surrogate_in_a_tag_never_commits_unrecorded(tmp_path: Path, value: str) -> None:
    """The attack: a tag value the audit serializer could not encode, after the commit."""
    path = tmp_path / "audit.log"
    log = open_audit_log(path)
    service = KMS(audit=log)
    client = service.client()
    key = client.create_key()["KeyMetadata"]["KeyId"]
    calls = {
        "CreateKey": lambda: client.create_key(Tags=[{"TagKey": "k", "TagValue": value}]),
        "TagResource": lambda: client.tag_resource(
            KeyId=key, Tags=[{"TagKey": value, "TagValue": "v"}]
        ),
        "UntagResource": lambda: client.untag_resource(KeyId=key, TagKeys=[value]),
    }
    succeeded = []
    for name, call in calls.items():
        try:
            call()
        except ClientError as exc:  # input validation may refuse it first: also correct
            assert exc.response["Error"]["Code"] in {"ValidationException", "TagException"}
        else:
            succeeded.append(name)
    log.close()
    result = verify(path)
    assert result.ok, result.problems
    # every change that committed is in the log, in order, as a success
    done = [r["operation"] for r in records(path) if r["error_code"] is None]
    assert done == ["CreateKey", *succeeded]
    assert key_count(service) == done.count("CreateKey")


class _CommitFails:
    """A store whose writing transactions fail at commit, after their body ran (rolled back)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.armed = False

    def transaction(self, *, readonly: bool = False) -> _FailingCommit:
        fail = self.armed and not readonly
        return _FailingCommit(self.inner.transaction(readonly=readonly), fail)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _FailingCommit:
    def __init__(self, inner: Any, fail: bool) -> None:
        self.inner, self.fail = inner, fail

    def __enter__(self) -> Transaction:
        tx: Transaction = self.inner.__enter__()
        return tx

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if et is None and self.fail:
            err = DependencyTimeoutException("commit failed (injected)")
            self.inner.__exit__(type(err), err, None)
            raise err
        result: bool | None = self.inner.__exit__(et, e, tb)
        return result


def test_a_commit_that_fails_after_the_record_is_recorded_as_not_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.log"
    store = _CommitFails(MemoryStore())
    service = KMS(store=store, audit=open_audit_log(path))  # type: ignore[arg-type]
    store.armed = True
    with pytest.raises(DependencyTimeoutException):
        service.create_key(Description="rolled back")
    store.armed = False
    assert key_count(service) == 0
    decided, outcome = records(path)
    assert (decided["operation"], decided["allowed"], decided["event"]) == (
        "CreateKey",
        True,
        "AwsApiCall",
    )
    assert decided["error_code"] is None  # written before the commit was tried
    assert (outcome["event"], outcome["error_code"], outcome["request_id"]) == (
        "NotCommitted",
        "DependencyTimeoutException",
        decided["request_id"],
    )
    assert verify(path).ok


def test_an_exception_in_a_handler_after_an_allow_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    service = KMS(audit=open_audit_log(path))
    key = service.create_key()["KeyMetadata"]["KeyId"]
    ops = service._pipeline.operations

    def broken(call: Any) -> dict[str, Any]:
        raise RuntimeError("a bug in a handler")

    service._pipeline.operations = {
        **ops,
        "TagResource": replace(ops["TagResource"], handler=broken),
    }
    client = service.client()
    with pytest.raises(client.exceptions.KMSInternalException):  # a bug answers as AWS does
        client.tag_resource(KeyId=key, Tags=[{"TagKey": "a", "TagValue": "b"}])
    last = records(path)[-1]
    assert (last["operation"], last["allowed"], last["decision"], last["error_code"]) == (
        "TagResource",
        True,
        "allowed",
        "KMSInternalException",
    )


def test_a_tampered_tail_refuses_the_change_before_it_commits(tmp_path: Path) -> None:
    """The attack: the server answered 500 for a tampered log tail but had committed."""
    path = tmp_path / "audit.log"
    log = open_audit_log(path)
    KMS(audit=log).create_key()
    log.close()
    line = path.read_bytes()
    path.write_bytes(line.replace(b'"CreateKey"', b'"CreateKex"'))  # same size, same JSON shape
    service = KMS(audit=open_audit_log(path))
    with pytest.raises(KMSInternalException):
        service.create_key()
    assert key_count(service) == 0


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from kmspolicy import KMS
    from kmspolicy.audit import open_audit_log
    from kmspolicy.store import RootKey, open_store

    class KillAfterAppend:  # kill -9 between the audit append and the commit
        def __init__(self, inner):
            self.inner = inner
        def append(self, record):
            self.inner.append(record)
            if record.operation == sys.argv[3]:
                os.kill(os.getpid(), signal.SIGKILL)
        def close(self):
            self.inner.close()

    store = open_store(sys.argv[1], RootKey(bytes(range(32))))
    service = KMS(store=store, audit=KillAfterAppend(open_audit_log(sys.argv[2])))
    key = service.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    service.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "b"}])
    """
)


@pytest.mark.parametrize("killed_in", ["CreateKey", "TagResource"])
def test_kill_9_between_the_record_and_the_commit_leaves_nothing_unrecorded(
    tmp_path: Path, killed_in: str
) -> None:
    url = f"sqlite:///{tmp_path / 'kms.db'}"
    path = tmp_path / "audit.log"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, str(path), killed_in],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    written = records(path)
    assert written[-1]["operation"] == killed_in and written[-1]["allowed"] is True
    assert verify(path).ok
    store = open_store(url, ROOT)
    try:
        service = KMS(store=store)
        keys = service.list_keys()["Keys"]
        if killed_in == "CreateKey":
            assert keys == []  # recorded, never visible
        else:
            (key,) = keys
            tags = service.list_resource_tags(KeyId=key["KeyId"])["Tags"]
            assert tags == [{"TagKey": "team", "TagValue": "a"}]  # the tag change never landed
    finally:
        store.close()


def test_a_refused_request_is_still_recorded_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    service = KMS(audit=open_audit_log(path))
    with pytest.raises(ServiceError):
        service.describe_key(KeyId="alias/none")
    (only,) = records(path)
    assert (only["operation"], only["error_code"]) == ("DescribeKey", "NotFoundException")
