"""The key backend of external key stores: double encryption through the XKS proxy.

Layer: kms (a ``kms.backends.KeyBackend``, registered for ``Origin=EXTERNAL_KEY_STORE``). A key
has its own AES-256 material, made and sealed under the root key like any key's (AWS's key
material in KMS), and its external key (``XksKeyId``) in the proxy's key manager. ``create``
first asks the proxy's GetKeyMetadata that the external key exists, is AES_256, ENABLED and
usable for ENCRYPT and DECRYPT (``XksKeyNotFoundException``,
``XksKeyInvalidConfigurationException``). Encrypt seals the data under the key's material and
then has the proxy encrypt that; Decrypt undoes both (``crypto.xksblob``, blob version 2). Every
proxy call carries ``requestMetadata``: the request the pipeline runs (``kms.onbehalf``) and the
key's ARN. A proxy failure during a cryptographic operation is ``KMSInvalidStateException`` with
a message saying what went wrong, as AWS answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from kmspolicy.crypto import material as cm
from kmspolicy.crypto import xksblob
from kmspolicy.crypto.blob import NONCE_LENGTH, BlobHeader
from kmspolicy.crypto.material import Rng
from kmspolicy.errors import (
    InternalError,
    XksKeyInvalidConfigurationException,
)
from kmspolicy.kms.backends import (
    MATERIAL,
    KeyToMake,
    NewVersion,
    NoImport,
    OpenedKey,
    SealedBackend,
    material_scope,
)
from kmspolicy.kms.keystores.connector import LiveConnections
from kmspolicy.kms.keystores.symmetric import SymmetricOnly
from kmspolicy.kms.keystores.xks_errors import kms_error
from kmspolicy.kms.model import KeyInfo
from kmspolicy.kms.onbehalf import current
from kmspolicy.kms.sealed import Sealed
from kmspolicy.kms.xks_client import RequestMetadata, XksClient, XksProxyFailure, XksSealed

__all__ = ["ExternalKeyBackend", "request_metadata"]


def request_metadata(key_arn: str | None, operation: str | None = None) -> RequestMetadata:
    """``requestMetadata`` of the request being run (``AWS Internal`` outside one)."""
    behalf = current()
    if behalf is None:
        return RequestMetadata(
            "AWS Internal", operation or "KmsInternal", str(uuid.uuid4()), key_arn
        )
    return RequestMetadata(
        aws_principal_arn=behalf.principal_arn,
        kms_operation=operation or behalf.operation,
        kms_request_id=behalf.request_id or str(uuid.uuid4()),
        kms_key_arn=key_arn,
        kms_via_service=behalf.via_service,
        aws_source_vpc=behalf.source_vpc,
        aws_source_vpce=behalf.source_vpce,
    )


class _ExternalKey(SymmetricOnly):
    """One version of an external key store's key: its material here, its external key there."""

    _store_kind = "an external key store"
    __slots__ = ("_arn", "_connections", "_material", "_store_id", "_xks_key_id")

    def __init__(
        self,
        connections: LiveConnections,
        store_id: str,
        arn: str,
        xks_key_id: str,
        material: cm.KeyMaterial,
    ) -> None:
        self._connections = connections
        self._store_id = store_id
        self._arn = arn
        self._xks_key_id = xks_key_id
        self._material = material

    def _client(self) -> XksClient:
        client = self._connections.live(self._store_id, self._arn)
        return client  # type: ignore[return-value]  # this type's connections are XKS clients

    def encrypt(
        self,
        key_id: str,
        material_id: str,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        rng: Rng,
    ) -> bytes:
        header = xksblob.xks_header(key_id, material_id, rng(NONCE_LENGTH))
        inner = xksblob.seal_inner(self._material, header, plaintext, context)
        try:
            sealed = self._client().encrypt(
                self._xks_key_id,
                inner,
                xksblob.outer_aad(header, context),
                request_metadata(self._arn),
            )
        except XksProxyFailure as failure:
            raise kms_error(failure, "crypto") from None
        outer = xksblob.OuterLayer(sealed.ciphertext, sealed.iv, sealed.tag, sealed.metadata)
        return xksblob.assemble(header, outer)

    def decrypt(self, blob: bytes, header: BlobHeader, context: Mapping[str, str] | None) -> bytes:
        # its own split: the outer layer's fields follow the header the kernel read
        parts = xksblob.split(blob)
        outer = parts.outer
        try:
            inner = self._client().decrypt(
                self._xks_key_id,
                XksSealed(outer.ciphertext, outer.iv, outer.tag, outer.metadata),
                xksblob.outer_aad(parts.header, context),
                request_metadata(self._arn),
            )
        except XksProxyFailure as failure:
            raise kms_error(failure, "crypto") from None
        return xksblob.open_inner(self._material, parts, inner, context)

    def __repr__(self) -> str:
        return f"_ExternalKey({self._arn}, xks={self._xks_key_id})"


class ExternalKeyBackend(NoImport):
    """Keys of ``Origin=EXTERNAL_KEY_STORE`` (module docstring)."""

    name = "external"
    remote = True  # every Encrypt and Decrypt asks the proxy
    __slots__ = ("_connections", "_sealed")

    def __init__(self, connections: LiveConnections) -> None:
        self._connections = connections
        self._sealed = SealedBackend(connections.root_key)

    @staticmethod
    def _where(key: KeyToMake) -> tuple[str, str]:
        if key.custom_key_store_id is None or key.xks_key_id is None:
            raise InternalError(f"{key.arn} has origin EXTERNAL_KEY_STORE but no external key")
        return key.custom_key_store_id, key.xks_key_id

    def create(self, key: KeyToMake, rng: Rng) -> NewVersion:
        store_id, xks_key_id = self._where(key)
        client: XksClient = self._connections.live(store_id, key.arn)  # type: ignore[assignment]
        try:
            # during CreateKey the KMS key's ARN is not sent: it does not exist yet
            found = client.key_metadata(xks_key_id, request_metadata(None, "CreateKey"))
        except XksProxyFailure as failure:
            raise kms_error(failure, "create_key") from None
        if (
            found.key_spec != "AES_256"
            or not {"ENCRYPT", "DECRYPT"} <= set(found.key_usage)
            or found.key_status != "ENABLED"
        ):
            raise XksKeyInvalidConfigurationException(
                f"The external key {xks_key_id} must be an AES_256 key, ENABLED, with key usage "
                f"ENCRYPT and DECRYPT; its proxy reports {found.key_spec}, {found.key_status}, "
                f"{', '.join(found.key_usage) or 'no usage'}."
            )
        return self._sealed.create(key, rng)  # the key's own material (the inner layer)

    def open(self, key: KeyInfo, material_id: str, sealed: Sealed) -> OpenedKey:
        store_id, xks_key_id = self._where(key)
        secret = self._sealed.open_secret(material_scope(key), MATERIAL, material_id, sealed)
        material = cm.load_key_material(key.key_spec, secret)
        return _ExternalKey(self._connections, store_id, key.arn, xks_key_id, material)

    def destroy(self, key: KeyInfo, refs: tuple[Sealed, ...]) -> int:
        return 0  # the material lived in the record; the external key is its manager's

    def __repr__(self) -> str:
        return "ExternalKeyBackend()"
