"""Custom key stores: the framework every ``CustomKeyStoreType`` plugs into, and CloudHSM's.

Layer: kms. ``connector`` (the plug: ``KeyStoreConnector``, ``Connection``, ``ConnectFailed``),
``live`` (``KeyStores``: a service's connectors and its live connections, credentials sealed
under the root key), ``cloudhsm`` + ``cloudhsm_backend`` (``AWS_CLOUDHSM``: keys generated and
used inside an HSM token). The six operations are ``kms.handlers.keystores``; the clusters'
PKCS#11 side is ``kmspolicy.store.pkcs11_cluster``. docs/custom-key-stores.md.
"""

from __future__ import annotations

from kmspolicy.kms.keystores.cloudhsm import CloudHsmConnector, HsmCluster
from kmspolicy.kms.keystores.connector import ConnectFailed, Connection, KeyStoreConnector
from kmspolicy.kms.keystores.live import KeyStores

__all__ = [
    "CloudHsmConnector",
    "ConnectFailed",
    "Connection",
    "HsmCluster",
    "KeyStoreConnector",
    "KeyStores",
]
