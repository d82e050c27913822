"""On whose behalf the kernel runs: the request a key backend must tell a third party about.

Layer: kms. An external key store's proxy receives ``requestMetadata`` with every call (the
caller's ARN, the KMS operation, the request id, ``kms:ViaService``, the source VPC), but the
key backends' protocols carry keys and bytes, not requests. The pipeline enters the request it
runs (``enter`` ... ``leave``); a backend that needs it reads ``current()``. A ``ContextVar``
(not a global): each request — each thread, each task — sees its own, and none outside one.
Every request enters and almost none is read (only by an external key store's key), so entering
keeps the request's own values and ``current()`` builds the ``OnBehalf`` from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass

__all__ = ["OnBehalf", "current", "enter", "leave"]


@dataclass(frozen=True, slots=True)
class OnBehalf:
    principal_arn: str  # aws:PrincipalArn (a role's ARN for its sessions)
    operation: str  # the KMS operation (Encrypt, GenerateDataKey, CreateKey ...)
    request_id: str
    via_service: str | None = None
    source_vpc: str | None = None
    source_vpce: str | None = None


#: (principal ARN, operation, request id, transport context) of the request being run
_Raw = tuple[str, str, str, "Mapping[str, object] | None"]
_CURRENT: ContextVar[_Raw | None] = ContextVar("kmspolicy_on_behalf", default=None)


def enter(
    principal_arn: str, operation: str, request_id: str, context: Mapping[str, object] | None
) -> Token[_Raw | None]:
    """The pipeline starts running a request; ``leave`` with the token when it is done."""
    return _CURRENT.set((principal_arn, operation, request_id, context))


def leave(token: Token[_Raw | None]) -> None:
    _CURRENT.reset(token)


def current() -> OnBehalf | None:
    raw = _CURRENT.get()
    if raw is None:
        return None
    principal_arn, operation, request_id, context = raw

    def text(key: str) -> str | None:
        value = (context or {}).get(key)
        return value if isinstance(value, str) else None

    return OnBehalf(
        principal_arn,
        operation,
        request_id,
        text("kms:ViaService"),
        text("aws:SourceVpc"),
        text("aws:SourceVpce"),
    )
