"""The "CloudHSM clusters" of CloudHSM key stores: PKCS#11 tokens (store layer, an adapter of
``kms.keystores.cloudhsm.HsmCluster``).

``kmspolicy serve --hsm-cluster cluster-234567abcdef=pkcs11:module=...;token=...`` names a token
as a cluster. A key store logs in to it with its ``KeyStorePassword`` as the token's user PIN
(AWS's ``kmsuser``); its KMS keys are AES-256 token objects generated non-extractable and
sensitive, and every Encrypt and Decrypt is one ``CKM_AES_GCM`` call in the token. Calls hold
``pkcs11.CALL_LOCK`` and share the token's login with the rest of the process, like the root
key (``store.pkcs11``). docs/custom-key-stores.md.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from kmspolicy.errors import (
    ConfigError,
    InternalError,
    KeyUnavailableException,
    KMSInvalidStateException,
)
from kmspolicy.kms.keystores.cloudhsm import CLUSTER_ID
from kmspolicy.kms.keystores.connector import ConnectFailed
from kmspolicy.kms.model import ConnectionErrorCode
from kmspolicy.store import pkcs11 as p11store
from kmspolicy.store.hsm_uri import HsmUri, parse_pkcs11_uri

try:
    from pkcs11 import KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11
    from pkcs11.mechanisms import GCMParams
except ImportError:  # pragma: no cover - login() says so (find_token: ConfigError)
    pass

__all__ = ["Pkcs11Cluster", "Pkcs11ClusterSession", "parse_cluster_option"]

_TAG_BITS = 128
_OBJECT_ID_BYTES = 16
#: key objects whose handles a session keeps (found by CKA_ID once, then reused)
_HANDLES = 4096
_NOT_FOR_CLUSTERS = re.compile(r"(?:^|[;?&])\s*(object|label|pin-source)\s*=", re.IGNORECASE)
_PIN_SOURCE = "the key store's KeyStorePassword"


def parse_cluster_option(text: str) -> tuple[str, str]:
    """``cluster-ID=pkcs11:...`` (the --hsm-cluster option) → (cluster id, URI)."""
    cluster_id, eq, uri = text.partition("=")
    cluster_id = cluster_id.strip()
    if not eq or not uri.strip():
        raise ConfigError(
            f"--hsm-cluster takes CLUSTER_ID=pkcs11:module=...;token=..., got `{text}`"
        )
    return cluster_id, uri.strip()


class Pkcs11Cluster:
    """A PKCS#11 token serving as the CloudHSM cluster ``cluster_id``."""

    __slots__ = ("cluster_id", "uri")

    def __init__(self, cluster_id: str, uri: str) -> None:
        if not CLUSTER_ID.fullmatch(cluster_id):
            raise ConfigError(
                f"`{cluster_id}` is not a CloudHSM cluster id (cluster- and 11-16 characters "
                "of [2-7a-zA-Z], e.g. cluster-234567abcdef)"
            )
        found = _NOT_FOR_CLUSTERS.search(uri.removeprefix("pkcs11:"))
        if found is not None:
            raise ConfigError(
                f"`{found.group(1)}=` has no meaning in a cluster's pkcs11: URI: a key store "
                "logs in with its KeyStorePassword and makes one key object per KMS key"
            )
        self.cluster_id = cluster_id
        self.uri: HsmUri = dataclasses.replace(parse_pkcs11_uri(uri), pin_source=_PIN_SOURCE)

    @property
    def lineage(self) -> str:
        """Two cluster ids naming the same token share their key material (AWS: a backup
        history), so UpdateCustomKeyStore may move a store between them."""
        return f"pkcs11:{self.uri.module}|{self.uri.token}|{self.uri.serial or ''}"

    def describe(self) -> str:
        serial = f";serial={self.uri.serial}" if self.uri.serial else ""
        return f"{self.cluster_id}=pkcs11:module={self.uri.module};token={self.uri.token}{serial}"

    def login(self, password: str) -> Pkcs11ClusterSession:
        with p11store.CALL_LOCK:
            try:
                token = p11store.find_token(self.uri)
            except ConfigError as exc:
                raise ConnectFailed(ConnectionErrorCode.CLUSTER_NOT_FOUND, str(exc)) from None
            try:
                login = p11store._Login.acquire(self.uri, token, password)
            except p11store.PinRefused as exc:
                code = (
                    ConnectionErrorCode.USER_LOCKED_OUT
                    if exc.locked
                    else ConnectionErrorCode.INVALID_CREDENTIALS
                )
                raise ConnectFailed(code, str(exc)) from None
            except ConfigError as exc:
                raise ConnectFailed(ConnectionErrorCode.NETWORK_ERRORS, str(exc)) from None
            try:
                session = token.open(rw=True)  # shares the login
            except p11.PKCS11Error as exc:
                login.release(self.uri)
                raise ConnectFailed(
                    ConnectionErrorCode.NETWORK_ERRORS, p11store._name(exc)
                ) from None
            return Pkcs11ClusterSession(self, login, session)

    def __repr__(self) -> str:
        return f"Pkcs11Cluster({self.describe()!r})"


class Pkcs11ClusterSession:
    """A key store's logged-in session of its cluster (``kms.keystores.Connection``)."""

    __slots__ = ("_closed", "_cluster", "_handles", "_login", "_session")

    def __init__(self, cluster: Pkcs11Cluster, login: Any, session: Any) -> None:
        self._cluster = cluster
        self._login = login
        self._session = session
        self._handles: dict[bytes, Any] = {}
        self._closed = False

    # --- key objects
    def generate_key(self, label: str) -> bytes:
        object_id = os.urandom(_OBJECT_ID_BYTES)  # CKA_ID: names the object, not secret

        def generate() -> Any:
            return self._session.generate_key(
                KeyType.AES,
                256,
                label=label,
                id=object_id,
                store=True,
                template=p11store.non_extractable_aes_template(),
            )

        try:
            self._handles[object_id] = self._call(generate)
        except _Refused as exc:
            raise _refused("generate a key", exc) from None
        return object_id

    def _key(self, object_id: bytes) -> Any:
        handle = self._handles.get(object_id)
        if handle is None:
            try:
                handle = self._session.get_key(object_class=ObjectClass.SECRET_KEY, id=object_id)
            except (p11.NoSuchKey, p11.MultipleObjectsReturned):
                # AWS: the key's backing key is gone from the cluster; its state is unchanged
                raise KMSInvalidStateException(
                    "The key material of this KMS key is not in its CloudHSM cluster "
                    f"{self._cluster.cluster_id}."
                ) from None
            if len(self._handles) >= _HANDLES:
                self._handles.pop(next(iter(self._handles)))
            self._handles[object_id] = handle
        return handle

    def encrypt(self, object_id: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        params = GCMParams(nonce, aad, _TAG_BITS)
        try:
            return bytes(
                self._call(
                    lambda: self._key(object_id).encrypt(
                        plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params
                    )
                )
            )
        except _Refused as exc:
            raise _refused("encrypt", exc) from None

    def decrypt(self, object_id: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes | None:
        params = GCMParams(nonce, aad, _TAG_BITS)
        try:
            return bytes(
                self._call(
                    lambda: self._key(object_id).decrypt(
                        sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params
                    )
                )
            )
        except _Refused:  # the tag does not verify: not this key, context or ciphertext
            return None

    def destroy(self, object_id: bytes) -> bool:
        try:
            handle = self._key(object_id)
        except KMSInvalidStateException:
            return False
        try:
            self._call(handle.destroy)
        except _Refused as exc:
            raise _refused("destroy a key", exc) from None
        self._handles.pop(object_id, None)
        return True

    def generate_random(self, count: int) -> bytes:
        try:
            return bytes(self._call(lambda: self._session.generate_random(count * 8)))
        except _Refused as exc:
            raise _refused("generate random bytes", exc) from None

    def _call(self, work: Any) -> Any:
        """One call into the module; a dead session (HSM restart) is replaced and the call
        tried once more. A token that stays away: KeyUnavailableException (retryable). The
        token refusing the call itself (a GCM tag that does not verify): _Refused."""
        with p11store.CALL_LOCK:
            if self._closed:
                raise KeyUnavailableException("The custom key store's connection was closed.")
            try:
                return work()
            except p11store._UNAVAILABLE:
                pass  # try once more in a new session
            except p11.PKCS11Error as exc:
                raise _Refused(p11store._name(exc)) from None
            self._handles.clear()
            p11store._close_quietly(self._session)
            try:
                self._session = self._login.token.open(rw=True)
                return work()
            except p11.PKCS11Error as exc:
                if isinstance(exc, p11store._UNAVAILABLE):
                    raise KeyUnavailableException(
                        f"CloudHSM cluster {self._cluster.cluster_id} is not reachable "
                        f"({p11store._name(exc)}); retry the request."
                    ) from None
                raise _Refused(p11store._name(exc)) from None

    def close(self) -> None:
        with p11store.CALL_LOCK:
            if self._closed:
                return
            self._closed = True
            self._handles.clear()
            p11store._close_quietly(self._session)
            self._login.release(self._cluster.uri)

    def __repr__(self) -> str:
        return f"Pkcs11ClusterSession({self._cluster.cluster_id}, closed={self._closed})"


class _Refused(Exception):  # inside this module only
    """The token refused a call for its data (e.g. a GCM tag that does not verify)."""


def _refused(what: str, exc: _Refused) -> InternalError:
    return InternalError(f"the CloudHSM cluster's token refused to {what}: {exc}")
