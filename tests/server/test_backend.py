"""Which calls run on the event loop: derived from the operation table and the store kind;
a call on the loop that must write after all (an AWS managed key created on first use) is run
again in a worker thread, before it takes any lock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.ports import RunInThread
from kmspolicy.kms.quotas import RequestQuotas
from kmspolicy.optable import OPERATIONS
from kmspolicy.server.backend import LoopWriteGuard, ServiceBackend, inline_operations
from kmspolicy.server.identities import development_identities
from kmspolicy.server.main import ServerSettings, build_app
from tests.server.asgi import run


def test_inline_operations_are_the_tables_read_only_ones_on_an_in_process_store() -> None:
    some = [OPERATIONS[n] for n in ("Encrypt", "CreateKey", "Sign", "ListKeys")]
    # CreateKey writes, Sign burns CPU (asymmetric crypto)
    assert inline_operations(some, local_store=True) == {"Encrypt", "ListKeys"}
    # over PostgreSQL every call waits for the network: nothing runs on the loop
    assert inline_operations(some, local_store=False) == frozenset()


def test_no_operation_declared_mutating_runs_inline(tmp_path: Path) -> None:
    app, runtime = build_app(
        ServerSettings(data_dir=tmp_path, host="127.0.0.1"), development_identities()
    )
    try:
        assert runtime.in_process  # SQLite in the data directory, file root key
        inline = {op for op in OPERATIONS if not app._backend.offload(op)}
        assert inline and {"Encrypt", "Decrypt", "DescribeKey", "ListKeys"} <= inline
        assert all(not OPERATIONS[op].mutates for op in inline)
        assert not any(OPERATIONS[op].cpu_bound for op in inline)
    finally:
        runtime.close()


def test_guard_refuses_write_transactions_on_the_loop_only() -> None:
    guard = LoopWriteGuard(MemoryStore())

    def write_off_the_loop() -> None:
        with guard.transaction():  # a worker thread runs no loop: an ordinary write
            pass

    async def on_loop() -> None:
        with guard.transaction(readonly=True):
            pass
        with pytest.raises(RunInThread):
            guard.transaction()
        await asyncio.to_thread(write_off_the_loop)

    asyncio.run(on_loop())
    with guard.transaction():  # no loop: an ordinary write
        pass


def test_inline_describe_that_creates_an_aws_managed_key_reruns_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = development_identities()
    app, runtime = build_app(ServerSettings(data_dir=tmp_path, request_quotas=True), config)
    admitted: list[str] = []
    real_admit = RequestQuotas.admit

    def count(self: RequestQuotas, account: str, operation: str, *args: Any) -> None:
        admitted.append(operation)
        real_admit(self, account, operation, *args)

    monkeypatch.setattr(RequestQuotas, "admit", count)
    (spec,) = config.identities
    body = json.dumps({"KeyId": "alias/aws/s3"}).encode()
    seen: list[tuple[bool, str]] = []
    real_call = ServiceBackend.call

    def spy(self: ServiceBackend, call: Any) -> Any:
        on_loop = asyncio._get_running_loop() is not None
        try:
            reply = real_call(self, call)
        except RunInThread:
            seen.append((on_loop, "RunInThread"))
            raise
        seen.append((on_loop, "ok"))
        return reply

    monkeypatch.setattr(ServiceBackend, "call", spy)

    def describe() -> tuple[int, dict[str, Any]]:
        request = AWSRequest(
            method="POST",
            url="http://127.0.0.1:4599/",
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "TrentService.DescribeKey",
            },
        )
        credentials = Credentials(spec.access_key_id, spec.secret_access_key)
        SigV4Auth(credentials, "kms", "us-east-1").add_auth(request)
        headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
        return run(app, [*headers, (b"host", b"127.0.0.1:4599")], body)

    try:
        status, reply = describe()
        assert status == 200, reply
        assert seen == [(True, "RunInThread"), (False, "ok")]
        # the abandoned loop attempt decided nothing: one record, the thread's allow, and one
        # admission against the request quotas
        lines = (tmp_path / "audit.log").read_text().splitlines()
        records = [r for r in map(json.loads, lines) if r["operation"] == "DescribeKey"]
        assert [(r["allowed"], r.get("error_code") or "") for r in records] == [(True, "")]
        assert admitted == ["DescribeKey"]
        # the key exists now: the next DescribeKey only reads, and stays on the loop
        seen.clear()
        status, reply = describe()
        assert (status, seen) == (200, [(True, "ok")]), reply
    finally:
        runtime.close()


def test_request_ids_are_the_services_scheme(tmp_path: Path) -> None:
    # one scheme for every front end (kms.request_ids): the server draws from its service's
    app, runtime = build_app(
        ServerSettings(data_dir=tmp_path, host="127.0.0.1"), development_identities()
    )
    try:
        first = app._options.request_ids()
        second = runtime.service().new_request_id()
        assert first[:24] == second[:24]  # the service's random prefix
        assert int(second[24:], 16) == int(first[24:], 16) + 1  # and its counter
    finally:
        runtime.close()
