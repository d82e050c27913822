"""The XKS Proxy API's errors: an ``errorName`` and an HTTP status, as the specification's table.

Layer: xks. Answered as ``{"errorName": ..., "errorMessage": ...}``; the message is at most 511
printable ASCII characters (the specification's limit) and never quotes plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from kmspolicy.errors import UserError

MESSAGE_MAX = 511


class XksError(UserError):
    """An error the proxy answers with (the caller's fault, or a state the caller can see)."""

    name: ClassVar[str] = "InternalException"
    status: ClassVar[int] = 500
    #: for the log only: the deciding statement of a denial, the real cause of a refusal
    cause: str | None = None

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause

    def body(self) -> dict[str, str]:
        text = "".join(c if " " <= c <= "~" else "?" for c in self.message)[:MESSAGE_MAX]
        return {"errorName": self.name, "errorMessage": text}


class ValidationException(XksError):
    name, status = "ValidationException", 400


class InvalidStateException(XksError):
    name, status = "InvalidStateException", 400


class InvalidCiphertextException(XksError):
    name, status = "InvalidCiphertextException", 400


class InvalidKeyUsageException(XksError):
    name, status = "InvalidKeyUsageException", 400


class AuthenticationFailedException(XksError):
    name, status = "AuthenticationFailedException", 401


class AccessDeniedException(XksError):
    name, status = "AccessDeniedException", 403


class KeyNotFoundException(XksError):
    name, status = "KeyNotFoundException", 404


class InvalidUriPathException(XksError):
    name, status = "InvalidUriPathException", 404


class MethodNotAllowed(XksError):
    """Not in the specification's table: it asks for a plain 405 on a GET of an API's URI."""

    name, status = "MethodNotAllowed", 405


class ThrottlingException(XksError):
    name, status = "ThrottlingException", 429


class UnsupportedOperationException(XksError):
    name, status = "UnsupportedOperationException", 501


class DependencyTimeoutException(XksError):
    name, status = "DependencyTimeoutException", 503


class InternalException(XksError):
    name, status = "InternalException", 500


#: every error name of the specification's table, by name (the client side maps these)
ERRORS: Mapping[str, type[XksError]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            ValidationException,
            InvalidStateException,
            InvalidCiphertextException,
            InvalidKeyUsageException,
            AuthenticationFailedException,
            AccessDeniedException,
            KeyNotFoundException,
            InvalidUriPathException,
            ThrottlingException,
            UnsupportedOperationException,
            DependencyTimeoutException,
            InternalException,
        )
    }
)
