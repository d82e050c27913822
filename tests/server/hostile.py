"""Helpers for sending hostile requests to a real ``kmspolicy serve`` and judging the answers:
signed raw requests, a snapshot of everything a caller can observe, and the audit log."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.server.conftest import ALICE, SECRETS, Server

# Errors that can be raised before the pipeline decides anything (framing, signature,
# decoding, operation validation, resolving the key a request names): these may leave no
# audit record. Every other answer comes from a decision and must be recorded.
UNDECIDED = frozenset(
    {
        "NotFoundException",
        "InvalidArnException",
        "InvalidAliasNameException",
        "InvalidCiphertextException",
        "InvalidGrantTokenException",
        "InvalidGrantIdException",
        "InvalidMarkerException",
        "SerializationException",
        "ValidationException",
        "UnknownOperationException",
        "UnsupportedOperationException",
        "CustomKeyStoreNotFoundException",  # CustomKeyStoreId: refused by operation validation
        "ThrottlingException",  # request quotas are checked before anything is decided
        "RequestEntityTooLargeException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    }
)


@dataclass
class Answer:
    status: int
    body: bytes
    request_id: str

    @property
    def error(self) -> str | None:
        if self.status == 200:
            return None
        try:
            return str(json.loads(self.body)["__type"])
        except (ValueError, KeyError, TypeError):
            return None


class Sender:
    """Signed raw requests on one keep-alive connection (reopened when the server closes it)."""

    def __init__(self, server: Server, access_key: str = ALICE) -> None:
        self.server = server
        self.access_key = access_key
        parts = urlsplit(server.url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def headers(
        self, target: str, body: bytes, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        base = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
        req = AWSRequest(method="POST", url=self.server.url + "/", data=body, headers=base)
        secret = SECRETS[self.access_key]["secret_access_key"]
        SigV4Auth(Credentials(self.access_key, secret), "kms", "us-east-1").add_auth(req)
        return {**dict(req.prepare().headers), **(extra or {})}

    def send(self, operation: str, body: bytes, extra: dict[str, str] | None = None) -> Answer:
        return self.raw("POST", "/", body, self.headers(f"TrentService.{operation}", body, extra))

    def raw(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
                payload = resp.read()
            except (ConnectionError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
                continue
            if resp.getheader("connection", "").lower() == "close":
                self._conn.close()
                self._conn = None
            return Answer(resp.status, payload, resp.getheader("x-amzn-requestid") or "")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def snapshot(kms: Any) -> Any:
    """Everything a caller can observe about the account's keys, aliases and grants."""
    keys = sorted(k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"])
    state = []
    for key in keys:
        meta = kms.describe_key(KeyId=key)["KeyMetadata"]
        state.append(
            (
                key,
                meta["KeyState"],
                meta.get("Description"),
                meta.get("ValidTo"),
                meta.get("DeletionDate"),
                sorted(
                    (t["TagKey"], t["TagValue"]) for t in kms.list_resource_tags(KeyId=key)["Tags"]
                ),
                sorted(g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]),
                kms.get_key_policy(KeyId=key)["Policy"],
            )
        )
    aliases = sorted(
        (a["AliasName"], a.get("TargetKeyId")) for a in kms.list_aliases(Limit=100)["Aliases"]
    )
    return state, aliases


def audit_records(server: Server) -> dict[str, dict[str, Any]]:
    """The server's audit records by request id (the log is flushed before each reply)."""
    out: dict[str, dict[str, Any]] = {}
    with (server.data_dir / "audit.log").open("rb") as log:
        for line in log:
            record = json.loads(line)
            out[record["request_id"]] = record
    return out


def check_answer(answer: Answer, records: dict[str, dict[str, Any]], what: object) -> None:
    """An AWS error or success, never a 500; a decision whenever one was made is recorded."""
    recorded = records.get(answer.request_id)
    if answer.status == 500 or answer.error not in UNDECIDED:
        # a success, a denial, a state or key error, or a crash after a decision: recorded
        assert recorded is not None, ("no audit record", answer, what)
    assert answer.status != 500, (answer, what)
    if answer.status == 200:
        assert recorded is not None and recorded["allowed"] is True, (recorded, what)
        return
    assert 400 <= answer.status < 500, (answer, what)
    assert answer.error, (answer, what)
    if answer.error == "AccessDeniedException":
        assert recorded is not None and recorded["allowed"] is False, (recorded, what)
