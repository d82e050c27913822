"""The HTTP face of the service: a raw ASGI app speaking AWS JSON 1.1 (``TrentService.*``).

Layer: server (adapter). Frames the request (method, path, target, size), authenticates it with
SigV4, adds the transport facts (``aws:SecureTransport``, ``aws:SourceIp``; the time keys come
from the pipeline's clock reading, through ``authz.Request``) and hands the body to a
``Backend`` — which decodes, authorizes and runs it through the service pipeline. Business
rules live below; this module only maps failures to AWS error names: a bug becomes
``KMSInternalException`` (logged), never a bare 500 page. One access-log line per request (no
secrets, plaintext or ciphertext). A raw ASGI callable keeps the per-request cost to a few dict
lookups; uvicorn (httptools + uvloop) carries keep-alive and TLS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from kmspolicy.errors import (
    KMSInternalException,
    RequestEntityTooLargeException,
    SerializationException,
    ServiceError,
    UnknownOperationException,
    log_safe_traceback,
)
from kmspolicy.kms import wire
from kmspolicy.kms.clock import Clock
from kmspolicy.kms.ports import RunInThread
from kmspolicy.kms.request_ids import RequestIds
from kmspolicy.server.sigv4 import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

P = TypeVar("P")

CONTENT_TYPE = b"application/x-amz-json-1.1"
MAX_BODY = 512 * 1024  # the largest KMS request (a 32 KB policy, escaped) fits many times over
DEV_PREFIX = "/_kmspolicy/"

access_log = logging.getLogger("kmspolicy.access")
error_log = logging.getLogger("kmspolicy.server")
#: why a request was not authenticated: the wire answer is AWS's; the cause is written here
auth_log = logging.getLogger("kmspolicy.auth")


class Call(NamedTuple, Generic[P]):
    """One authenticated KMS request, as the backend receives it (a tuple: made once per
    request, half the cost of a frozen dataclass)."""

    operation: str
    body: bytes
    principal: P
    region: str
    context: Mapping[str, object]
    request_id: str
    #: a call begun on the event loop that raised ``RunInThread``, run again in a worker
    #: thread: the backend has already counted it against its request quotas
    rerun: bool = False
    #: the app's clock (the service's: one clock per server) as read for SigV4, for a call run
    #: at once; None for one run later, in a worker thread, which reads the time itself
    now: datetime | None = None


class Reply(NamedTuple):
    """What the backend answers: a JSON body and, for the access log, who called."""

    body: bytes
    principal_arn: str = ""


class Backend(Protocol[P]):
    """The service seen from the wire: decode, authorize, perform, encode."""

    def operations(self) -> frozenset[str]: ...

    def offload(self, operation: str) -> bool:
        """Whether ``operation`` may block (run it in a worker thread, not on the loop); a call
        run on the loop may still raise ``RunInThread`` to be run in a thread after all."""

    def call(self, call: Call[P]) -> Reply:
        """Run the call and return the encoded response; raise a ServiceError to refuse."""

    def encode_error(self, error: ServiceError) -> bytes: ...

    def principal_arn(self, principal: P) -> str: ...


@dataclass(slots=True)
class AppOptions:
    max_body: int = MAX_BODY
    dev: bool = False
    reset: Callable[[], None] | None = None  # the --dev state reset
    sweep: Callable[[], None] | None = None  # due lifecycle work, run periodically
    sweep_interval: float = 30.0
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)
    #: GET /_kmspolicy/health: (ready, report); blocking (store, HSM), run in a worker thread
    health: Callable[[], tuple[bool, dict[str, Any]]] | None = None
    #: the request-id scheme (``kms.request_ids``); ``serve`` passes its service's, so the ids
    #: on the wire and in the audit log come from the same place as the in-process client's
    request_ids: Callable[[], str] = field(default_factory=lambda: RequestIds(os.urandom))
    #: the web console (``server.console``), mounted under /console when set
    console: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None


class _Refused(Exception):
    """A request rejected before the backend, with the AWS error to send (and its status,
    when the transport answers differently from the error's usual one)."""

    def __init__(self, error: ServiceError, status: int | None = None) -> None:
        self.error = error
        self.status = status or error.http_status


class _Exchange:
    """One request as its answer and access line need it, filled in as it is understood."""

    __slots__ = ("client", "operation", "principal_arn", "region", "request_id", "size", "started")

    def __init__(self, started: float, request_id: str, client: tuple[str, int] | None) -> None:
        self.started = started
        self.request_id = request_id
        self.client = client
        self.operation = ""
        self.region = "-"
        self.principal_arn = "-"
        self.size = 0


class KmsApp(Generic[P]):
    """The ASGI application. ``verifier`` authenticates, ``backend`` does the work."""

    def __init__(
        self,
        backend: Backend[P],
        verifier: Verifier[P],
        clock: Clock,
        options: AppOptions | None = None,
    ) -> None:
        self._backend = backend
        self._verifier = verifier
        self._clock = clock
        self._options = options or AppOptions()
        self._operations = backend.operations()
        #: each operation's ``X-Amz-Target`` value (anything else: wire.operation_from_target
        #: says why it names no operation)
        self._targets = {wire.TARGET_PREFIX + name: name for name in self._operations}
        self._sweeper: asyncio.Task[None] | None = None
        self._access_line: Callable[[str], None] | None = None

    def write_access_lines_with(self, writer: Callable[[str], None]) -> None:
        """Hand access lines (complete, without newline) to ``writer`` instead of building a
        ``LogRecord`` per line; ``serve`` installs a writer in its log handler's format."""
        self._access_line = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Under a server that upgrades (``kmspolicy serve`` does not): closing before the
            # handshake is accepted answers the upgrade with HTTP 403, never a 500.
            await send({"type": "websocket.close", "code": 1008})

    # --- lifespan: the periodic lifecycle sweeper

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._options.sweep is not None:
                    self._sweeper = asyncio.create_task(self._sweep_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sweeper is not None:
                    self._sweeper.cancel()
                for hook in self._options.on_shutdown:
                    hook()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _sweep_forever(self) -> None:
        sweep = self._options.sweep
        assert sweep is not None
        while True:
            try:
                # A thread: a sweep reads every key and must not stall requests meanwhile.
                await asyncio.to_thread(sweep)
            except Exception as exc:
                error_log.error(
                    "lifecycle sweep failed; retrying next interval\n%s", log_safe_traceback(exc)
                )
            await asyncio.sleep(self._options.sweep_interval)

    # --- http

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = _Exchange(time.perf_counter(), self._options.request_ids(), scope.get("client"))
        headers = _headers(scope.get("headers", ()))
        try:
            path = scope.get("path", "/")
            if self._options.console is not None and (
                path == "/console" or path.startswith("/console/")
            ):
                await self._options.console(scope, receive, send)
                return
            if path.startswith(DEV_PREFIX):
                status, payload = await self._dev(scope, receive, path)
                await _respond(send, status, payload, exchange.request_id, b"application/json")
                return
            body = await _read_body(scope, receive, headers, self._options.max_body)
            exchange.size = len(body)
            answer = self._answer(
                exchange,
                scope["method"],
                scope.get("raw_path", b"/").decode("latin-1") or "/",
                scope.get("query_string", b"").decode("latin-1"),
                path,
                headers,
                body,
                scope.get("scheme"),
            )
        except Exception as exc:
            answer = self._answered(exchange, *self._failure(exchange, exc))
        if isinstance(answer, tuple):
            status, payload, request_id = answer
            await _respond(send, status, payload, request_id, CONTENT_TYPE)
        else:  # a worker thread's call
            await answer(scope, receive, send)

    # --- http, straight from the HTTP protocol (server/protocol.py), without an ASGI cycle

    def answers_directly(self, headers: dict[str, str]) -> bool:
        """Whether a ``POST /`` with these headers may be answered by ``answer`` (the protocol
        checks the rest): its whole body is declared, within the limit. A body over the limit,
        a chunked one or none declared take the ASGI path, which refuses or reads them."""
        declared = headers.get("content-length")
        return (
            declared is not None
            and declared.isdigit()
            and int(declared) <= self._options.max_body
            and "transfer-encoding" not in headers
        )

    def answer(
        self,
        headers: dict[str, str],
        body: bytes,
        client: tuple[str, int] | None,
        scheme: str | None,
        started: float,
    ) -> tuple[int, bytes, str] | Callable[[Scope, Receive, Send], Awaitable[None]]:
        """Answer a complete ``POST /`` exactly as ``_http`` would: ``(status, body, request
        id)``, the access line already written; or, for a call that must run in a worker
        thread, an ASGI callable that runs it and sends the answer (the protocol gives it an
        ordinary response cycle)."""
        exchange = _Exchange(started, self._options.request_ids(), client)
        exchange.size = len(body)
        return self._answer(exchange, "POST", "/", "", "/", headers, body, scheme)

    def cut_short(self, client: tuple[str, int] | None, received: int, started: float) -> None:
        """The access line of a request whose connection closed before its body was read (the
        client left, or the read deadline closed it), as ``_http`` writes it."""
        exchange = _Exchange(started, self._options.request_ids(), client)
        status, error_code, payload = self._failure(exchange, _cut_short(received))
        self._log(exchange, status, error_code, len(payload))

    # --- the request, whichever path it came by

    def _answer(
        self,
        exchange: _Exchange,
        method: str,
        raw_path: str,
        query: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        scheme: str | None,
    ) -> tuple[int, bytes, str] | Callable[[Scope, Receive, Send], Awaitable[None]]:
        """``answer``'s result for a request whose body has been read (both paths)."""
        try:
            call = self._prepare(exchange, method, raw_path, query, path, headers, body, scheme)
            if self._backend.offload(call.operation):
                return partial(self._answer_in_thread, exchange, call._replace(now=None))
            try:
                reply = self._backend.call(call)
            except RunInThread:  # it must write after all: off the loop (backend.py)
                later = call._replace(rerun=True, now=None)
                return partial(self._answer_in_thread, exchange, later)
            status, error_code, payload = 200, "", reply.body
        except Exception as exc:
            status, error_code, payload = self._failure(exchange, exc)
        return self._answered(exchange, status, error_code, payload)

    async def _answer_in_thread(
        self, exchange: _Exchange, call: Call[P], scope: Scope, receive: Receive, send: Send
    ) -> None:
        try:
            reply = await asyncio.to_thread(self._backend.call, call)
            status, error_code, payload = 200, "", reply.body
        except Exception as exc:
            status, error_code, payload = self._failure(exchange, exc)
        status, payload, request_id = self._answered(exchange, status, error_code, payload)
        await _respond(send, status, payload, request_id, CONTENT_TYPE)

    def _answered(
        self, exchange: _Exchange, status: int, error_code: str, payload: bytes
    ) -> tuple[int, bytes, str]:
        """The answer, its access line written first (a client that has its answer can rely
        on the line being in the log)."""
        self._log(exchange, status, error_code, len(payload))
        return status, payload, exchange.request_id

    def _prepare(
        self,
        exchange: _Exchange,
        method: str,
        raw_path: str,
        query: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        scheme: str | None,
    ) -> Call[P]:
        """Frame and authenticate the request: the call for the backend, or raise."""
        operation = exchange.operation = _operation(path, headers, self._targets, self._operations)
        now = self._clock.now()  # the request's one reading: SigV4's, and the service's
        verified = self._verifier.verify(method, raw_path, query, headers, body, now)
        region = exchange.region = verified.region
        principal = verified.credential.principal
        exchange.principal_arn = self._backend.principal_arn(principal)
        context = _transport_context(scheme, exchange.client, region)
        # (a NamedTuple's __new__ is a Python function: 1 k instructions more per request)
        request_id = exchange.request_id
        return tuple.__new__(
            Call, (operation, body, principal, region, context, request_id, False, now)
        )

    def _failure(self, exchange: _Exchange, exc: Exception) -> tuple[int, str, bytes]:
        """The answer to a request that failed: status, AWS error code, body."""
        if isinstance(exc, _Refused):
            return exc.status, exc.error.code, self._backend.encode_error(exc.error)
        if isinstance(exc, ServiceError):
            if exc.cause is not None:
                client = (exchange.client or ("-", 0))[0]
                auth_log.warning(
                    "%s from %s (request %s): %s", exc.code, client, exchange.request_id, exc.cause
                )
            return exc.http_status, exc.code, self._backend.encode_error(exc)
        # INVARIANT: a bug answers KMSInternalException, logged with its traceback; the
        # messages in it are withheld (they may quote what the caller sent: docs/server.md)
        error_log.error(
            "internal error in %s (request %s)\n%s",
            exchange.operation or "-",
            exchange.request_id,
            log_safe_traceback(exc),
        )
        internal = KMSInternalException(
            f"the server failed to process the request; request id {exchange.request_id}"
        )
        return internal.http_status, internal.code, self._backend.encode_error(internal)

    def _log(self, exchange: _Exchange, status: int, error_code: str, size: int) -> None:
        # The access line is written before the answer is sent: a client that has its answer
        # can rely on the line being in the log (the time measured excludes the send).
        if not access_log.isEnabledFor(logging.INFO):  # the answer is cached by logging
            return
        client = exchange.client or ("-", 0)
        elapsed = (time.perf_counter() - exchange.started) * 1000
        line = (
            f"{client[0]} {exchange.request_id} {exchange.operation or '-'} {exchange.region} "
            f"{exchange.principal_arn} {status} {error_code or '-'} {exchange.size} {size} "
            f"{elapsed:.2f}ms"
        )
        if self._access_line is not None:
            self._access_line(line)
        else:
            # Handed to the handlers directly: Logger.info would walk the stack for the
            # caller's file and line (findCaller), which nobody reads for this logger.
            access_log.handle(
                access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, line, (), None)
            )

    async def _dev(self, scope: Scope, receive: Receive, path: str) -> tuple[int, bytes]:
        await _drain(receive)
        if path == DEV_PREFIX + "health" and scope["method"] == "GET":
            ready = True
            report: dict[str, Any] = {"status": "ok", "ready": True}
            if self._options.health is not None:
                ready, report = await asyncio.to_thread(self._options.health)
                if not self._signed(scope):
                    report = public_health(report)
            report["operations"] = sorted(self._operations)
            return (200 if ready else 503), json.dumps(report).encode()
        if path == DEV_PREFIX + "reset" and scope["method"] == "POST":
            if not self._options.dev or self._options.reset is None:
                return 403, _json_error(
                    "AccessDeniedException",
                    "the state-reset endpoint is disabled; start the server with --dev",
                )
            await asyncio.to_thread(self._options.reset)  # deletes every key: off the loop
            access_log.warning("dev reset: all keys, aliases and grants were deleted")
            return 200, b'{"reset": true}'
        return 404, _json_error("UnknownOperationException", f"no such endpoint `{path}`")

    def _signed(self, scope: Scope) -> bool:
        """Whether a request carries a valid SigV4 signature of a known identity (any)."""
        headers = _headers(scope.get("headers", ()))
        if "authorization" not in headers:
            return False
        try:
            self._verifier.verify(
                scope["method"],
                scope.get("raw_path", b"/").decode("latin-1") or "/",
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                b"",
                self._clock.now(),
            )
        except ServiceError:
            return False
        return True


def public_health(report: dict[str, Any]) -> dict[str, Any]:
    """The health report for a caller who did not sign the request: whether each check passed,
    never what it checked (store URL, file paths, error texts name the deployment's insides)."""
    checks = report.get("checks", {})
    return {
        **{k: report[k] for k in ("status", "ready", "version") if k in report},
        "checks": {name: {"ok": check.get("ok", False)} for name, check in checks.items()},
    }


def transport_context(scope: Mapping[str, Any], region: str) -> dict[str, object]:
    """The condition keys the transport gives a request (the API's and the console's)."""
    return _transport_context(scope.get("scheme"), scope.get("client"), region)


def _transport_context(
    scheme: str | None, client: tuple[str, int] | None, region: str
) -> dict[str, object]:
    # No aws:CurrentTime/aws:EpochTime here: authz.Request derives them from the time the
    # pipeline reads from the clock. In the context they would also change the decision
    # memo's key every second (the memo keys on the whole request context).
    context: dict[str, object] = {
        "aws:SecureTransport": scheme == "https",
        "aws:RequestedRegion": region,
    }
    if client:
        context["aws:SourceIp"] = client[0]
    return context


def _json_error(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()


#: the header names AWS SDKs send, as they spell them (botocore and most: ``Content-Type``; the
#: JavaScript SDK and uvicorn's list: ``content-type``), and as the app reads them: looked up
#: (by the protocol's on_header and by ``_headers``), where any other name is lower-cased and
#: decoded. A lookup function, not a mapping: a ``MappingProxyType``'s
#: ``get`` calls its dict's ``get`` as a method (0.66 k instructions more per header, a tenth
#: of the protocol's per request); nothing but this bound method holds the dict, so it is as
#: read-only as the proxy was
_known_name: Callable[[bytes], str | None] = {
    spelling.encode("latin-1"): name
    for name in (
        "host",
        "content-type",
        "content-length",
        "x-amz-target",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "x-amz-user-agent",
        "authorization",
        "user-agent",
        "accept",
        "accept-encoding",
        "connection",
        "expect",
        "transfer-encoding",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
    )
    for spelling in (name, "-".join(part.capitalize() for part in name.split("-")))
}.get


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """A request's headers (ASGI's list of pairs) as one dict, names lower-cased."""
    if not isinstance(raw, list | tuple):  # any iterable, says ASGI: read it once
        raw = list(raw)
    known = _known_name
    out = {
        known(name) or name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in raw
    }
    if len(out) == len(raw):
        return out
    # a header repeated: its values joined in order, as SigV4 canonicalises them — once per
    # name (joining as they come copies the value so far for each repeat: quadratic)
    values: dict[str, list[str]] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        values.setdefault(name, []).append(raw_value.decode("latin-1"))
    return {name: ",".join(parts) for name, parts in values.items()}


async def _read_body(
    scope: Scope, receive: Receive, headers: Mapping[str, str], limit: int
) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _Refused(_too_large(limit))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _cut_short(size)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(_too_large(limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if scope["method"] != "POST":
        raise _Refused(
            UnknownOperationException("KMS accepts only POST / with an X-Amz-Target header")
        )
    return b"".join(chunks)


def _cut_short(received: int) -> _Refused:
    # The client left (or the read deadline closed the connection, see protocol.py) before
    # the whole body arrived: nothing to decode, and nobody to answer.
    return _Refused(
        SerializationException(f"the connection closed after {received} bytes of the request body")
    )


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


def _too_large(limit: int) -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(
        f"Request body must be at most {limit} bytes; KMS requests are small"
    )


def _operation(
    path: str, headers: Mapping[str, str], targets: Mapping[str, str], operations: frozenset[str]
) -> str:
    if path != "/":
        # The AWS JSON protocols are served at POST / only; a request elsewhere is claimed by
        # no operation, which AWS front ends answer with UnknownOperationException (404).
        raise _Refused(
            UnknownOperationException(
                f"no KMS operation at path `{path[:80]}`: the AWS JSON 1.1 protocol is served "
                "at POST / (the operation is named by X-Amz-Target)"
            ),
            status=404,
        )
    target = headers.get("x-amz-target")
    name = targets.get(target) if target is not None else None
    if name is None:
        try:
            name = wire.operation_from_target(target, operations)
        except UnknownOperationException as unknown:
            raise _Refused(unknown) from None
    content_type = headers.get("content-type", "")
    if content_type and not content_type.startswith(("application/x-amz-json", "application/json")):
        raise _Refused(
            SerializationException(
                f"unsupported Content-Type `{content_type[:60]}`; use application/x-amz-json-1.1"
            )
        )
    return name


async def _respond(send: Send, status: int, payload: bytes, request_id: str, ctype: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(payload)).encode()),
                (b"x-amzn-requestid", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
