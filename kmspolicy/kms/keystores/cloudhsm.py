"""CloudHSM key stores (``CustomKeyStoreType=AWS_CLOUDHSM``): a "cluster" is an HSM token.

Layer: kms. The connector validates the type's members as AWS does (``CloudHsmClusterId``,
``TrustAnchorCertificate``, ``KeyStorePassword``), names its settings and connects by logging in
to the cluster with the store's ``kmsuser`` password. The clusters themselves are a port
(``HsmCluster``): ``kmspolicy.store.pkcs11_cluster`` implements it over PKCS#11 for the clusters
the operator configured (``kmspolicy serve --hsm-cluster ID=pkcs11:...``); a cluster id the
operator did not configure does not exist. Keys' crypto: ``kms.keystores.cloudhsm_backend``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from kmspolicy.errors import (
    CloudHsmClusterInUseException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    IncorrectTrustAnchorException,
    UnsupportedOperationException,
    ValidationException,
)
from kmspolicy.kms.backends import KeyBackend
from kmspolicy.kms.keystores.cloudhsm_backend import CloudHsmBackend, HsmSession
from kmspolicy.kms.keystores.connector import (
    ConnectFailed,
    Connection,
    LiveConnections,
    NewSettings,
    Outside,
    Params,
)
from kmspolicy.kms.model import (
    ConnectionErrorCode,
    CustomKeyStoreRecord,
    CustomKeyStoreType,
    KeyInfo,
    KeyRecord,
    OriginType,
)

__all__ = ["CLUSTER_ID", "CloudHsmConnector", "HsmCluster", "check_trust_anchor"]

#: CloudHsmClusterIdType of the KMS model (19-24 characters)
CLUSTER_ID = re.compile(r"cluster-[2-7a-zA-Z]{11,16}")
_PEM = re.compile(
    r"\s*-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----\s*"
)
_CLUSTER = "CloudHsmClusterId"
_ANCHOR = "TrustAnchorCertificate"
_PASSWORD = "KeyStorePassword"


class HsmCluster(Protocol):
    """One configured cluster: an HSM token the operator told the server about."""

    cluster_id: str

    @property
    def lineage(self) -> str:
        """What two cluster ids of the same key material share (AWS: a backup history); a new
        cluster of UpdateCustomKeyStore must have the old one's."""

    def describe(self) -> str:
        """Where it is, for logs (never a PIN)."""

    def login(self, password: str) -> HsmSession:
        """A logged-in session; ConnectFailed (INVALID_CREDENTIALS, USER_LOCKED_OUT,
        CLUSTER_NOT_FOUND, NETWORK_ERRORS, ...) when there is none."""


def check_trust_anchor(text: str) -> None:
    """``TrustAnchorCertificate`` checked for form: one PEM certificate whose body is DER (a
    SEQUENCE). Its signature is not checked: there is no CloudHSM cluster certificate to check
    it against (docs/custom-key-stores.md)."""
    match = _PEM.fullmatch(text)
    der = b""
    if match is not None:
        try:
            der = base64.b64decode("".join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError):
            der = b""
    if len(der) < 2 or der[0] != 0x30:
        raise IncorrectTrustAnchorException(
            "The trust anchor certificate in the request is not a PEM-encoded X.509 certificate "
            "(the content of the cluster's customerCA.crt)."
        )


def _require(params: Params, member: str) -> str:
    value = params.get(member)
    if not value:
        raise ValidationException(
            f"{member} is required for a custom key store of type AWS_CLOUDHSM."
        )
    return str(value)


class CloudHsmConnector:
    """``AWS_CLOUDHSM`` custom key stores over the configured clusters (module docstring)."""

    store_type = CustomKeyStoreType.AWS_CLOUDHSM
    origin = OriginType.AWS_CLOUDHSM
    members = frozenset({_CLUSTER, _ANCHOR, _PASSWORD})
    # the name only (every type): the password and the cluster need a disconnected store
    updatable_while_connected: frozenset[str] = frozenset()

    def __init__(self, clusters: Mapping[str, HsmCluster] | None = None) -> None:
        self._clusters = dict(clusters or {})

    @property
    def cluster_ids(self) -> frozenset[str]:
        return frozenset(self._clusters)

    def _cluster(self, cluster_id: str) -> HsmCluster:
        found = self._clusters.get(cluster_id)
        if found is None:
            raise CloudHsmClusterNotFoundException(
                f"CloudHSM cluster {cluster_id} is not found: this server knows the clusters it "
                "was configured with (--hsm-cluster)."
            )
        return found

    @staticmethod
    def _in_use(cluster_id: str, others: Sequence[CustomKeyStoreRecord], lineage: str) -> None:
        for other in others:
            if other.store_type is CustomKeyStoreType.AWS_CLOUDHSM and (
                other.setting.get("cluster_id") == cluster_id
                or other.setting.get("lineage") == lineage
            ):
                raise CloudHsmClusterInUseException(
                    f"CloudHSM cluster {cluster_id} (or one sharing its backup history) is "
                    f"already associated with custom key store {other.store_id}."
                )

    def create_settings(
        self,
        params: Params,
        others: Sequence[CustomKeyStoreRecord],
        region: str,
        outside: Outside,
    ) -> NewSettings:
        cluster_id = _require(params, _CLUSTER)
        anchor = _require(params, _ANCHOR)
        password = _require(params, _PASSWORD)
        cluster = self._cluster(cluster_id)
        self._in_use(cluster_id, others, cluster.lineage)
        check_trust_anchor(anchor)
        settings = {
            "cluster_id": cluster_id,
            "trust_anchor_certificate": anchor,
            "lineage": cluster.lineage,
        }
        return settings, password.encode()

    def update_settings(
        self,
        record: CustomKeyStoreRecord,
        params: Params,
        others: Sequence[CustomKeyStoreRecord],
        outside: Outside,
    ) -> NewSettings:
        changes: dict[str, str] = {}
        cluster_id = params.get(_CLUSTER)
        if cluster_id:
            cluster = self._cluster(cluster_id)
            if cluster.lineage != record.setting.get("lineage"):
                raise CloudHsmClusterNotRelatedException(
                    f"CloudHSM cluster {cluster_id} does not share a backup history with "
                    f"cluster {record.setting.get('cluster_id')} of custom key store "
                    f"{record.store_id}."
                )
            self._in_use(cluster_id, [o for o in others if o.store_id != record.store_id], "")
            changes["cluster_id"] = cluster_id
        password = params.get(_PASSWORD)
        return changes, password.encode() if password else None

    def connect(self, record: CustomKeyStoreRecord, credential: bytes) -> Connection:
        cluster = self._clusters.get(record.setting.get("cluster_id", ""))
        if cluster is None:  # configured once, not any more
            raise ConnectFailed(
                ConnectionErrorCode.CLUSTER_NOT_FOUND,
                f"cluster {record.setting.get('cluster_id')} is not configured on this server",
            )
        return cluster.login(credential.decode())

    def describe(self, record: CustomKeyStoreRecord) -> dict[str, Any]:
        return {
            "CloudHsmClusterId": record.setting.get("cluster_id", ""),
            "TrustAnchorCertificate": record.setting.get("trust_anchor_certificate", ""),
        }

    def new_key(self, key: KeyRecord, params: Params, others: Sequence[KeyInfo]) -> KeyRecord:
        if params.get("XksKeyId"):
            raise UnsupportedOperationException("XksKeyId is valid only for external key stores.")
        return key

    def key_metadata(self, store: CustomKeyStoreRecord, key: KeyInfo) -> dict[str, Any]:
        return {"CloudHsmClusterId": store.setting.get("cluster_id", "")}

    def backend(self, connections: LiveConnections) -> KeyBackend:
        return CloudHsmBackend(connections)

    def __repr__(self) -> str:
        return f"CloudHsmConnector(clusters={sorted(self._clusters)})"
