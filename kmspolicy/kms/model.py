"""The KMS domain model: frozen records for keys, key-material versions, aliases, grants and
custom key stores.

Layer: kms (pure data, no I/O). Enums carry AWS spellings. No record holds a secret: key
material and import wrapping keys are carried as the kernel sealed them (``kms.backends``), as
``kms.sealed.Sealed`` references: opaque to everything but the key's backend and the stores,
which persist them as they are. Key
specs and usages are the crypto layer's StrEnums; the records type them as ``str`` so a store
can hand back plain strings from a database row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from kmspolicy._frozen import quick_init
from kmspolicy.kms.sealed import Sealed
from kmspolicy.kms.states import KeyState  # the one KeyState enum lives beside its table

__all__ = [
    "AliasRecord",
    "ConnectionErrorCode",
    "ConnectionState",
    "CustomKeyStoreRecord",
    "CustomKeyStoreType",
    "ExpirationModelType",
    "GrantConstraints",
    "GrantRecord",
    "ImportState",
    "KeyChanges",
    "KeyInfo",
    "KeyManagerType",
    "KeyMaterial",
    "KeyMaterialState",
    "KeyRecord",
    "KeyState",
    "MultiRegionKeyType",
    "OriginType",
    "PendingImportParameters",
    "RotationType",
    "SessionRecord",
    "Tag",
]


class OriginType(StrEnum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class KeyManagerType(StrEnum):
    AWS = "AWS"
    CUSTOMER = "CUSTOMER"


class MultiRegionKeyType(StrEnum):
    PRIMARY = "PRIMARY"
    REPLICA = "REPLICA"


class ExpirationModelType(StrEnum):
    KEY_MATERIAL_EXPIRES = "KEY_MATERIAL_EXPIRES"
    KEY_MATERIAL_DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"


class KeyMaterialState(StrEnum):
    NON_CURRENT = "NON_CURRENT"
    CURRENT = "CURRENT"
    PENDING_ROTATION = "PENDING_ROTATION"
    # new material of a multi-Region primary that some replica has not imported yet
    PENDING_MULTI_REGION_IMPORT_AND_ROTATION = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"

    @property
    def waiting(self) -> bool:
        """Imported, not yet rotated in: no ciphertext can name it."""
        return self in (
            KeyMaterialState.PENDING_ROTATION,
            KeyMaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION,
        )


class ImportState(StrEnum):
    IMPORTED = "IMPORTED"
    PENDING_IMPORT = "PENDING_IMPORT"


class RotationType(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    ON_DEMAND = "ON_DEMAND"


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@quick_init  # built for every version made and read (kmspolicy._frozen)
@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """One version in a key's ring of material.

    ``sealed`` is the backend's reference to the secret (for the default backend: the secret
    sealed under the root key, bound to the key ARN and this version); ``None`` when imported
    material is pending import, was deleted or expired. ``public_key`` (DER SPKI) is not secret
    and kept beside asymmetric material so GetPublicKey never opens the private key.
    """

    material_id: str  # 64 lowercase hex characters (AWS KeyMaterialId)
    sealed: Sealed | None = field(default=None, repr=False)
    state: KeyMaterialState = KeyMaterialState.CURRENT
    import_state: ImportState = ImportState.IMPORTED
    created: datetime | None = None
    rotation_date: datetime | None = None  # set for materials that a rotation made current
    rotation_type: RotationType | None = None
    expiration_model: ExpirationModelType | None = None  # imported material only
    valid_to: datetime | None = None
    description: str | None = None  # KeyMaterialDescription (imported symmetric material)
    public_key: bytes | None = None
    #: sealed bound to its multi-Region set (``backends.material_scope``), as every version a
    #: multi-Region key makes is; False for a version made before versions were bound to the
    #: set (bound to its key's ARN, or not known to be), which ReplicateKey binds to the set
    #: first (``Kernel.bind_to_set``)
    bound_to_set: bool = False

    @property
    def has_material(self) -> bool:
        """Whether this version holds material (False: pending import, deleted or expired)."""
        return self.sealed is not None

    def __repr__(self) -> str:  # INVARIANT: the secret never reaches a repr or a log line
        return (
            f"KeyMaterial(material_id={self.material_id!r}, state={self.state.value}, "
            f"import_state={self.import_state.value}, has_material={self.sealed is not None})"
        )


@dataclass(frozen=True, slots=True)
class PendingImportParameters:
    """The wrapping key pair and token handed out by GetParametersForImport (lifecycle)."""

    import_token_id: str
    wrapping_key_spec: str
    wrapping_algorithm: str
    valid_to: datetime
    #: the wrapping private key, sealed by the kernel like material (bound to the token id);
    #: None only inside a store's codec, between the document and the secret's own row
    sealed_wrapping_key: Sealed | None = field(default=None, repr=False)


@quick_init  # built for every key created or changed (kmspolicy._frozen)
@dataclass(frozen=True, slots=True)
class KeyRecord:
    """Everything kmspolicy knows about one KMS key (one Region's copy of it)."""

    key_id: str
    arn: str
    account: str
    region: str
    creation_date: datetime
    key_spec: str  # kmspolicy.crypto KeySpec value
    key_usage: str  # kmspolicy.crypto KeyUsage value
    key_state: KeyState
    policy: str  # the key policy document, as the JSON text the caller supplied
    origin: OriginType = OriginType.AWS_KMS
    key_manager: KeyManagerType = KeyManagerType.CUSTOMER
    description: str = ""
    tags: tuple[Tag, ...] = ()
    materials: tuple[KeyMaterial, ...] = ()
    current_material_id: str | None = None
    multi_region: bool = False
    multi_region_key_type: MultiRegionKeyType | None = None
    #: a multi-Region key: the Region of the set's primary key, and the Regions of its
    #: replicas (sorted), the same on every member of the set (``lifecycle.multiregion``)
    primary_region: str | None = None
    replica_regions: tuple[str, ...] = ()
    #: a member of a set mid UpdatePrimaryRegion (``Updating``): when the service completes it
    updating_until: datetime | None = None
    deletion_date: datetime | None = None
    pending_deletion_window_days: int | None = None
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    next_rotation_date: datetime | None = None
    on_demand_rotation_start_date: datetime | None = None
    on_demand_rotations: int = 0
    pending_imports: tuple[PendingImportParameters, ...] = ()
    custom_key_store_id: str | None = None
    #: the external key of a key in an external key store (CreateKey's XksKeyId)
    xks_key_id: str | None = None

    @property
    def enabled(self) -> bool:
        return self.key_state is KeyState.ENABLED

    @property
    def current_material(self) -> KeyMaterial | None:
        for m in self.materials:
            if m.material_id == self.current_material_id:
                return m
        return None

    def material_by_id(self, material_id: str) -> KeyMaterial | None:
        for m in self.materials:
            if m.material_id == material_id:
                return m
        return None

    @property
    def tag_map(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}

    def evolve(self, **changes: object) -> KeyRecord:
        """A copy with ``changes`` applied (records are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]  # fields checked by replace


#: Fields of a key's next record, by name (``KeyRecord.evolve``'s keywords): what a lifecycle
#: rule returns and ``Call.update_key`` applies. Empty: nothing changes.
KeyChanges = dict[str, Any]


class KeyInfo(Protocol):
    """A key as handlers and lifecycle rules see it (``AuthorizedKey.info``): every field of
    ``KeyRecord``, read-only. It has no ``evolve``: a handler changes a key only through
    ``Call.update_key`` (``KeyChanges``), and its versions and import parameters carry their
    secrets only as opaque ``Sealed`` references (``kms.sealed``)."""

    @property
    def key_id(self) -> str: ...
    @property
    def arn(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def creation_date(self) -> datetime: ...
    @property
    def key_spec(self) -> str: ...
    @property
    def key_usage(self) -> str: ...
    @property
    def key_state(self) -> KeyState: ...
    @property
    def policy(self) -> str: ...
    @property
    def origin(self) -> OriginType: ...
    @property
    def key_manager(self) -> KeyManagerType: ...
    @property
    def description(self) -> str: ...
    @property
    def tags(self) -> tuple[Tag, ...]: ...
    @property
    def materials(self) -> tuple[KeyMaterial, ...]: ...
    @property
    def current_material_id(self) -> str | None: ...
    @property
    def multi_region(self) -> bool: ...
    @property
    def multi_region_key_type(self) -> MultiRegionKeyType | None: ...
    @property
    def primary_region(self) -> str | None: ...
    @property
    def replica_regions(self) -> tuple[str, ...]: ...
    @property
    def deletion_date(self) -> datetime | None: ...
    @property
    def pending_deletion_window_days(self) -> int | None: ...
    @property
    def rotation_enabled(self) -> bool: ...
    @property
    def rotation_period_days(self) -> int | None: ...
    @property
    def next_rotation_date(self) -> datetime | None: ...
    @property
    def on_demand_rotation_start_date(self) -> datetime | None: ...
    @property
    def on_demand_rotations(self) -> int: ...
    @property
    def pending_imports(self) -> tuple[PendingImportParameters, ...]: ...
    @property
    def custom_key_store_id(self) -> str | None: ...
    @property
    def xks_key_id(self) -> str | None: ...
    @property
    def updating_until(self) -> datetime | None: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def current_material(self) -> KeyMaterial | None: ...
    def material_by_id(self, material_id: str) -> KeyMaterial | None: ...
    @property
    def tag_map(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class AliasRecord:
    name: str  # "alias/..."
    arn: str
    account: str
    region: str
    target_key_id: str | None  # a key id (not ARN); None for a predefined AWS alias not yet used
    creation_date: datetime
    last_updated_date: datetime


@dataclass(frozen=True, slots=True)
class GrantConstraints:
    encryption_context_equals: tuple[tuple[str, str], ...] | None = None  # sorted pairs
    encryption_context_subset: tuple[tuple[str, str], ...] | None = None
    #: the AWS resource on whose behalf a request must be made (``aws:SourceArn``)
    source_arn: str | None = None


@dataclass(frozen=True, slots=True)
class GrantRecord:
    grant_id: str
    key_arn: str
    grantee_principal: str
    operations: tuple[str, ...]  # GrantOperation values, e.g. "Decrypt"
    issuing_account: str  # "arn:aws:iam::<acct>:root"
    creation_date: datetime
    name: str | None = None
    retiring_principal: str | None = None
    constraints: GrantConstraints | None = None
    # A service principal grantee (GranteeServicePrincipal) or retiring principal
    # (RetiringServicePrincipal) is held in grantee_principal / retiring_principal, which the
    # decision point compares with the caller; these flags say which member named it.
    grantee_is_service: bool = False
    retiring_is_service: bool = False
    # The nonce every grant token of this grant carries (hex; checked in constant time). Empty
    # for grants stored before tokens were checked: their tokens are accepted by key and id.
    token_nonce: str = field(default="", repr=False)


class CustomKeyStoreType(StrEnum):
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class ConnectionState(StrEnum):
    """``ConnectionStateType`` of the KMS model."""

    CONNECTED = "CONNECTED"
    CONNECTING = "CONNECTING"
    FAILED = "FAILED"
    DISCONNECTED = "DISCONNECTED"
    DISCONNECTING = "DISCONNECTING"


class ConnectionErrorCode(StrEnum):
    """``ConnectionErrorCodeType``: why a custom key store is ``FAILED``."""

    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    CLUSTER_NOT_FOUND = "CLUSTER_NOT_FOUND"
    NETWORK_ERRORS = "NETWORK_ERRORS"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INSUFFICIENT_CLOUDHSM_HSMS = "INSUFFICIENT_CLOUDHSM_HSMS"
    USER_LOCKED_OUT = "USER_LOCKED_OUT"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    USER_LOGGED_IN = "USER_LOGGED_IN"
    SUBNET_NOT_FOUND = "SUBNET_NOT_FOUND"
    INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET = "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"
    XKS_PROXY_ACCESS_DENIED = "XKS_PROXY_ACCESS_DENIED"
    XKS_PROXY_NOT_REACHABLE = "XKS_PROXY_NOT_REACHABLE"
    XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND = "XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND"
    XKS_PROXY_INVALID_RESPONSE = "XKS_PROXY_INVALID_RESPONSE"
    XKS_PROXY_INVALID_CONFIGURATION = "XKS_PROXY_INVALID_CONFIGURATION"
    XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION = (
        "XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION"
    )
    XKS_PROXY_TIMED_OUT = "XKS_PROXY_TIMED_OUT"
    XKS_PROXY_INVALID_TLS_CONFIGURATION = "XKS_PROXY_INVALID_TLS_CONFIGURATION"


@dataclass(frozen=True, slots=True)
class CustomKeyStoreRecord:
    """One custom key store of an account and Region (``kms.keystores``).

    ``settings`` are the type's non-secret parameters as (name, value) pairs (a CloudHSM key
    store: its cluster id and trust anchor; an external key store: its proxy's URI, path,
    connectivity and access key id), each type's connector reading its own. ``sealed_credential``
    is the secret a connection needs (the ``kmsuser`` password, the proxy's secret access key),
    sealed under the root key by ``kms.keystores`` and bound to the store's id: never stored or
    logged in plaintext. ``connection_id`` changes on every successful connection, so a process
    holding a connection of an earlier one knows to drop it.
    """

    store_id: str  # "cks-" and 17 hex digits, as AWS makes them
    account: str
    region: str
    name: str
    store_type: CustomKeyStoreType
    creation_date: datetime
    connection_state: ConnectionState = ConnectionState.DISCONNECTED
    connection_error_code: ConnectionErrorCode | None = None
    settings: tuple[tuple[str, str], ...] = ()
    sealed_credential: bytes = field(default=b"", repr=False)
    connection_id: str = ""

    @property
    def setting(self) -> dict[str, str]:
        return dict(self.settings)

    def evolve(self, **changes: object) -> CustomKeyStoreRecord:
        return replace(self, **changes)  # type: ignore[arg-type]  # fields checked by replace


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A signed-in session of the web console (``server.console``), kept in the store so that
    every server process sharing it knows the session and a sign-out ends it everywhere.
    ``digest`` is the SHA-256 of the cookie's random token: the token itself is never stored,
    so a copy of the store holds no usable cookie."""

    digest: str  # 64 hex digits
    principal: str
    access_key_id: str
    region: str
    expires: datetime  # by the service's clock
