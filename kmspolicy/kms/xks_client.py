"""The client side of the XKS Proxy API (v1): what an external key store asks of its proxy.

Layer: kms (protocol logic over a port). ``XksClient`` builds the four requests, sends them
through an ``XksTransport`` (the adapter that signs with SigV4, service ``kms-xks-proxy``, and
speaks HTTPS: ``kmspolicy.store.xks_http``) and checks every answer as AWS KMS does: a JSON
object of the documented shape, IVs of 12 or 16 bytes, 16-byte tags, ciphertexts as long as
their plaintexts, at most 20 bytes of ciphertext metadata, and the ciphertext data integrity
value (CDIV) it always asks for. Anything else is an ``XksProxyFailure`` whose ``reason`` is
the proxy's ``errorName`` or one of ours (``UNREACHABLE``, ``TIMED_OUT``, ``TLS``,
``INVALID_RESPONSE``, ``UNAVAILABLE``); the service maps reasons to KMS's exceptions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "PROXY_ERROR_NAMES",
    "RequestMetadata",
    "XksClient",
    "XksKeyMetadata",
    "XksProxyFailure",
    "XksProxySettings",
    "XksSealed",
    "XksTransport",
    "XksUnreachable",
]

#: the error names of the specification's table: a proxy's answer naming another is malformed
PROXY_ERROR_NAMES = frozenset(
    {
        "ValidationException",
        "InvalidStateException",
        "InvalidCiphertextException",
        "InvalidKeyUsageException",
        "AuthenticationFailedException",
        "AccessDeniedException",
        "KeyNotFoundException",
        "InvalidUriPathException",
        "ThrottlingException",
        "UnsupportedOperationException",
        "DependencyTimeoutException",
        "InternalException",
    }
)
#: our own reasons, for failures that are not the proxy's answer
UNREACHABLE = "UNREACHABLE"  # no TCP connection, or it broke
TIMED_OUT = "TIMED_OUT"  # no answer in time
TLS = "TLS"  # the TLS handshake or the certificate failed
INVALID_RESPONSE = "INVALID_RESPONSE"  # an answer not of the documented shape
UNAVAILABLE = "UNAVAILABLE"  # GetHealthStatus: every external key manager is UNAVAILABLE

_IV_LENGTHS = (12, 16)
_TAG = 16
_METADATA_MAX = 20
_MAX_RESPONSE = 64 * 1024


class XksUnreachable(Exception):
    """Raised by a transport: ``kind`` is UNREACHABLE, TIMED_OUT or TLS; ``detail`` is for
    the log."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class XksProxyFailure(Exception):
    """A request the proxy did not fulfil. ``reason``: the proxy's ``errorName`` or one of
    this module's reasons; ``detail``: for the log (the proxy's message is never shown to a
    KMS caller, as AWS does not show it)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class XksProxySettings:
    """Where a key store's proxy is and how to sign in to it."""

    uri_endpoint: str  # https://host
    uri_path: str  # /<prefix>/kms/xks/v1
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"  # the SigV4 scope: the Region of the calling KMS


class ConnectionPool(Protocol):
    """Connections a transport keeps alive for one client (``XksTransport.pool``)."""

    def close(self) -> None: ...


class XksTransport(Protocol):
    """Sends one signed POST; returns (HTTP status, body) or raises XksUnreachable. With a
    ``pool`` (made by ``pool()``) it may reuse a connection of that pool, and keep its own."""

    def post(
        self,
        settings: XksProxySettings,
        path: str,
        body: bytes,
        pool: Any = None,
    ) -> tuple[int, bytes]: ...

    def pool(self) -> ConnectionPool: ...


@dataclass(frozen=True, slots=True)
class RequestMetadata:
    """``requestMetadata``: who asked KMS for what (sent with every key request)."""

    aws_principal_arn: str
    kms_operation: str
    kms_request_id: str
    kms_key_arn: str | None = None
    kms_via_service: str | None = None
    aws_source_vpc: str | None = None
    aws_source_vpce: str | None = None

    def wire(self) -> dict[str, str]:
        out = {
            "awsPrincipalArn": self.aws_principal_arn,
            "kmsOperation": self.kms_operation,
            "kmsRequestId": self.kms_request_id,
        }
        for name, value in (
            ("kmsKeyArn", self.kms_key_arn),
            ("kmsViaService", self.kms_via_service),
            ("awsSourceVpc", self.aws_source_vpc),
            ("awsSourceVpce", self.aws_source_vpce),
        ):
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class XksKeyMetadata:
    key_spec: str
    key_usage: tuple[str, ...]
    key_status: str


@dataclass(frozen=True, slots=True)
class XksSealed:
    """What the proxy's Encrypt returned (all of it goes into the ciphertext blob)."""

    ciphertext: bytes
    iv: bytes
    tag: bytes
    metadata: bytes = b""


class XksClient:
    """The four APIs of one proxy (a key store's ``Connection`` once its health is checked)."""

    def __init__(
        self, transport: XksTransport, settings: XksProxySettings, *, pooled: bool = False
    ) -> None:
        self._transport = transport
        self.settings = settings
        #: a key store's live client keeps its connections alive (bounded, closed with it);
        #: a one-off health check does not
        self._pool = transport.pool() if pooled else None

    def close(self) -> None:
        """Close the connections kept alive, if any; idempotent."""
        if self._pool is not None:
            self._pool.close()

    def health(self, request_id: str, operation: str) -> dict[str, Any]:
        """GetHealthStatus; UNAVAILABLE when every external key manager says so."""
        body = self._call(
            "/health", {"requestMetadata": {"kmsRequestId": request_id, "kmsOperation": operation}}
        )
        fleet = body.get("ekmFleetDetails")
        size = body.get("xksProxyFleetSize")
        if (
            not isinstance(fleet, list)
            or not 1 <= len(fleet) <= 10
            or not all(isinstance(e, dict) for e in fleet)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or size < 1
        ):
            raise XksProxyFailure(INVALID_RESPONSE, "GetHealthStatus answered another shape")
        statuses = {e.get("healthStatus") for e in fleet}
        if not statuses <= {"ACTIVE", "DEGRADED", "UNAVAILABLE"}:
            raise XksProxyFailure(INVALID_RESPONSE, "GetHealthStatus: unknown healthStatus")
        if statuses == {"UNAVAILABLE"}:
            raise XksProxyFailure(UNAVAILABLE, "every external key manager is UNAVAILABLE")
        return body

    def key_metadata(self, key_id: str, metadata: RequestMetadata) -> XksKeyMetadata:
        body = self._call(f"/keys/{key_id}/metadata", {"requestMetadata": metadata.wire()})
        spec, usage, status = body.get("keySpec"), body.get("keyUsage"), body.get("keyStatus")
        if (
            not isinstance(spec, str)
            or not isinstance(usage, list)
            or len(usage) > 10
            or not all(isinstance(u, str) for u in usage)
            or status not in ("ENABLED", "DISABLED")
        ):
            raise XksProxyFailure(INVALID_RESPONSE, "GetKeyMetadata answered another shape")
        return XksKeyMetadata(spec, tuple(usage), status)

    def encrypt(
        self, key_id: str, plaintext: bytes, aad: bytes, metadata: RequestMetadata
    ) -> XksSealed:
        body = self._call(
            f"/keys/{key_id}/encrypt",
            {
                "requestMetadata": metadata.wire(),
                "plaintext": _b64(plaintext),
                "additionalAuthenticatedData": _b64(aad),
                "encryptionAlgorithm": "AES_GCM",
                "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
            },
        )
        sealed = XksSealed(
            _unb64(body, "ciphertext"),
            _unb64(body, "initializationVector"),
            _unb64(body, "authenticationTag"),
            _unb64(body, "ciphertextMetadata", required=False),
        )
        if (
            len(sealed.ciphertext) != len(plaintext)
            or len(sealed.iv) not in _IV_LENGTHS
            or len(sealed.tag) != _TAG
            or len(sealed.metadata) > _METADATA_MAX
        ):
            raise XksProxyFailure(INVALID_RESPONSE, "Encrypt answered fields of wrong lengths")
        cdiv = _unb64(body, "ciphertextDataIntegrityValue")
        expected = hashlib.sha256(
            aad + sealed.metadata + sealed.iv + sealed.ciphertext + sealed.tag
        ).digest()
        if not hmac.compare_digest(cdiv, expected):
            raise XksProxyFailure(INVALID_RESPONSE, "the ciphertext data integrity value differs")
        return sealed

    def decrypt(
        self, key_id: str, sealed: XksSealed, aad: bytes, metadata: RequestMetadata
    ) -> bytes:
        request: dict[str, Any] = {
            "requestMetadata": metadata.wire(),
            "ciphertext": _b64(sealed.ciphertext),
            "additionalAuthenticatedData": _b64(aad),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": _b64(sealed.iv),
            "authenticationTag": _b64(sealed.tag),
        }
        if sealed.metadata:
            request["ciphertextMetadata"] = _b64(sealed.metadata)
        plaintext = _unb64(self._call(f"/keys/{key_id}/decrypt", request), "plaintext")
        if len(plaintext) != len(sealed.ciphertext):
            raise XksProxyFailure(INVALID_RESPONSE, "Decrypt answered a plaintext of wrong length")
        return plaintext

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            status, raw = self._transport.post(
                self.settings,
                self.settings.uri_path + path,
                json.dumps(body).encode(),
                pool=self._pool,
            )
        except XksUnreachable as exc:
            raise XksProxyFailure(exc.kind, exc.detail) from None
        if len(raw) > _MAX_RESPONSE:
            raise XksProxyFailure(INVALID_RESPONSE, f"a {len(raw)}-byte answer (HTTP {status})")
        try:
            answer = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            raise XksProxyFailure(INVALID_RESPONSE, f"HTTP {status} without a JSON object")
        if status == 200:
            return answer
        name = answer.get("errorName")
        if name not in PROXY_ERROR_NAMES:
            raise XksProxyFailure(INVALID_RESPONSE, f"HTTP {status} without a known errorName")
        message = answer.get("errorMessage")
        detail = f"HTTP {status}" + (f": {message[:200]!r}" if isinstance(message, str) else "")
        raise XksProxyFailure(str(name), detail)

    def __repr__(self) -> str:
        return f"XksClient({self.settings.uri_endpoint}{self.settings.uri_path})"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(body: Mapping[str, Any], name: str, *, required: bool = True) -> bytes:
    value = body.get(name)
    if value is None and not required:
        return b""
    if not isinstance(value, str):
        raise XksProxyFailure(INVALID_RESPONSE, f"the answer lacks `{name}`")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise XksProxyFailure(INVALID_RESPONSE, f"`{name}` is not Base64") from None
