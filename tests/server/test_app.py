"""The ASGI app's framing and error mapping, driven directly (no process, no network)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.errors import NotFoundException, ServiceError
from kmspolicy.kms.clock import FakeClock
from kmspolicy.server.app import AppOptions, Call, KmsApp, Reply, _headers
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


class _SignOnly(SigV4Auth):
    """A signer that signs only ``host``, ``x-amz-date`` and ``also`` (a minimal SigV4)."""

    also: tuple[str, ...] = ()

    def headers_to_sign(self, request: AWSRequest) -> Any:
        signed = super().headers_to_sign(request)
        for name in list(signed.keys()):
            if name not in ("host", "x-amz-date", *self.also):
                del signed[name]
        return signed


class _SignTarget(_SignOnly):
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


def test_signed_request_reaches_backend_with_principal_region_and_context() -> None:
    app, backend = make_app()
    body = b'{"KeyId": "alias/a", "Plaintext": "aGk="}'
    status, reply = run(app, signed("TrentService.Encrypt", body), body, scheme="https")
    assert (status, reply) == (200, {"KeyId": "k"})
    (call,) = backend.calls
    assert call.principal == ALICE.principal
    assert call.region == "eu-west-1"
    assert call.context["aws:SecureTransport"] is True
    assert call.context["aws:SourceIp"] == "10.1.2.3"
    # the time keys come from the pipeline's clock reading (authz.Request), not the transport:
    # in the context they would give the decision memo a new key every second
    assert "aws:CurrentTime" not in call.context and "aws:EpochTime" not in call.context


def test_service_error_keeps_its_aws_name() -> None:
    app, _ = make_app()
    status, reply = run(app, signed("TrentService.DescribeKey", b"{}"), b"{}")
    assert (status, reply["__type"]) == (400, "NotFoundException")


def test_a_bug_is_kms_internal_exception_not_a_bare_500_page() -> None:
    app, _ = make_app()
    status, reply = run(app, signed("TrentService.Boom", b"{}"), b"{}")
    assert (status, reply["__type"]) == (500, "KMSInternalException")
    assert "bug" not in reply["message"]


def test_unknown_target() -> None:
    app, backend = make_app()
    status, reply = run(app, signed("TrentService.Nope", b"{}"), b"{}")
    assert (status, reply["__type"]) == (400, "UnknownOperationException")
    assert backend.calls == []


def test_bad_signature_never_reaches_backend() -> None:
    app, backend = make_app()
    status, reply = run(app, signed("TrentService.Encrypt", b"{}", secret="wrong"), b"{}")
    assert (status, reply["__type"]) == (400, "InvalidSignatureException")
    assert backend.calls == []


def test_oversize_body_is_413() -> None:
    app, backend = make_app(max_body=100)
    body = b"{" + b" " * 200 + b"}"
    status, reply = run(app, signed("TrentService.Encrypt", body), body)
    assert (status, reply["__type"]) == (413, "RequestEntityTooLargeException")
    assert backend.calls == []


def test_get_is_refused() -> None:
    app, _ = make_app()
    status, reply = run(app, signed("TrentService.Encrypt", b""), method="GET")
    assert (status, reply["__type"]) == (400, "UnknownOperationException")


def test_reset_refused_without_dev() -> None:
    app, backend = make_app()
    status, reply = run(app, [], path="/_kmspolicy/reset")
    assert (status, reply["__type"]) == (403, "AccessDeniedException")
    assert backend.resets == 0


def test_reset_with_dev() -> None:
    app, backend = make_app(dev=True)
    status, _ = run(app, [], path="/_kmspolicy/reset")
    assert status == 200
    assert backend.resets == 1


def test_health() -> None:
    app, _ = make_app()
    status, reply = run(app, [], method="GET", path="/_kmspolicy/health")
    assert (status, reply["status"]) == (200, "ok")
    assert reply["operations"] == ["Boom", "DescribeKey", "Encrypt"]


def test_a_captured_request_cannot_be_replayed_as_another_operation() -> None:
    """Issue 12 item 4: a DescribeKey signed over ``host;x-amz-date`` was replayed as
    ScheduleKeyDeletion. The target (and content type) must be signed whenever sent."""
    app, backend = make_app()
    body = b'{"KeyId": "alias/a"}'
    captured = signed("TrentService.DescribeKey", body, minimal=_SignOnly)
    auth = dict(captured)[b"authorization"]
    assert b"SignedHeaders=host;x-amz-date," in auth
    swapped = [(k, b"TrentService.Encrypt" if k == b"x-amz-target" else v) for k, v in captured]
    for headers in (captured, swapped):
        status, reply = run(app, headers, body)
        assert (status, reply["__type"]) == (400, "IncompleteSignatureException")
        assert "x-amz-target" in reply["message"]
    assert backend.calls == []  # nothing reached the service
    # the content type is held to the same rule (unsigned when not sent is fine)
    target_only = signed("TrentService.Encrypt", body, minimal=_SignTarget)
    assert b"SignedHeaders=host;x-amz-date;x-amz-target," in dict(target_only)[b"authorization"]
    status, reply = run(app, target_only, body)
    assert (status, reply["__type"]) == (400, "IncompleteSignatureException")
    assert "content-type" in reply["message"]
    without = [(k, v) for k, v in target_only if k != b"content-type"]
    assert run(app, without, body) == (200, {"KeyId": "k"})


_HEADER_NAMES = st.sampled_from(["host", "Host", "x-amz-date", "X-Amz-Target", "x-a", "X-A"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_HEADER_NAMES, st.text("ab ,\t", max_size=4)), max_size=6))
def test_request_headers_join_a_repeated_name_in_order(pairs: list[tuple[str, str]]) -> None:
    raw = [(name.encode(), value.encode()) for name, value in pairs]
    joined: dict[str, list[str]] = {}
    for name, value in pairs:
        joined.setdefault(name.lower(), []).append(value)
    expected = {name: ",".join(values) for name, values in joined.items()}
    assert _headers({"headers": raw}) == expected
    assert _headers({"headers": iter(raw)}) == expected  # any iterable, read once
