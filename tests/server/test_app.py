"""The ASGI app's framing and error mapping, driven directly (no process, no network)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.server.app import _headers
from tests.server.asgi import ALICE, NOW, SignOnly, SignTarget, make_app, run, signed


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


def test_a_call_answered_at_once_carries_the_apps_one_clock_reading() -> None:
    """One reading of the clock per request: SigV4's is the service's for a call run at once
    (``Call.now``); a call run later, in a worker thread, reads the time itself (None)."""
    app, backend = make_app()
    body = b'{"KeyId": "alias/a", "Plaintext": "aGk="}'
    run(app, signed("TrentService.Encrypt", body), body)
    run(app, signed("TrentService.DescribeKey", b"{}"), b"{}")  # offloaded by make_app's
    encrypt, describe = backend.calls
    assert encrypt.now == NOW
    assert describe.now is None


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
    captured = signed("TrentService.DescribeKey", body, minimal=SignOnly)
    auth = dict(captured)[b"authorization"]
    assert b"SignedHeaders=host;x-amz-date," in auth
    swapped = [(k, b"TrentService.Encrypt" if k == b"x-amz-target" else v) for k, v in captured]
    for headers in (captured, swapped):
        status, reply = run(app, headers, body)
        assert (status, reply["__type"]) == (400, "IncompleteSignatureException")
        assert "x-amz-target" in reply["message"]
    assert backend.calls == []  # nothing reached the service
    # the content type is held to the same rule (unsigned when not sent is fine)
    target_only = signed("TrentService.Encrypt", body, minimal=SignTarget)
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
    assert _headers(raw) == expected
    assert _headers(iter(raw)) == expected  # any iterable, read once
