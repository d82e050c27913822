"""``KeyStores``: one service's custom key store types and its live connections to them.

Layer: kms (one instance per ``Pipeline``). The connection *state* of a store lives in the store
(``CustomKeyStoreRecord.connection_state``: every process and Region sees the same); a live
*connection* (a logged-in PKCS#11 session, an HTTP client) belongs to one process and is kept
here, per instance, bounded, tagged with the ``connection_id`` of the connection it was made
for. A process that finds a store CONNECTED without holding its connection (after a restart, in
another server process) makes one on first use of a key, after the request was allowed; a
store disconnected anywhere is refused everywhere, because its keys' state is read from the
store on every request (``key_view``).

Credentials (the ``kmsuser`` password, an XKS proxy's secret) are sealed here under the root
key, bound to the store's id, and unsealed only to connect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from kmspolicy.errors import (
    KMSInternalException,
    KMSInvalidStateException,
    UnsupportedOperationException,
)
from kmspolicy.kms.backends import KeyBackend
from kmspolicy.kms.keystores.connector import ConnectFailed, Connection, KeyStoreConnector
from kmspolicy.kms.model import (
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStoreRecord,
    CustomKeyStoreType,
    KeyRecord,
)
from kmspolicy.kms.ports import AuditLog, AuditRecord, SealingKey, Store, Transaction
from kmspolicy.kms.states import KeyState

__all__ = ["MAX_CONNECTIONS", "KeyStores", "credential_aad"]

_log = logging.getLogger("kmspolicy.kms.keystores")

#: live connections kept per service (AWS allows 10 stores per account and Region)
MAX_CONNECTIONS = 256
_AAD_LABEL = b"kmspolicy/custom-key-store-credential/v1\x00"


def credential_aad(store_id: str) -> bytes:
    """A sealed credential opens only as the credential of its own store."""
    return _AAD_LABEL + store_id.encode()


class KeyStores:
    """The custom key store types a service offers, and its connections (module docstring)."""

    def __init__(
        self,
        connectors: Iterable[KeyStoreConnector],
        root_key: SealingKey,
        *,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._connectors: dict[CustomKeyStoreType, KeyStoreConnector] = {
            c.store_type: c for c in connectors
        }
        self._root = root_key
        self._max = max_connections
        # store id -> (connection id, connection); insertion order = age (the oldest closes first)
        self._live: dict[str, tuple[str, Connection]] = {}
        self._lock = threading.Lock()

    # --- the types
    def connector(self, store_type: CustomKeyStoreType) -> KeyStoreConnector:
        found = self._connectors.get(store_type)
        if found is None:
            raise UnsupportedOperationException(
                f"this kmspolicy server offers no {store_type.value} custom key stores "
                "(docs/custom-key-stores.md)"
            )
        return found

    def backends(self) -> Mapping[str, KeyBackend]:
        """The key backend of each type, by the origin of its keys (for the kernel)."""
        return {c.origin.value: c.backend(self) for c in self._connectors.values()}

    @property
    def types(self) -> frozenset[CustomKeyStoreType]:
        return frozenset(self._connectors)

    @property
    def root_key(self) -> SealingKey:
        return self._root

    # --- credentials: sealed under the root key, bound to the store
    def seal_credential(self, store_id: str, credential: bytes) -> bytes:
        return self._root.seal(credential, credential_aad(store_id))

    def _open_credential(self, record: CustomKeyStoreRecord) -> bytes:
        return self._root.unseal(record.sealed_credential, credential_aad(record.store_id))

    # --- the keys' view: a key of a store that is not connected is Unavailable
    @staticmethod
    def key_view(tx: Transaction, record: KeyRecord) -> KeyRecord:
        """``record`` as requests see it: Unavailable while its store is not CONNECTED (its
        stored Enabled/Disabled state comes back when the store does); pending deletion
        stays pending deletion."""
        if record.custom_key_store_id is None or record.key_state not in (
            KeyState.ENABLED,
            KeyState.DISABLED,
        ):
            return record
        store = tx.get_custom_key_store(record.custom_key_store_id)
        if store is not None and store.connection_state is ConnectionState.CONNECTED:
            return record
        return record.evolve(key_state=KeyState.UNAVAILABLE)

    # --- live connections
    def live(self, store_id: str, key_arn: str) -> Connection:
        found = self._live.get(store_id)
        if found is None:
            raise KMSInvalidStateException(f"{key_arn} is unavailable.")
        return found[1]

    def ready(self, store: CustomKeyStoreRecord, key_arn: str) -> None:
        """Make sure this process holds a connection of ``store``'s current connection (after
        the request was allowed: the credential is unsealed only then)."""
        if store.connection_state is not ConnectionState.CONNECTED:
            raise KMSInvalidStateException(f"{key_arn} is unavailable.")
        found = self._live.get(store.store_id)
        if found is not None and found[0] == store.connection_id:
            return
        try:
            connection = self.connector(store.store_type).connect(
                store, self._open_credential(store)
            )
        except ConnectFailed as failed:
            _log.error(
                "custom key store %s is CONNECTED but this process cannot connect to it (%s: %s)",
                store.store_id,
                failed.code.value,
                failed.detail,
            )
            raise KMSInternalException(
                f"The custom key store {store.store_id} cannot be reached by this server; "
                "retry, or disconnect and connect the store again."
            ) from None
        self._install(store.store_id, store.connection_id, connection)

    def _install(self, store_id: str, connection_id: str, connection: Connection) -> None:
        closing: list[Connection] = []
        with self._lock:
            old = self._live.pop(store_id, None)
            if old is not None:
                closing.append(old[1])
            while len(self._live) >= self._max:
                oldest = next(iter(self._live))
                closing.append(self._live.pop(oldest)[1])
            self._live[store_id] = (connection_id, connection)
        for c in closing:
            c.close()

    def drop(self, store_id: str) -> None:
        """Close this process's connection of a store (disconnected, deleted or updated)."""
        with self._lock:
            old = self._live.pop(store_id, None)
        if old is not None:
            old[1].close()

    def close(self) -> None:
        with self._lock:
            live, self._live = list(self._live.values()), {}
        for _id, connection in live:
            connection.close()

    # --- ConnectCustomKeyStore's attempt, after the request committed CONNECTING
    def finish_connect(
        self,
        store: Store,
        store_id: str,
        attempt: str,
        now: Callable[[], datetime],
        audit: AuditLog | None,
    ) -> None:
        """Connect (outside any transaction), then record CONNECTED or FAILED — unless the
        store changed meanwhile (disconnected, deleted, another attempt): then the outcome is
        dropped. The outcome is audited before it is committed (recorded before visible)."""
        with store.transaction(readonly=True) as tx:
            record = tx.get_custom_key_store(store_id)
        if not _still(record, attempt):
            return
        assert record is not None  # INVARIANT: _still checked it
        connection: Connection | None = None
        code: ConnectionErrorCode | None = None
        try:
            connection = self.connector(record.store_type).connect(
                record, self._open_credential(record)
            )
        except ConnectFailed as failed:
            code = failed.code
            _log.warning(
                "custom key store %s failed to connect: %s (%s)",
                store_id,
                failed.code.value,
                failed.detail,
            )
        except Exception:  # a bug or a broken dependency: FAILED, the reason in the log
            code = ConnectionErrorCode.INTERNAL_ERROR
            _log.exception("custom key store %s failed to connect", store_id)
        state = ConnectionState.CONNECTED if connection is not None else ConnectionState.FAILED
        try:
            with store.transaction() as tx:
                current = tx.get_custom_key_store(store_id)
                if not _still(current, attempt):
                    raise _Superseded
                assert current is not None
                if audit is not None:
                    details: dict[str, object] = {"connectionState": state.value}
                    if code is not None:
                        details["connectionErrorCode"] = code.value
                    audit.append(
                        AuditRecord.service_event("ConnectCustomKeyStore", store_id, now(), details)
                    )
                tx.put_custom_key_store(
                    current.evolve(connection_state=state, connection_error_code=code)
                )
        except Exception as exc:
            # superseded, or the outcome could not be recorded (the audit log refused it):
            # the store stays as it is (CONNECTING can always be disconnected)
            if connection is not None:
                connection.close()
            if not isinstance(exc, _Superseded):
                _log.error(
                    "custom key store %s: the outcome of its connection attempt was not "
                    "recorded (%s); it stays CONNECTING until it is disconnected",
                    store_id,
                    type(exc).__name__,
                )
            return
        if connection is not None:
            self._install(store_id, attempt, connection)

    def __repr__(self) -> str:
        return (
            f"KeyStores(types={sorted(t.value for t in self._connectors)}, live={len(self._live)})"
        )


class _Superseded(Exception):  # control flow inside finish_connect only
    pass


def _still(record: CustomKeyStoreRecord | None, attempt: str) -> bool:
    return (
        record is not None
        and record.connection_state is ConnectionState.CONNECTING
        and record.connection_id == attempt
    )
