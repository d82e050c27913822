"""A real botocore KMS client whose requests are served in-process, without a socket.

Layer: kms (an adapter for library users and tests). The client is botocore's own: it
serializes and signs as usual; a ``before-send`` handler then decodes the request with
``kms.wire``, dispatches it through the operation table as the bound principal, and hands
botocore an ``AWSResponse``, so parsing, ``client.exceptions.*`` and paginators work unchanged.
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


class _InProcess:
    """The ``before-send`` handler bound to one service and one principal."""

    __slots__ = ("context", "principal", "service")

    def __init__(
        self, service: Dispatcher, principal: str, context: Mapping[str, object] | None
    ) -> None:
        self.service = service
        self.principal = principal
        self.context = dict(context) if context else None

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        request_id = self.service.new_request_id()
        headers = {"x-amzn-RequestId": request_id, "Content-Type": wire.CONTENT_TYPE}
        target = request.headers.get("X-Amz-Target")
        if isinstance(target, bytes):
            target = target.decode("ascii")
        operation = "-"
        try:
            operation = wire.operation_from_target(target)
            params = wire.decode_request(operation, request.body or b"")
            result = self.service.dispatch(
                operation, self.principal, params, context=self.context, request_id=request_id
            )
            status, body = 200, wire.encode_response(operation, result)
        except ServiceError as exc:
            status, body = exc.http_status, wire.encode_error(exc)
        except Exception as exc:  # a bug surfaces as AWS's internal error, logged with its trace
            # (its messages withheld: they may quote request data, such as a context value)
            _log.error("in-process KMS %s failed\n%s", operation, log_safe_traceback(exc))
            error = KMSInternalException(f"internal error ({type(exc).__name__}); see the log")
            status, body = error.http_status, wire.encode_error(error)
        headers["Content-Length"] = str(len(body))
        return AWSResponse(request.url, status, headers, _Raw(body))


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
    client.meta.events.register("before-send.kms", _InProcess(service, principal, context))
    return client
