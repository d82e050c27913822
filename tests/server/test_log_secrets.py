"""Nothing a caller sends reaches the server's log (issue 12 item 9): a marker sent through
every member of refused and failing requests is never found in stderr, and encryption-context
values never in the audit log (docs/server.md lists what is logged)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmspolicy.errors import InternalError, log_safe_traceback
from kmspolicy.kms import wire
from tests.server.conftest import NOBODY, Server

pytestmark = pytest.mark.server

MARKER = "Zq7secretMARKERvalue"
OPERATIONS = [
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "CreateGrant",
    "CreateAlias",
    "TagResource",
    "CreateKey",
    "PutKeyPolicy",
    "RetireGrant",
    "ListRetirableGrants",
    "UpdateKeyDescription",
]


def _fill(shape: Any, depth: int = 0) -> Any:
    """A value for every member of ``shape`` carrying the marker (as text, key or bytes)."""
    kind = shape.type_name
    if kind == "string":
        return shape.enum[0] if shape.enum else f"alias/{MARKER}"
    if kind == "blob":
        return MARKER.encode() * 3
    if kind == "structure":
        return {name: _fill(member, depth + 1) for name, member in shape.members.items()}
    if kind == "list":
        return [_fill(shape.member, depth + 1)]
    if kind == "map":
        return {MARKER: MARKER}
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return False
    return None


def _params(operation: str) -> dict[str, Any]:
    shape = wire.service_model().operation_model(operation).input_shape
    filled = _fill(shape)
    return {k: v for k, v in filled.items() if v is not None and k != "DryRun"}


@pytest.mark.parametrize("who", ["alice", "nobody"])
def test_a_marker_in_every_member_never_reaches_stderr(fresh: Server, who: str) -> None:
    client = fresh.client() if who == "alice" else fresh.client(NOBODY)
    key = fresh.client().create_key()["KeyMetadata"]
    before = fresh.access_log()
    refused = 0
    for operation in OPERATIONS:
        params = _params(operation)
        for member in ("KeyId", "DestinationKeyId", "TargetKeyId"):
            if member in params:  # a real key too, so that refusals come from deeper in
                params[member] = key["Arn"]
        try:
            getattr(client, _snake(operation))(**params)
        except ClientError:
            refused += 1
    assert refused >= len(OPERATIONS) // 2  # refused by validation, denial, not found...
    logged = fresh.access_log()[len(before) :]
    assert logged.count("kmspolicy.access") >= len(OPERATIONS)
    assert MARKER not in logged, logged


def test_encryption_context_values_never_reach_the_audit_log(fresh: Server) -> None:
    alice = fresh.client()
    key_id = alice.create_key()["KeyMetadata"]["KeyId"]
    secret = "Vx9contextVALUEonly"  # a value only: context KEYS are recorded in clear
    context = {"tenant": secret}
    blob = alice.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=context)
    with pytest.raises(ClientError):
        fresh.client(NOBODY).decrypt(
            CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=context
        )
    audit = (fresh.data_dir / "audit.log").read_text()
    assert '"kms:EncryptionContext:tenant"' in audit  # the key is recorded, the value is not
    assert secret not in audit


def test_an_internal_error_is_logged_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    """A bug's exception message may quote request data (the original leak: a context value
    inside an internal error's text). The traceback is logged, the messages are withheld."""
    from tests.server.asgi import make_app, run, signed

    app, backend = make_app()

    def boom(call: Any) -> Any:
        try:
            json.loads(call.body)["EncryptionContext"]["missing"]
        except KeyError as exc:
            raise InternalError(f"context {call.body.decode()} broke") from exc

    backend.call = boom  # type: ignore[method-assign]
    body = json.dumps({"KeyId": "k", "EncryptionContext": {MARKER: MARKER}}).encode()
    with caplog.at_level(logging.ERROR, logger="kmspolicy.server"):
        status, reply = run(app, signed("TrentService.Encrypt", body), body)
    assert (status, reply["__type"]) == (500, "KMSInternalException")
    text = caplog.text
    assert "Traceback (most recent call last)" in text and "in boom" in text
    assert "builtins.KeyError" in text and "kmspolicy.errors.InternalError" in text
    assert MARKER not in text and MARKER not in reply["message"]


def test_log_safe_traceback_withholds_every_message_of_the_chain() -> None:
    try:
        try:
            raise ValueError(MARKER)
        except ValueError:
            raise RuntimeError(f"while handling {MARKER}") from None
    except RuntimeError as exc:
        suppressed = log_safe_traceback(exc)
    assert MARKER not in suppressed and "builtins.RuntimeError" in suppressed
    assert "ValueError" not in suppressed  # `from None` hides the context, as Python prints it
    try:
        try:
            raise ValueError(MARKER)
        except ValueError as inner:
            raise RuntimeError(MARKER) from inner
    except RuntimeError as exc:
        chained = log_safe_traceback(exc)
    assert MARKER not in chained
    assert chained.index("builtins.ValueError") < chained.index("builtins.RuntimeError")


def test_the_serve_log_format_withholds_exception_messages() -> None:
    from kmspolicy.server.main import _Formatter

    try:
        raise KeyError(MARKER)
    except KeyError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "boom", (), None)
        record.exc_info = sys.exc_info()
    line = _Formatter().format(record)
    assert "builtins.KeyError" in line and MARKER not in line


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
