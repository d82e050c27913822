"""The composition root: settings -> root key -> store -> KMS service (and its lifecycle sweep).

Layer: wiring (used by the server and the CLI only). Holds no business rule: it chooses adapters
(SQLite in the data directory unless a store URL says otherwise, the system clock) and hands
them to ``kmspolicy.KMS``. The server builds its HTTP app on top of the ``Runtime`` returned here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kmspolicy.audit import open_audit_key, open_audit_log
from kmspolicy.errors import ConfigError
from kmspolicy.kms import KMS
from kmspolicy.kms.clock import Clock, SystemClock
from kmspolicy.kms.identities import Identities
from kmspolicy.kms.keystores import CloudHsmConnector, HsmCluster, KeyStoreConnector
from kmspolicy.kms.keystores.external import ExternalKeyStoreConnector
from kmspolicy.kms.ports import AuditLog, AuditRecord, Store
from kmspolicy.kms.quotas import Quotas
from kmspolicy.store import RootKey, SealingKey, open_root_key, open_store, sqlite_url
from kmspolicy.store.xks_http import XksHttp

log = logging.getLogger("kmspolicy.wiring")

#: the audit log's principal for the keys the operator's ``--dev`` reset deletes
DEV_RESET_PRINCIPAL = "kmspolicy serve --dev (reset)"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Where state lives and whom the service serves by default."""

    data_dir: Path = Path("data")
    store_url: str | None = None  # default: sqlite in data_dir
    root_key_file: Path | None = None  # default: $KMSPOLICY_ROOT_KEY_FILE or data_dir/root.key
    root_key: str | None = None  # a file path or a pkcs11: URI (docs/hsm.md); before the above
    account: str = "000000000000"
    region: str = "us-east-1"
    quotas: Quotas = field(default_factory=Quotas)  # AWS's resource quotas, no request quotas
    #: the Regions served (None: any); ReplicateKey creates replicas only there
    regions: frozenset[str] | None = None
    #: CloudHSM clusters of custom key stores: cluster id -> pkcs11: URI of the token
    hsm_clusters: Mapping[str, str] = field(default_factory=dict)
    #: external key stores: the CA bundle trusted for XKS proxies (None: the system's), the
    #: addresses dialled for proxy hosts (host -> (address, port)), the per-request deadline
    xks_ca_bundle: Path | None = None
    xks_connect_to: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    xks_timeout: float = 2.0
    #: (certificate, key) PEM files presented to proxies that require mutual TLS
    xks_client_cert: tuple[Path, Path] | None = None


class Runtime:
    """The store, clock and directory the service runs on; one service per region over them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        identities: Identities,
        audit: AuditLog,
        settings: ServiceSettings,
        store_description: str,
        root_key: SealingKey | None = None,
        key_stores: Sequence[KeyStoreConnector] | None = None,
    ) -> None:
        self.store = store
        # the custom key store types every regional service offers (their clusters)
        self.key_stores = key_stores if key_stores is not None else (CloudHsmConnector(),)
        self.clock = clock
        self.identities = identities
        self.audit = audit
        self.settings = settings
        self.store_description = store_description
        self.root_key = root_key
        # For the startup line: where the root key is (file or HSM) and its fingerprint, no PIN.
        self.root_key_description = root_key.describe() if root_key is not None else "none"
        # No network round trip behind a store call: an in-process store (memory, SQLite) and
        # no HSM (unsealing key material through a PKCS#11 module may reach a network HSM; so
        # may the crypto of a key in a custom key store, when any cluster is configured).
        self.in_process = (
            store_description.startswith(("memory:", "sqlite"))
            and (root_key is None or isinstance(root_key, RootKey))
            and self.clusters_description == "none"
        )
        self._services: dict[str, KMS[Clock]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def service(self, region: str | None = None) -> KMS[Clock]:
        """The service for ``region`` (keys are regional; default: the settings' region)."""
        region = region or self.settings.region
        found = self._services.get(region)
        if found is None:
            with self._lock:
                found = self._services.get(region)
                if found is None:
                    found = KMS(
                        self.store,
                        self.clock,
                        self.settings.account,
                        region,
                        self.identities,
                        self.audit,
                        quotas=self.settings.quotas,
                        regions=self.settings.regions,
                        key_stores=self.key_stores,
                    )
                    self._services[region] = found
        return found

    def sweep(self) -> None:
        """Run the lifecycle work that is due now (rotations, deletions, import expiry)."""
        # one service does the work (its audit log is the server's: the service's own changes
        # go to the same hash chain as the requests'); every other regional service's kernel
        # forgets what changed
        first, *others = list(self._services.values()) or [self.service()]
        report = first.sweep()
        for other in others:
            other.forget_keys(report.touched)

    def reset(self) -> None:
        """Delete every key (with its aliases and grants): the server's ``--dev`` reset, each
        deletion recorded in the audit log before it commits."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            for record in list(tx.iter_all_keys()):
                self.audit.append(
                    AuditRecord.service_event(
                        "DeleteKey",
                        record.arn,
                        now,
                        {"keyId": record.key_id},
                        principal=DEV_RESET_PRINCIPAL,
                    )
                )
                tx.delete_key(record.arn)

    @property
    def clusters_description(self) -> str:
        """For the startup line: the configured CloudHSM cluster ids (their tokens in docs)."""
        ids = sorted(
            cluster
            for connector in self.key_stores
            if isinstance(connector, CloudHsmConnector)
            for cluster in connector.cluster_ids
        )
        return ", ".join(ids) if ids else "none"

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for service in list(self._services.values()):
                service.close()  # custom key store sessions, before the root key's login
            self.store.close()
            if self.root_key is not None:
                self.root_key.close()  # HSM sessions; the last one logs out
            self.audit.close()


def describe_store_url(url: str) -> str:
    """The store URL without a password, for startup lines and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


def build_runtime(
    settings: ServiceSettings,
    identities: Identities,
    *,
    clock: Clock | None = None,
) -> Runtime:
    """Open the store named by ``settings`` and build the service over it."""
    clock = clock or SystemClock()
    url = settings.store_url
    needs_dir = url is None or url.startswith("sqlite") or settings.root_key_file is None
    if needs_dir:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the data directory `{settings.data_dir}`: {exc.strerror}"
            ) from exc
    if url is None:
        url = sqlite_url(str(settings.data_dir))
    root_key = None
    if not url.startswith("memory:"):
        root_key = open_root_key(settings.data_dir, settings.root_key, settings.root_key_file)
    try:
        store = open_store(url, root_key)
        try:
            audit = _audit_log(settings, root_key)
        except OSError as exc:
            store.close()
            raise ConfigError(
                f"cannot open the audit log in `{settings.data_dir}`: {exc.strerror or exc}"
            ) from None
        except ConfigError:  # an audit key that does not unseal under this root key
            store.close()
            raise
    except BaseException:
        if root_key is not None:
            root_key.close()
        raise
    return Runtime(
        store,
        clock,
        identities,
        audit,
        settings,
        describe_store_url(url),
        root_key,
        key_stores=(
            CloudHsmConnector(_clusters(settings.hsm_clusters)),
            ExternalKeyStoreConnector(
                XksHttp(
                    ca_bundle=settings.xks_ca_bundle,
                    connect_to=settings.xks_connect_to,
                    timeout=settings.xks_timeout,
                    client_cert=settings.xks_client_cert,
                )
            ),
        ),
    )


def _clusters(configured: Mapping[str, str]) -> dict[str, HsmCluster]:
    """The configured CloudHSM clusters (ConfigError at startup for a malformed one). Nothing
    is opened here: a key store logs in to its cluster when it is connected."""
    from kmspolicy.store.pkcs11_cluster import Pkcs11Cluster

    return {cluster_id: Pkcs11Cluster(cluster_id, uri) for cluster_id, uri in configured.items()}


def _audit_log(settings: ServiceSettings, root_key: SealingKey | None) -> AuditLog:
    """The hash-chained decision log in the data directory (``audit.log``), each record sealed
    with the audit key (``audit.key``, sealed under the root key) when there is a root key."""
    mac_key = open_audit_key(settings.data_dir, root_key) if root_key is not None else None
    return open_audit_log(settings.data_dir / "audit.log", mac_key=mac_key)
