"""On whose behalf the kernel runs: the request a key backend must tell a third party about.

Layer: kms. An external key store's proxy receives ``requestMetadata`` with every call (the
caller's ARN, the KMS operation, the request id, ``kms:ViaService``, the source VPC), but the
key backends' protocols carry keys and bytes, not requests. The pipeline sets ``acting_for``
around each request it runs; a backend that needs it reads ``current()``. A ``ContextVar``
(not a global): each request — each thread, each task — sees its own, and none outside one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["OnBehalf", "acting_for", "current"]


@dataclass(frozen=True, slots=True)
class OnBehalf:
    principal_arn: str  # aws:PrincipalArn (a role's ARN for its sessions)
    operation: str  # the KMS operation (Encrypt, GenerateDataKey, CreateKey ...)
    request_id: str
    via_service: str | None = None
    source_vpc: str | None = None
    source_vpce: str | None = None


_CURRENT: ContextVar[OnBehalf | None] = ContextVar("kmspolicy_on_behalf", default=None)


@contextmanager
def acting_for(
    principal_arn: str, operation: str, request_id: str, context: Mapping[str, object] | None
) -> Iterator[None]:
    def text(key: str) -> str | None:
        value = (context or {}).get(key)
        return value if isinstance(value, str) else None

    token = _CURRENT.set(
        OnBehalf(
            principal_arn,
            operation,
            request_id,
            text("kms:ViaService"),
            text("aws:SourceVpc"),
            text("aws:SourceVpce"),
        )
    )
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> OnBehalf | None:
    return _CURRENT.get()
