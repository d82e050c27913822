"""The proxy's HTTP face: a raw ASGI app serving the XKS Proxy API v1 (``/<prefix>/kms/xks/v1``).

Layer: xks. Per request, in this order: route the path (``InvalidUriPathException``, 405 for
another method than POST on an API's URI), read the body within its bound, verify SigV4 with
service ``kms-xks-proxy`` and the configured region (``AuthenticationFailedException``), validate
the body (``wire``), authorize it (``policy``; never GetHealthStatus), find the key and check its
status and operations, then run the crypto. Every failure is a specification error as JSON
(``errorName``, ``errorMessage``); a bug is ``InternalException``, logged without the messages
it carries. One log line per request (``kmspolicy.xks``): the request metadata, the API, the
key, the outcome, the deciding statement of a denial and the time taken — never plaintext,
ciphertext or AAD.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from types import MappingProxyType
from typing import Any

from kmspolicy._version import __version__
from kmspolicy.crypto import xks as gcm
from kmspolicy.errors import ServiceError, log_safe_traceback
from kmspolicy.kms.clock import Clock
from kmspolicy.server.sigv4 import Credential, Verifier
from kmspolicy.xks import wire
from kmspolicy.xks.config import KEY_ID, ProxyConfig
from kmspolicy.xks.errors import (
    AuthenticationFailedException,
    InternalException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    InvalidStateException,
    InvalidUriPathException,
    KeyNotFoundException,
    MethodNotAllowed,
    UnsupportedOperationException,
    ValidationException,
    XksError,
)
from kmspolicy.xks.keys import KeyManager
from kmspolicy.xks.policy import SecondaryAuthorization

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SERVICE = "kms-xks-proxy"
#: a shallow, unauthenticated liveness check for load balancers (the specification asks for one)
PING_PATH = "/_kmspolicy/health"
_APIS = MappingProxyType({"metadata": "GetKeyMetadata", "encrypt": "Encrypt", "decrypt": "Decrypt"})

log = logging.getLogger("kmspolicy.xks")


class XksApp:
    """The ASGI application over one configuration and key manager."""

    def __init__(
        self,
        config: ProxyConfig,
        keys: KeyManager,
        clock: Clock,
        *,
        blocking: bool = False,
    ) -> None:
        self._config = config
        self._keys = keys
        self._clock = clock
        #: run the key manager's calls in a worker thread (a PKCS#11 token blocks)
        self._blocking = blocking
        self._base = config.base_path + "/"
        self._verifier: Verifier[str] = Verifier(
            lambda key_id: _credential(config, key_id),
            service=SERVICE,
            regions=(config.region,),
            signed_when_sent=(),
        )
        self._authz = SecondaryAuthorization(config.policies, config.region)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope.get("path", "/")
        entry: dict[str, Any] = {"client": (scope.get("client") or ("-", 0))[0]}
        if path == PING_PATH and scope["method"] in ("GET", "HEAD"):
            await _drain(receive)
            await _respond(send, 200, b'{"status":"ok"}')
            return
        try:
            api, key_id = self._route(path)
            entry.update(api=api, keyId=key_id)
            if scope["method"] != "POST":
                await _drain(receive)
                raise MethodNotAllowed(f"{api} accepts only POST")
            headers = _headers(scope)
            body = await _read_body(receive, headers)
            try:
                verified = self._verifier.verify(
                    "POST",
                    scope.get("raw_path", b"/").decode("latin-1") or "/",
                    scope.get("query_string", b"").decode("latin-1"),
                    headers,
                    body,
                    self._clock.now(),
                )
            except ServiceError as exc:
                raise AuthenticationFailedException(
                    "the request signature could not be verified", cause=exc.cause or exc.message
                ) from None
            entry["accessKeyId"] = verified.credential.access_key_id
            if self._blocking:
                status, payload = await asyncio.to_thread(self._dispatch, api, key_id, body, entry)
            else:
                status, payload = self._dispatch(api, key_id, body, entry)
        except XksError as exc:
            status, payload = exc.status, exc.body()
            entry["error"] = exc.name
            if exc.cause is not None:
                entry["cause"] = exc.cause
        except Exception as exc:
            # INVARIANT: a bug is InternalException, its traceback logged without the messages
            # (they may quote what the caller sent)
            log.error("internal error\n%s", log_safe_traceback(exc))
            error = InternalException("the proxy failed to process the request")
            status, payload = error.status, error.body()
            entry["error"] = error.name
        entry["status"] = status
        entry["ms"] = round((time.perf_counter() - started) * 1000, 3)
        log.info("%s", json.dumps(entry, separators=(",", ":")))
        await _respond(send, status, json.dumps(payload, separators=(",", ":")).encode())

    def _route(self, path: str) -> tuple[str, str]:
        """(API name, external key id or "") of an API's URI, else InvalidUriPathException."""
        if path.startswith(self._base):
            rest = path[len(self._base) :]
            if rest == "health":
                return "GetHealthStatus", ""
            parts = rest.split("/")
            if (
                len(parts) == 3
                and parts[0] == "keys"
                and parts[2] in _APIS
                and KEY_ID.fullmatch(parts[1])
            ):
                return _APIS[parts[2]], parts[1]
        raise InvalidUriPathException(
            "the URI path is not an API of this proxy "
            "(<prefix>/kms/xks/v1/health or .../keys/<key id>/metadata|encrypt|decrypt)"
        )

    # --- the APIs (run in a worker thread when the key manager blocks)

    def _dispatch(
        self, api: str, key_id: str, body: bytes, entry: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if api == "GetHealthStatus":
            entry.update(wire.health_metadata(body).values)
            return 200, self._health()
        decoded = wire.decode_body(body)
        metadata = wire.request_metadata(decoded, api=api)
        entry.update(metadata.values)
        request: wire.EncryptRequest | wire.DecryptRequest | None = None
        if api == "Encrypt":
            request = wire.encrypt_request(decoded)
        elif api == "Decrypt":
            request = wire.decrypt_request(decoded)
        # INVARIANT: authorization before the key is looked up or used
        decision = self._authz.check(metadata, api=api, key_id=key_id, time=self._clock.now())
        if decision is not None:
            stmt = decision.matched_statements
            entry["decision"] = f"allowed by {stmt[0].label()}" if stmt else "allowed"
        key = self._config.keys.get(key_id)
        if key is None:
            raise KeyNotFoundException(f"no external key `{key_id}` in this proxy")
        if api == "GetKeyMetadata":
            usage = [op.upper() for op in ("encrypt", "decrypt") if op in key.operations]
            return 200, {
                "keySpec": "AES_256",
                "keyUsage": usage,
                "keyStatus": "ENABLED" if key.enabled else "DISABLED",
            }
        if not key.enabled:
            raise InvalidStateException(f"the external key `{key_id}` is disabled")
        if api.lower() not in key.operations:
            raise InvalidKeyUsageException(f"the external key `{key_id}` does not allow {api}")
        if isinstance(request, wire.EncryptRequest):
            return 200, self._encrypt(key_id, request)
        assert isinstance(request, wire.DecryptRequest)
        try:
            plaintext = self._keys.decrypt(
                key_id, request.iv, request.ciphertext, request.tag, request.aad, request.metadata
            )
        except gcm.XksDecryptError:
            raise InvalidCiphertextException(
                "the ciphertext, initialization vector, tag, AAD or ciphertext metadata do not "
                "match"
            ) from None
        return 200, {"plaintext": wire.b64(plaintext)}

    def _encrypt(self, key_id: str, request: wire.EncryptRequest) -> dict[str, Any]:
        iv, ciphertext, tag = self._keys.encrypt(key_id, request.plaintext, request.aad, b"")
        out = {
            "ciphertext": wire.b64(ciphertext),
            "initializationVector": wire.b64(iv),
            "authenticationTag": wire.b64(tag),
        }
        if request.cdiv:
            # Appendix C's order: the CDIV over the output as produced, then a decrypt proving
            # that this output opens (a bit flip after the hash would otherwise go unnoticed)
            value = gcm.cdiv(request.aad, b"", iv, ciphertext, tag)
            try:
                check = self._keys.decrypt(key_id, iv, ciphertext, tag, request.aad, b"")
            except gcm.XksDecryptError:
                check = None
            if check != request.plaintext:
                raise InternalException("the key manager's ciphertext did not decrypt; retry")
            out["ciphertextDataIntegrityValue"] = wire.b64(value)
        return out

    def _health(self) -> dict[str, Any]:
        vendor, ekm_id, model = self._keys.ekm
        try:
            self._keys.self_test()
        except Exception as exc:
            log.error("health check failed: %s", type(exc).__name__)
            raise InternalException("the external key manager failed its health check") from None
        return {
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "kmspolicy",
            "xksProxyModel": f"kmspolicy xks-proxy {__version__}",
            "ekmVendor": vendor,
            "ekmFleetDetails": [{"id": ekm_id, "model": model, "healthStatus": "ACTIVE"}],
        }


def _credential(config: ProxyConfig, access_key_id: str) -> Credential[str] | None:
    secret = config.credentials.get(access_key_id)
    if secret is None:
        return None
    return Credential(access_key_id, secret, access_key_id)


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        known = out.get(name)
        out[name] = value if known is None else f"{known},{value}"
    return out


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length")
    too_large = UnsupportedOperationException(
        f"the request body is larger than {wire.MAX_BODY} bytes"
    )
    if declared is not None and (not declared.isdigit() or int(declared) > wire.MAX_BODY):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValidationException("the connection closed before the whole body arrived")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > wire.MAX_BODY:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _respond(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
