"""External key stores (``CustomKeyStoreType=EXTERNAL_KEY_STORE``): keys behind an XKS proxy.

Layer: kms. The connector checks the type's members as AWS does (``XksProxyConnectivity``,
``XksProxyUriEndpoint``, ``XksProxyUriPath``, ``XksProxyAuthenticationCredential``; the shapes'
patterns are the wire codec's), asks the proxy's GetHealthStatus when a store is created, its
credential changed (outside the request's transaction: ``Call.outside``), or connected, and
maps what goes wrong to AWS's exceptions and connection error codes (the XKS Proxy API
specification's table, ``kms_error``). ``VPC_ENDPOINT_SERVICE`` connectivity is refused with
``XksProxyVpcEndpointServiceNotFoundException``: there are no VPC endpoint services here.
Keys: ``kms.keystores.external_backend``. The HTTPS transport is a port
(``kms.xks_client.XksTransport``; ``kmspolicy.store.xks_http`` in the server).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from kmspolicy.errors import (
    ValidationException,
    XksKeyAlreadyInUseException,
    XksProxyUriInUseException,
    XksProxyVpcEndpointServiceNotFoundException,
)
from kmspolicy.kms.backends import KeyBackend
from kmspolicy.kms.keystores.connector import (
    ConnectFailed,
    Connection,
    LiveConnections,
    Outside,
    Params,
)
from kmspolicy.kms.keystores.xks_errors import connection_error_code, kms_error
from kmspolicy.kms.model import (
    CustomKeyStoreRecord,
    CustomKeyStoreType,
    KeyInfo,
    KeyRecord,
    OriginType,
)
from kmspolicy.kms.xks_client import XksClient, XksProxyFailure, XksProxySettings, XksTransport

__all__ = ["ExternalKeyStoreConnector"]

_ENDPOINT = "XksProxyUriEndpoint"
_PATH = "XksProxyUriPath"
_CREDENTIAL = "XksProxyAuthenticationCredential"
_CONNECTIVITY = "XksProxyConnectivity"
_VPCE_NAME = "XksProxyVpcEndpointServiceName"
_VPCE_OWNER = "XksProxyVpcEndpointServiceOwner"


def _credential(params: Params) -> tuple[str, str]:
    value = params.get(_CREDENTIAL)
    if not isinstance(value, dict) or not value.get("AccessKeyId"):
        raise ValidationException(
            f"{_CREDENTIAL} (AccessKeyId and RawSecretAccessKey) is required for a custom key "
            "store of type EXTERNAL_KEY_STORE."
        )
    return str(value["AccessKeyId"]), str(value.get("RawSecretAccessKey") or "")


class ExternalKeyStoreConnector:
    """``EXTERNAL_KEY_STORE`` custom key stores (module docstring)."""

    store_type = CustomKeyStoreType.EXTERNAL_KEY_STORE
    origin = OriginType.EXTERNAL_KEY_STORE
    members = frozenset({_ENDPOINT, _PATH, _CREDENTIAL, _CONNECTIVITY, _VPCE_NAME, _VPCE_OWNER})
    # AWS: the name, the credential and the path may change while the store is connected
    updatable_while_connected = frozenset({_CREDENTIAL, _PATH})

    def __init__(self, transport: XksTransport) -> None:
        self._transport = transport

    # --- the store's settings
    @staticmethod
    def _connectivity(params: Params, current: str | None) -> str:
        connectivity = params.get(_CONNECTIVITY) or current
        if connectivity is None:
            raise ValidationException(
                f"{_CONNECTIVITY} is required for a custom key store of type EXTERNAL_KEY_STORE."
            )
        if connectivity == "VPC_ENDPOINT_SERVICE":
            if not params.get(_VPCE_NAME):
                raise ValidationException(
                    f"{_VPCE_NAME} is required when {_CONNECTIVITY} is VPC_ENDPOINT_SERVICE."
                )
            raise XksProxyVpcEndpointServiceNotFoundException(
                f"The VPC endpoint service {params[_VPCE_NAME]} was not found: kmspolicy reaches "
                "external key store proxies at public endpoints only (XksProxyConnectivity "
                "PUBLIC_ENDPOINT; docs/xks-proxy.md)."
            )
        if params.get(_VPCE_NAME) or params.get(_VPCE_OWNER):
            raise ValidationException(
                f"{_VPCE_NAME} and {_VPCE_OWNER} are valid only when {_CONNECTIVITY} is "
                "VPC_ENDPOINT_SERVICE."
            )
        return str(connectivity)

    @staticmethod
    def _uri_free(
        endpoint: str, path: str, others: Sequence[CustomKeyStoreRecord], store_id: str = ""
    ) -> None:
        for other in others:
            if (
                other.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE
                and other.store_id != store_id
                and other.setting.get("uri_endpoint") == endpoint
                and other.setting.get("uri_path") == path
            ):
                raise XksProxyUriInUseException(
                    f"The proxy address {endpoint}{path} is already associated with custom key "
                    f"store {other.store_id} in this account and Region."
                )

    def _check_health(self, settings: XksProxySettings, operation: str, outside: Outside) -> None:
        """GetHealthStatus with ``settings``, outside the request's transaction: the proxy may
        take up to the transport's deadline to answer (or not)."""

        def check() -> None:
            try:
                XksClient(self._transport, settings).health(str(uuid.uuid4()), operation)
            except XksProxyFailure as failure:
                raise kms_error(failure, "store") from None

        outside(("GetHealthStatus", settings), check)

    def create_settings(
        self,
        params: Params,
        others: Sequence[CustomKeyStoreRecord],
        region: str,
        outside: Outside,
    ) -> tuple[dict[str, str], bytes | None]:
        connectivity = self._connectivity(params, None)
        endpoint, path = params.get(_ENDPOINT), params.get(_PATH)
        if not endpoint or not path:
            raise ValidationException(
                f"{_ENDPOINT} and {_PATH} are required for a custom key store of type "
                "EXTERNAL_KEY_STORE."
            )
        access_key_id, secret = _credential(params)
        self._uri_free(endpoint, path, others)
        self._check_health(
            XksProxySettings(endpoint, path, access_key_id, secret, region),
            "CreateCustomKeyStore",
            outside,
        )
        settings = {
            "uri_endpoint": endpoint,
            "uri_path": path,
            "connectivity": connectivity,
            "access_key_id": access_key_id,
        }
        return settings, secret.encode()

    def update_settings(
        self,
        record: CustomKeyStoreRecord,
        params: Params,
        others: Sequence[CustomKeyStoreRecord],
        outside: Outside,
    ) -> tuple[dict[str, str], bytes | None]:
        current = record.setting
        changes: dict[str, str] = {}
        if params.get(_CONNECTIVITY) or params.get(_VPCE_NAME) or params.get(_VPCE_OWNER):
            changes["connectivity"] = self._connectivity(params, current.get("connectivity"))
        for member, name in ((_ENDPOINT, "uri_endpoint"), (_PATH, "uri_path")):
            if params.get(member):
                changes[name] = str(params[member])
        if "uri_endpoint" in changes or "uri_path" in changes:
            self._uri_free(
                changes.get("uri_endpoint", current.get("uri_endpoint", "")),
                changes.get("uri_path", current.get("uri_path", "")),
                others,
                record.store_id,
            )
        if params.get(_CREDENTIAL) is None:
            return changes, None
        access_key_id, secret = _credential(params)
        changes["access_key_id"] = access_key_id
        merged = {**current, **changes}
        self._check_health(self._settings(record, merged, secret), "UpdateCustomKeyStore", outside)
        return changes, secret.encode()

    @staticmethod
    def _settings(
        record: CustomKeyStoreRecord, settings: dict[str, str], secret: str
    ) -> XksProxySettings:
        return XksProxySettings(
            settings.get("uri_endpoint", ""),
            settings.get("uri_path", ""),
            settings.get("access_key_id", ""),
            secret,
            record.region,
        )

    # --- connections
    def connect(self, record: CustomKeyStoreRecord, credential: bytes) -> Connection:
        client = XksClient(
            self._transport,
            self._settings(record, record.setting, credential.decode()),
            pooled=True,
        )
        try:
            client.health(str(uuid.uuid4()), "ConnectCustomKeyStore")
        except XksProxyFailure as failure:
            client.close()
            code = connection_error_code(failure)
            raise ConnectFailed(code, f"{failure.reason}: {failure.detail}") from None
        return client

    def describe(self, record: CustomKeyStoreRecord) -> dict[str, Any]:
        s = record.setting
        return {
            "XksProxyConfiguration": {
                "Connectivity": s.get("connectivity", "PUBLIC_ENDPOINT"),
                "AccessKeyId": s.get("access_key_id", ""),
                "UriEndpoint": s.get("uri_endpoint", ""),
                "UriPath": s.get("uri_path", ""),
            }
        }

    # --- keys
    def new_key(self, key: KeyRecord, params: Params, others: Sequence[KeyInfo]) -> KeyRecord:
        xks_key_id = params.get("XksKeyId")
        if not xks_key_id:
            raise ValidationException(
                "XksKeyId is required for a KMS key with Origin EXTERNAL_KEY_STORE."
            )
        for other in others:
            if other.xks_key_id == xks_key_id:
                raise XksKeyAlreadyInUseException(
                    f"The external key {xks_key_id} is already associated with KMS key "
                    f"{other.arn} in this external key store."
                )
        return key.evolve(xks_key_id=str(xks_key_id))

    def key_metadata(self, store: CustomKeyStoreRecord, key: KeyInfo) -> dict[str, Any]:
        return {"XksKeyConfiguration": {"Id": key.xks_key_id or ""}}

    def backend(self, connections: LiveConnections) -> KeyBackend:
        from kmspolicy.kms.keystores.external_backend import ExternalKeyBackend

        return ExternalKeyBackend(connections)

    def __repr__(self) -> str:
        return f"ExternalKeyStoreConnector({self._transport!r})"
