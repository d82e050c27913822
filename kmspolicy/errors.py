"""The error tree of kmspolicy: one root, the caller's faults apart from ours.

    KmsPolicyError                    root of everything we raise on purpose
    ├── UserError                     the caller's fault: bad input, denied, wrong state
    │   ├── PolicyError               an invalid policy document (kmspolicy.lang adds
    │   │                             PolicySyntaxError, which carries diagnostics)
    │   ├── ConfigError               a bad settings, identities or suite file
    │   └── ServiceError              an AWS KMS error: ``code`` is the AWS exception name
    │       ├── AccessDeniedException, NotFoundException, ValidationException, ...
    │       └── (one subclass per exception name of the KMS API and the AWS common errors,
    │            the custom key store ones included)
    └── InternalError                 our fault: a bug or a broken dependency; maps to
                                      KMSInternalException on the wire

Layer: the bottom of the stack; imports nothing of ours. The server maps ``ServiceError.code``
and ``http_status`` to the wire; nothing else needs to know AWS's spelling twice.
"""

from __future__ import annotations

import traceback
from typing import ClassVar


class KmsPolicyError(Exception):
    """Root of every error kmspolicy raises on purpose."""


class UserError(KmsPolicyError):
    """The caller's fault: the message says what to change."""


class InternalError(KmsPolicyError):
    """Our fault: a bug or a failing dependency. Logged, never shown in detail to callers."""


class PolicyError(UserError):
    """An invalid policy document."""


class ConfigError(UserError):
    """A malformed settings, identities or compliance-suite file."""


class ServiceError(UserError):
    """An error of the KMS API, named as AWS names it.

    ``code`` is the AWS exception name (the ``__type`` on the wire, the class botocore raises);
    ``http_status`` is the status AWS answers with.
    """

    code: ClassVar[str] = "KMSInternalException"
    http_status: ClassVar[int] = 400
    #: the real reason, for the server's log only (never sent: AWS's wire answer stays terse)
    cause: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# --- AWS common errors (not in the KMS model's shapes, but sent by every AWS JSON service) ---


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"


class ValidationException(ServiceError):
    code = "ValidationException"


class UnrecognizedClientException(ServiceError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(ServiceError):
    code = "InvalidSignatureException"


class IncompleteSignatureException(ServiceError):
    code = "IncompleteSignatureException"


class MissingAuthenticationTokenException(ServiceError):
    code = "MissingAuthenticationTokenException"
    http_status = 403


class ExpiredTokenException(ServiceError):
    code = "ExpiredTokenException"


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"


class SerializationException(ServiceError):
    code = "SerializationException"


class RequestEntityTooLargeException(ServiceError):
    code = "RequestEntityTooLargeException"
    http_status = 413


class ThrottlingException(ServiceError):
    code = "ThrottlingException"


class NotAuthorizedException(ServiceError):
    """KMS's answer (empty message) to CreateAlias, UpdateAlias or DeleteAlias of a name under
    ``alias/aws/``, as recorded against AWS; the KMS model does not list it, so botocore raises
    a plain ClientError with this code."""

    code = "NotAuthorizedException"


# --- The KMS model's exception shapes (botocore data/kms/2014-11-01/service-2.json) ---


class AlreadyExistsException(ServiceError):
    code = "AlreadyExistsException"


class ConflictException(ServiceError):
    code = "ConflictException"


class CustomKeyStoreNotFoundException(ServiceError):
    code = "CustomKeyStoreNotFoundException"


class DependencyTimeoutException(ServiceError):
    code = "DependencyTimeoutException"
    http_status = 503


class DisabledException(ServiceError):
    code = "DisabledException"


class DryRunOperationException(ServiceError):
    code = "DryRunOperationException"
    http_status = 412


class ExpiredImportTokenException(ServiceError):
    code = "ExpiredImportTokenException"


class IncorrectKeyException(ServiceError):
    code = "IncorrectKeyException"


class IncorrectKeyMaterialException(ServiceError):
    code = "IncorrectKeyMaterialException"


class InvalidAliasNameException(ServiceError):
    code = "InvalidAliasNameException"


class InvalidArnException(ServiceError):
    code = "InvalidArnException"


class InvalidCiphertextException(ServiceError):
    code = "InvalidCiphertextException"


class InvalidGrantIdException(ServiceError):
    code = "InvalidGrantIdException"


class InvalidGrantTokenException(ServiceError):
    code = "InvalidGrantTokenException"


class InvalidImportTokenException(ServiceError):
    code = "InvalidImportTokenException"


class InvalidKeyUsageException(ServiceError):
    code = "InvalidKeyUsageException"


class InvalidMarkerException(ServiceError):
    code = "InvalidMarkerException"


class KMSInternalException(ServiceError):
    code = "KMSInternalException"
    http_status = 500


class KMSInvalidMacException(ServiceError):
    code = "KMSInvalidMacException"


class KMSInvalidSignatureException(ServiceError):
    code = "KMSInvalidSignatureException"


class KMSInvalidStateException(ServiceError):
    code = "KMSInvalidStateException"


class KeyUnavailableException(ServiceError):
    code = "KeyUnavailableException"
    http_status = 500


class LimitExceededException(ServiceError):
    code = "LimitExceededException"


class MalformedPolicyDocumentException(ServiceError):
    code = "MalformedPolicyDocumentException"


class NotFoundException(ServiceError):
    code = "NotFoundException"


class TagException(ServiceError):
    code = "TagException"


class UnsupportedOperationException(ServiceError):
    code = "UnsupportedOperationException"


# --- Custom key stores (CloudHSM key stores, external key stores): the model's exceptions ---


class CloudHsmClusterInUseException(ServiceError):
    code = "CloudHsmClusterInUseException"


class CloudHsmClusterInvalidConfigurationException(ServiceError):
    code = "CloudHsmClusterInvalidConfigurationException"


class CloudHsmClusterNotActiveException(ServiceError):
    code = "CloudHsmClusterNotActiveException"


class CloudHsmClusterNotFoundException(ServiceError):
    code = "CloudHsmClusterNotFoundException"


class CloudHsmClusterNotRelatedException(ServiceError):
    code = "CloudHsmClusterNotRelatedException"


class CustomKeyStoreHasCMKsException(ServiceError):
    code = "CustomKeyStoreHasCMKsException"


class CustomKeyStoreInvalidStateException(ServiceError):
    code = "CustomKeyStoreInvalidStateException"


class CustomKeyStoreNameInUseException(ServiceError):
    code = "CustomKeyStoreNameInUseException"


class IncorrectTrustAnchorException(ServiceError):
    code = "IncorrectTrustAnchorException"


class XksKeyAlreadyInUseException(ServiceError):
    code = "XksKeyAlreadyInUseException"


class XksKeyInvalidConfigurationException(ServiceError):
    code = "XksKeyInvalidConfigurationException"


class XksKeyNotFoundException(ServiceError):
    code = "XksKeyNotFoundException"


class XksProxyIncorrectAuthenticationCredentialException(ServiceError):
    code = "XksProxyIncorrectAuthenticationCredentialException"


class XksProxyInvalidConfigurationException(ServiceError):
    code = "XksProxyInvalidConfigurationException"


class XksProxyInvalidResponseException(ServiceError):
    code = "XksProxyInvalidResponseException"


class XksProxyUriEndpointInUseException(ServiceError):
    code = "XksProxyUriEndpointInUseException"


class XksProxyUriInUseException(ServiceError):
    code = "XksProxyUriInUseException"


class XksProxyUriUnreachableException(ServiceError):
    code = "XksProxyUriUnreachableException"


class XksProxyVpcEndpointServiceInUseException(ServiceError):
    code = "XksProxyVpcEndpointServiceInUseException"


class XksProxyVpcEndpointServiceInvalidConfigurationException(ServiceError):
    code = "XksProxyVpcEndpointServiceInvalidConfigurationException"


class XksProxyVpcEndpointServiceNotFoundException(ServiceError):
    code = "XksProxyVpcEndpointServiceNotFoundException"


def service_error_classes() -> dict[str, type[ServiceError]]:
    """Every ServiceError subclass by its AWS code (tests/test_errors.py holds it to botocore)."""
    found: dict[str, type[ServiceError]] = {}
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found[sub.code] = sub
            pending.append(sub)
    return found


WITHHELD = "<message withheld from the log: it may quote request data>"


def log_safe_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (its causes first, as Python prints them) with every exception
    message withheld: messages may quote what a caller sent (an encryption-context value in a
    ``KeyError``, a parameter in a database error), and logs must not hold it (docs/server.md).
    The frames (file, line, function, source line) and the exception types stay."""
    return "\n".join(_safe_lines(traceback.TracebackException.from_exception(exc), set()))


def _safe_lines(te: traceback.TracebackException, seen: set[int]) -> list[str]:
    seen.add(id(te))
    lines: list[str] = []
    earlier = te.__cause__ or (None if te.__suppress_context__ else te.__context__)
    if earlier is not None and id(earlier) not in seen:
        lines += _safe_lines(earlier, seen)
        lines.append("(during handling of the above, another exception occurred)")
    lines.append("Traceback (most recent call last):")
    for frame in te.stack:
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    name = getattr(te, "exc_type_str", None)  # Python 3.13+; exc_type is deprecated there
    if name is None:
        kind = te.exc_type
        name = "?" if kind is None else f"{kind.__module__}.{kind.__qualname__}"
    lines.append(f"{name}: {WITHHELD}")
    return lines
