"""The plug of a custom key store type: what ``kms.keystores`` asks of each ``CustomKeyStoreType``.

Layer: kms. The six custom key store operations (``kms.handlers.keystores``) hold everything the
types share: ids, names, connection states and their rules, credentials sealed under the root
key, the audit. A type brings a ``KeyStoreConnector``: it validates its own request members,
opens a ``Connection`` (or says why not, as a ``ConnectionErrorCode``), describes its settings,
and gives the ``KeyBackend`` its keys' crypto runs through (``kms.backends``). CloudHSM key stores
are ``kms.keystores.cloudhsm``; external key stores plug in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

from kmspolicy.kms.backends import KeyBackend
from kmspolicy.kms.model import (
    ConnectionErrorCode,
    CustomKeyStoreRecord,
    CustomKeyStoreType,
    KeyInfo,
    KeyRecord,
    OriginType,
)
from kmspolicy.kms.ports import SealingKey

__all__ = [
    "ConnectFailed",
    "Connection",
    "KeyStoreConnector",
    "LiveConnections",
    "NewSettings",
    "Outside",
    "Params",
]

Params = Mapping[str, Any]
#: (the type's non-secret settings, the credential to seal — None: keep the stored one)
NewSettings = tuple[dict[str, str], bytes | None]
#: runs work that may wait on the network outside the request's transaction (``Call.outside``:
#: the key names the work and what it depends on; the work's value is returned, its error raised)
Outside = Callable[[Hashable, Callable[[], Any]], Any]


class ConnectFailed(Exception):  # a connection attempt's outcome, not a bug
    """A connection attempt failed; ``code`` is what DescribeCustomKeyStores reports. ``detail``
    goes to the server's log only (never a credential)."""

    def __init__(self, code: ConnectionErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Connection(Protocol):
    """A live connection of this process to one custom key store's backing key store."""

    def close(self) -> None:
        """Release it (log out, close sessions); idempotent."""


class LiveConnections(Protocol):
    """Where a type's backend finds the connection of a key's store (``KeyStores``)."""

    def live(self, store_id: str, key_arn: str) -> Connection:
        """The connection of ``store_id`` in this process; KMSInvalidStateException ("<key ARN>
        is unavailable.") when there is none."""

    @property
    def root_key(self) -> SealingKey:
        """The service's root key (an external key store's keys keep their own material
        sealed under it, for the inner layer of their double encryption)."""


class KeyStoreConnector(Protocol):
    """One ``CustomKeyStoreType``: its request members, its connections and its key backend."""

    store_type: CustomKeyStoreType
    #: the ``Origin`` of the keys created in its stores
    origin: OriginType
    #: request members of CreateCustomKeyStore / UpdateCustomKeyStore that belong to the type
    members: frozenset[str]
    #: the UpdateCustomKeyStore members it accepts while the store is connected (besides
    #: NewCustomKeyStoreName, which every type accepts)
    updatable_while_connected: frozenset[str]

    def create_settings(
        self,
        params: Params,
        others: Sequence[CustomKeyStoreRecord],
        region: str,
        outside: Outside,
    ) -> NewSettings:
        """CreateCustomKeyStore's type members checked (``others``: the account's and Region's
        other stores, for "in use" checks; ``region``: the store's); raises the documented
        errors. A check that reaches the network runs through ``outside``."""

    def update_settings(
        self,
        record: CustomKeyStoreRecord,
        params: Params,
        others: Sequence[CustomKeyStoreRecord],
        outside: Outside,
    ) -> NewSettings:
        """UpdateCustomKeyStore's type members checked: the settings that change (merged into
        the record's by the caller) and a new credential, if any. A check that reaches the
        network runs through ``outside``."""

    def connect(self, record: CustomKeyStoreRecord, credential: bytes) -> Connection:
        """Open a connection with the unsealed ``credential``; ConnectFailed when it cannot.
        Runs outside any store transaction, so it may take a bounded while."""

    def describe(self, record: CustomKeyStoreRecord) -> dict[str, Any]:
        """The type's members of a ``CustomKeyStoresListEntry``."""

    def new_key(self, key: KeyRecord, params: Params, others: Sequence[KeyInfo]) -> KeyRecord:
        """CreateKey's type members (``XksKeyId``) applied to a new key of a store of this
        type (``others``: the store's keys, for "in use" checks), before its material is made
        (``backend().create``); raises the documented errors."""

    def key_metadata(self, store: CustomKeyStoreRecord, key: KeyInfo) -> dict[str, Any]:
        """The type's members of a key's ``KeyMetadata`` (``CloudHsmClusterId`` ...)."""

    def backend(self, connections: LiveConnections) -> KeyBackend:
        """The backend of the keys of its stores (registered for ``origin`` in the kernel)."""
