"""A real botocore KMS client whose requests are served in-process, without a socket.

Layer: kms (an adapter for library users and tests). The client is botocore's own: it validates
and serializes the parameters as usual; a ``before-call`` handler then decodes that JSON 1.1
body with ``kms.wire`` (the server's own decoder: the same validation and errors) and
dispatches it through the operation table as the bound principal. A call that succeeds is
answered right there with the result shaped as botocore's parser would give it
(``kms.parsed``): nothing is signed, framed or parsed for a network that is not there, which is
most of what a boto3 call costs. A refused call is answered through the wire path instead: its
encoded error goes to the ``before-send`` handler, which hands it to botocore as an
``AWSResponse``, so ``client.exceptions.*`` and the error's fields are botocore's own. A request
that reaches ``before-send`` with no answer waiting (a retry, when the caller's config turns
retries on) is served there in full: decoded, dispatched, encoded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.configprovider import (
    BOTOCORE_DEFAUT_SESSION_VARIABLES,
    ConfigChainFactory,
    ConfigValueStore,
)

from kmspolicy._cache import Once
from kmspolicy.errors import KMSInternalException, ServiceError, log_safe_traceback
from kmspolicy.kms import wire
from kmspolicy.kms.parsed import shape_result

__all__ = ["Dispatcher", "make_client"]


class Dispatcher(Protocol):
    """What the client needs of the service it talks to (``kmspolicy.KMS`` is one)."""

    @property
    def region(self) -> str: ...

    def new_request_id(self) -> str: ...

    def dispatch(
        self,
        operation: str,
        principal: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        request_id: str = "",
    ) -> dict[str, Any]: ...


_log = logging.getLogger("kmspolicy.kms.client")


def _isolated_session() -> botocore.session.Session:
    """A botocore session that reads no environment variable and no AWS config file.

    The in-process client carries its own region, endpoint and dummy credentials: the user's
    ``AWS_PROFILE``, ``AWS_CONFIG_FILE`` or ``~/.aws/config`` must not change (or break) it.
    Every configuration variable resolves from the session's own settings or botocore's
    default only; the config and credentials files are the empty device.
    """
    session = botocore.session.Session()
    chains = ConfigChainFactory(session=session, environ={})
    mapping = {
        name: chains.create_config_chain(
            instance_name=name,
            config_property_names=config_name,
            default=default,
            conversion_func=conversion,
        )
        for name, (config_name, _env, default, conversion) in (
            BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
        )
    }
    session.register_component("config_store", ConfigValueStore(mapping=mapping))
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    return session


#: Creating a session loads botocore's data; one per process, made on first use, is plenty
#: (clients are created from it; it is never configured afterwards)
_botocore_session = Once(_isolated_session)


class _Raw:
    """The minimal urllib3-like body botocore reads a response from."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


#: where the ``before-call`` handler leaves a refused call's answer for ``before-send`` (the
#: request context: one dict per call, carried by botocore from one event to the next)
_ANSWER = "kmspolicy.in_process_answer"
#: the handlers' ``unique_id`` (tests take the fast path away to compare it with the wire path)
FAST_PATH_ID = "kmspolicy.in_process.before_call"


class _InProcess:
    """The handlers bound to one service and one principal."""

    __slots__ = ("context", "principal", "service")

    def __init__(
        self, service: Dispatcher, principal: str, context: Mapping[str, object] | None
    ) -> None:
        self.service = service
        self.principal = principal
        self.context = dict(context) if context else None

    def before_call(
        self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        """Serve the call; answer it here when it succeeds (``None``: let botocore send it)."""
        operation: str = model.name
        request_id = self.service.new_request_id()
        try:
            result = self._serve(operation, params["body"], request_id)
        except Exception as exc:  # ServiceError, or a bug: answered on the wire path
            context[_ANSWER] = _refusal(operation, exc, params["url"], request_id)
            return None
        headers = {"x-amzn-RequestId": request_id, "Content-Type": wire.CONTENT_TYPE}
        parsed = shape_result(operation, result)
        parsed["ResponseMetadata"] = {
            "RequestId": request_id,
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"x-amzn-requestid": request_id, "content-type": wire.CONTENT_TYPE},
            "RetryAttempts": 0,
        }
        # the body is encoded only if an ``after-call`` handler reads it
        return AWSResponse(params["url"], 200, headers, _Encoded(operation, result)), parsed

    def before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """Hand botocore the answer ``before_call`` left, or serve the request in full."""
        answer: AWSResponse | None = request.context.pop(_ANSWER, None)
        if answer is not None:
            return answer
        request_id = self.service.new_request_id()
        target = request.headers.get("X-Amz-Target")
        if isinstance(target, bytes):
            target = target.decode("ascii")
        operation = "-"
        try:
            operation = wire.operation_from_target(target)
            result = self._serve(operation, request.body, request_id)
        except Exception as exc:
            return _refusal(operation, exc, request.url, request_id)
        body = wire.encode_response(operation, result)
        return _response(request.url, 200, body, request_id)

    def _serve(self, operation: str, body: bytes | str | None, request_id: str) -> dict[str, Any]:
        params = wire.decode_request(operation, body or b"")
        return self.service.dispatch(
            operation, self.principal, params, context=self.context, request_id=request_id
        )


class _Encoded(_Raw):
    """A result's JSON 1.1 body, encoded when first read."""

    __slots__ = ("_operation", "_result")

    def __init__(self, operation: str, result: Mapping[str, Any]) -> None:
        super().__init__(b"")
        self._operation = operation
        self._result = result

    def read(self, *_: Any) -> bytes:
        if not self._data:
            self._data = wire.encode_response(self._operation, self._result)
        return self._data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def _refusal(operation: str, exc: Exception, url: str, request_id: str) -> AWSResponse:
    if isinstance(exc, ServiceError):
        error = exc
    else:  # a bug surfaces as AWS's internal error, logged with its trace
        # (its messages withheld: they may quote request data, such as a context value)
        _log.error("in-process KMS %s failed\n%s", operation, log_safe_traceback(exc))
        error = KMSInternalException(f"internal error ({type(exc).__name__}); see the log")
    return _response(url, error.http_status, wire.encode_error(error), request_id)


def _response(url: str, status: int, body: bytes, request_id: str) -> AWSResponse:
    headers = {
        "x-amzn-RequestId": request_id,
        "Content-Type": wire.CONTENT_TYPE,
        "Content-Length": str(len(body)),
    }
    return AWSResponse(url, status, headers, _Raw(body))


def make_client(
    service: Dispatcher,
    principal: str,
    *,
    context: Mapping[str, object] | None = None,
    config: Config | None = None,
) -> Any:
    """A botocore ``KMS`` client acting as ``principal`` against ``service``.

    ``context`` adds request-context keys to every call (e.g. ``{"kms:ViaService":
    "ec2.us-east-1.amazonaws.com"}``). Retries are off: errors are answers, not outages.
    """
    base = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    client = _botocore_session().create_client(
        "kms",
        region_name=service.region,
        aws_access_key_id="AKIAKMSPOLICYINPROC00",
        aws_secret_access_key="in-process-client-has-no-secret",
        endpoint_url=f"https://kms.{service.region}.amazonaws.com",
        config=base.merge(config) if config is not None else base,
    )
    handlers = _InProcess(service, principal, context)
    client.meta.events.register("before-call.kms", handlers.before_call, FAST_PATH_ID)
    client.meta.events.register("before-send.kms", handlers.before_send)
    return client
