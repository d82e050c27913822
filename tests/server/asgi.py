"""Drives the ASGI app directly (no process, no network): a fake backend, SigV4-signed headers
and one request through the app."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmspolicy.errors import NotFoundException, ServiceError
from kmspolicy.kms.clock import FakeClock
from kmspolicy.server.app import AppOptions, Call, KmsApp, Reply
from kmspolicy.server.sigv4 import Credential, Verifier

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALICE = Credential("AKIAALICEEXAMPLE0001", "alice-secret", "arn:aws:iam::111122223333:user/alice")


class FakeBackend:
    def __init__(self) -> None:
        self.calls: list[Call[str]] = []
        self.resets = 0

    def operations(self) -> frozenset[str]:
        return frozenset({"Encrypt", "DescribeKey", "Boom"})

    def offload(self, operation: str) -> bool:
        return operation == "DescribeKey"

    def call(self, call: Call[str]) -> Reply:
        self.calls.append(call)
        if call.operation == "Boom":
            raise RuntimeError("bug")
        if call.operation == "DescribeKey":
            raise NotFoundException("key not found")
        return Reply(b'{"KeyId": "k"}', call.principal)

    def encode_error(self, error: ServiceError) -> bytes:
        return json.dumps({"__type": error.code, "message": error.message}).encode()

    def principal_arn(self, principal: str) -> str:
        return principal


def make_app(**options: Any) -> tuple[KmsApp[str], FakeBackend]:
    backend = FakeBackend()
    verifier = Verifier({ALICE.access_key_id: ALICE}.get)
    opts = AppOptions(**options)
    if opts.dev:
        opts.reset = lambda: setattr(backend, "resets", backend.resets + 1)
    return KmsApp(backend, verifier, FakeClock(NOW), opts), backend


class SignOnly(SigV4Auth):
    """A signer that signs only ``host``, ``x-amz-date`` and ``also`` (a minimal SigV4)."""

    also: tuple[str, ...] = ()

    def headers_to_sign(self, request: AWSRequest) -> Any:
        signed = super().headers_to_sign(request)
        for name in list(signed.keys()):
            if name not in ("host", "x-amz-date", *self.also):
                del signed[name]
        return signed


class SignTarget(SignOnly):
    also = ("x-amz-target",)


def signed(
    target: str,
    body: bytes,
    *,
    secret: str = "alice-secret",
    minimal: type[SigV4Auth] = SigV4Auth,
) -> list[tuple[bytes, bytes]]:
    req = AWSRequest(
        method="POST",
        url="http://127.0.0.1:4599/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        minimal(Credentials(ALICE.access_key_id, secret), "kms", "eu-west-1").add_auth(req)
    headers = [(k.lower().encode(), v.encode()) for k, v in req.prepare().headers.items()]
    return [*headers, (b"host", b"127.0.0.1:4599")]


def run(
    app: KmsApp[str],
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    *,
    method: str = "POST",
    path: str = "/",
    scheme: str = "http",
) -> tuple[int, dict[str, Any]]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": scheme,
        "client": ("10.1.2.3", 5555),
    }
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    return status, json.loads(sent[1]["body"])
