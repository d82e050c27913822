"""What an XKS proxy's failure means to a KMS caller: AWS's exception, message, connection code.

Layer: kms. The XKS Proxy API specification's "KMS Considerations" tables, as data: a failure's
reason (the proxy's ``errorName``, or ``kms.xks_client``'s own) → the exception of key store
administration (Create/UpdateCustomKeyStore), of CreateKey, and of the cryptographic operations
(always ``KMSInvalidStateException``, the message saying what went wrong), and → the
``ConnectionErrorCode`` of a failed ConnectCustomKeyStore.
"""

from __future__ import annotations

from types import MappingProxyType

from kmspolicy.errors import (
    CustomKeyStoreInvalidStateException,
    KMSInvalidStateException,
    ServiceError,
    XksKeyInvalidConfigurationException,
    XksKeyNotFoundException,
    XksProxyIncorrectAuthenticationCredentialException,
    XksProxyInvalidConfigurationException,
    XksProxyInvalidResponseException,
    XksProxyUriUnreachableException,
)
from kmspolicy.kms.model import ConnectionErrorCode
from kmspolicy.kms.xks_client import XksProxyFailure

__all__ = ["connection_error_code", "kms_error"]

# What a failure means to KMS callers, by phase (the specification's "KMS Considerations"
# table): (key store administration, CreateKey, cryptographic operations), and the message.
_UNREACHABLE_MSG = (
    "kmspolicy cannot communicate with the external key store proxy; verify that it is running "
    "and that the key store's XksProxyUriEndpoint is right"
)
_INVALID_MSG = "kmspolicy cannot interpret the response from the external key store proxy"
_TABLE: MappingProxyType[str, tuple[type[ServiceError], type[ServiceError], str]] = (
    MappingProxyType(
        {
            "AuthenticationFailedException": (
                XksProxyIncorrectAuthenticationCredentialException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy could not authenticate kmspolicy: verify the key "
                "store's XksProxyAuthenticationCredential",
            ),
            "InvalidUriPathException": (
                XksProxyInvalidConfigurationException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy rejected the URI path: verify the key store's "
                "XksProxyUriPath",
            ),
            "AccessDeniedException": (
                XksProxyInvalidResponseException,
                KMSInvalidStateException,
                "the external key store proxy denied access to the operation: verify that its "
                "authorization policy allows the caller and the external key",
            ),
            "KeyNotFoundException": (
                XksProxyInvalidResponseException,
                XksKeyNotFoundException,
                "the external key of this KMS key was not found in its external key manager",
            ),
            "InvalidStateException": (
                XksProxyInvalidResponseException,
                XksKeyInvalidConfigurationException,
                "the external key is not enabled in its external key manager",
            ),
            "InvalidKeyUsageException": (
                XksProxyInvalidResponseException,
                XksKeyInvalidConfigurationException,
                "the external key does not support the requested operation",
            ),
            "InvalidCiphertextException": (
                XksProxyInvalidResponseException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy rejected the ciphertext or the encryption context as "
                "corrupted, missing or otherwise invalid",
            ),
            "UnsupportedOperationException": (
                XksProxyInvalidResponseException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy does not support the requested operation",
            ),
            "ThrottlingException": (
                XksProxyUriUnreachableException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy rejected the request as too frequent",
            ),
            "DependencyTimeoutException": (
                XksProxyUriUnreachableException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy did not get an answer from its key manager in time",
            ),
            "InternalException": (
                XksProxyInvalidResponseException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy cannot communicate with its external key manager",
            ),
            "UNREACHABLE": (
                XksProxyUriUnreachableException,
                CustomKeyStoreInvalidStateException,
                _UNREACHABLE_MSG,
            ),
            "UNAVAILABLE": (
                XksProxyUriUnreachableException,
                CustomKeyStoreInvalidStateException,
                "every external key manager behind the proxy is UNAVAILABLE",
            ),
            "TIMED_OUT": (
                XksProxyUriUnreachableException,
                CustomKeyStoreInvalidStateException,
                "the external key store proxy did not respond in time",
            ),
            "TLS": (
                XksProxyUriUnreachableException,
                CustomKeyStoreInvalidStateException,
                "kmspolicy cannot establish a TLS connection to the external key store proxy: "
                "verify its certificate and, if it requires mutual TLS, the client certificate "
                "kmspolicy presents",
            ),
        }
    )
)
_CONNECTION_CODES = MappingProxyType(
    {
        "AuthenticationFailedException": ConnectionErrorCode.INVALID_CREDENTIALS,
        "AccessDeniedException": ConnectionErrorCode.XKS_PROXY_ACCESS_DENIED,
        "InvalidUriPathException": ConnectionErrorCode.XKS_PROXY_INVALID_CONFIGURATION,
        "TIMED_OUT": ConnectionErrorCode.XKS_PROXY_TIMED_OUT,
        "TLS": ConnectionErrorCode.XKS_PROXY_INVALID_TLS_CONFIGURATION,
        "UNREACHABLE": ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE,
        "UNAVAILABLE": ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE,
        "ThrottlingException": ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE,
        "DependencyTimeoutException": ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE,
    }
)


def kms_error(failure: XksProxyFailure, phase: str) -> ServiceError:
    """The KMS exception of a proxy failure during ``phase``: ``store`` (Create/Update
    CustomKeyStore), ``create_key`` or ``crypto`` (every cryptographic operation answers
    KMSInvalidStateException, as AWS does, the message saying what went wrong)."""
    store_error, create_key_error, message = _TABLE.get(
        failure.reason,
        (XksProxyInvalidResponseException, CustomKeyStoreInvalidStateException, _INVALID_MSG),
    )
    chosen: type[ServiceError] = {
        "store": store_error,
        "create_key": create_key_error,
        "crypto": KMSInvalidStateException,
    }[phase]
    error: ServiceError = chosen(message[0].upper() + message[1:] + ".")
    error.cause = f"XKS proxy: {failure.reason} ({failure.detail})"
    return error


def connection_error_code(failure: XksProxyFailure) -> ConnectionErrorCode:
    """The ``ConnectionErrorCode`` of a GetHealthStatus that failed while connecting."""
    return _CONNECTION_CODES.get(failure.reason, ConnectionErrorCode.XKS_PROXY_INVALID_RESPONSE)
