"""Key backends: where a key's material lives and where its cryptography runs (a port).

Layer: kms, just below the kernel. ``kms.kernel`` performs every cryptographic operation through
the backend of the key (chosen per key by ``backend_for``), on one material version at a time:

- ``create`` makes a new version (CreateKey, rotation, an AWS managed key) and returns the
  reference the record keeps (``KeyMaterial.sealed``: opaque to everything but the backend).
  It reads only a ``KeyToMake`` of the key: CreateKey passes a ``NewKey`` and builds the
  record once, with the version in it;
- ``open`` turns a version's reference into an ``OpenedKey``, the object that performs the
  crypto. The kernel caches opened keys per ``KMS`` instance; nothing else ever holds one;
- ``adopt`` takes material that arrived in plaintext (ImportKeyMaterial, after unwrapping) and
  returns its reference; ``seal_secret``/``open_secret`` keep the other secrets of a key (the
  wrapping private key of GetParametersForImport) the same way.

``SealedBackend`` keeps material sealed under the root key, crypto in this process. The keys of
custom key stores have theirs: a CloudHSM key store's (``kms.keystores.cloudhsm_backend``: the
reference is a token object's id, ``open`` returns an ``OpenedKey`` that calls the token), and an
external key store's (``open`` returning one that double-encrypts through the proxy); each type's
connector (``kms.keystores.connector``) registers its backend for its ``OriginType``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii as _json_str
from typing import NamedTuple, Protocol

from kmspolicy.authz.arn import Arn
from kmspolicy.crypto import asymmetric, kem, mac, specs
from kmspolicy.crypto import material as cm
from kmspolicy.crypto.agreement import derive_shared_secret
from kmspolicy.crypto.blob import (
    NONCE_LENGTH,
    BlobHeader,
    BlobSealer,
    blob_sealer,
    decrypt_blob,
)
from kmspolicy.crypto.material import Rng
from kmspolicy.crypto.seal import SealError
from kmspolicy.errors import InternalError, UnsupportedOperationException
from kmspolicy.kms.envelope import Envelope
from kmspolicy.kms.model import KeyInfo, OriginType
from kmspolicy.kms.ports import SealingKey
from kmspolicy.kms.sealed import Sealed, reveal

__all__ = [
    "MATERIAL",
    "WRAPPING_KEY",
    "Hold",
    "KeyBackend",
    "KeyToMake",
    "NewKey",
    "NewVersion",
    "NoImport",
    "OpenedKey",
    "SealedBackend",
    "material_scope",
    "secret_aad",
]

# The kinds of secret a key carries; part of each sealed blob's associated data.
MATERIAL = "material"
WRAPPING_KEY = "wrapping-key"
# Unchanged since sealing moved from the stores to the kernel: existing data stays readable.
_AAD_LABEL = b"kmspolicy/store/v1\x00"


def secret_aad(key_arn: str, kind: str, ref: str) -> bytes:
    """Unambiguous encoding of (key ARN, kind, version): a sealed blob copied into another
    key's row or another version's slot fails to open instead of serving the wrong key."""
    # the bytes of json.dumps([key_arn, kind, ref], separators=(",", ":")), without building
    # an encoder per call (tests/kms/test_backends.py holds them equal)
    return _AAD_LABEL + f"[{_json_str(key_arn)},{_json_str(kind)},{_json_str(ref)}]".encode()


class KeyToMake(Protocol):
    """What a backend reads of a key to make (or adopt) a version for it: any ``KeyInfo``, or
    the ``NewKey`` of a key whose record does not exist yet."""

    @property
    def key_id(self) -> str: ...
    @property
    def arn(self) -> str: ...
    @property
    def key_spec(self) -> str: ...
    @property
    def origin(self) -> OriginType: ...
    @property
    def multi_region(self) -> bool: ...
    @property
    def custom_key_store_id(self) -> str | None: ...
    @property
    def xks_key_id(self) -> str | None: ...


class NewKey(NamedTuple):
    """A key CreateKey is making, before its record: its first version is made from this, so
    the record is built once, with the version in it (a tuple: the cheapest to build)."""

    key_id: str
    arn: str
    key_spec: str
    origin: OriginType
    multi_region: bool = False
    custom_key_store_id: str | None = None
    xks_key_id: str | None = None


def material_scope(key: KeyToMake) -> str:
    """What a key's material is bound to when sealed: its ARN, or for a multi-Region key the
    ARN without its Region. The primary and its replicas share their material (one key id,
    one account, the same versions in every Region), so a version sealed for one member opens
    for every member of the set and for nothing else; replicating or synchronizing a set copies
    sealed references and never unseals anything."""
    if key.multi_region:
        return str(Arn.parse(key.arn)._replace(region=""))
    return key.arn


class NewVersion(NamedTuple):
    """A material version a backend has just made: its id, its reference, its public key (a
    tuple, as ``NewKey``: the cheapest to build)."""

    material_id: str
    sealed: Sealed
    public_key: bytes | None = None


class OpenedKey(Protocol):
    """The cryptography of one opened material version (held only by the kernel)."""

    def encrypt(
        self,
        key_id: str,
        material_id: str,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        rng: Rng,
    ) -> bytes: ...
    def decrypt(self, blob: bytes, header: BlobHeader, context: Mapping[str, str] | None) -> bytes:
        """The plaintext of ``blob``, whose header the kernel has read (``header``: the blob's
        own ``parse_blob_header``, so it is not parsed again)."""

    def encrypt_asymmetric(self, algorithm: str, plaintext: bytes) -> bytes: ...
    def decrypt_asymmetric(self, algorithm: str, ciphertext: bytes) -> bytes: ...
    def sign(self, algorithm: str, message: bytes, message_type: str) -> bytes: ...
    def verify(self, algorithm: str, message: bytes, signature: bytes, message_type: str) -> None:
        """Raises KMSInvalidSignatureException when the signature does not verify."""

    def generate_mac(self, algorithm: str, message: bytes) -> bytes: ...
    def verify_mac(self, algorithm: str, message: bytes, tag: bytes) -> None: ...
    def derive_shared_secret(self, algorithm: str, peer_public_key: bytes) -> bytes: ...
    def encapsulate(self, algorithm: str) -> tuple[bytes, bytes]:
        """(shared secret, its ciphertext) under the key's public key (ML-KEM)."""

    def decapsulate(self, algorithm: str, ciphertext: bytes) -> bytes: ...
    def public_key(self) -> bytes: ...


class KeyBackend(Protocol):
    """Where the material of the keys of one origin lives (see the module docstring)."""

    name: str
    #: its crypto may wait on the network (an external key store's proxy): the pipeline runs
    #: it outside the store's transactions (``Call.crypto``)
    remote: bool

    def create(self, key: KeyToMake, rng: Rng) -> NewVersion: ...
    def open(self, key: KeyInfo, material_id: str, sealed: Sealed) -> OpenedKey: ...
    def adopt(self, key: KeyToMake, secret: cm.KeyMaterial) -> NewVersion: ...
    def seal_secret(self, key_arn: str, kind: str, ref: str, secret: bytes) -> Sealed: ...
    def open_secret(self, key_arn: str, kind: str, ref: str, sealed: Sealed) -> bytes: ...
    def destroy(self, key: KeyInfo, refs: tuple[Sealed, ...]) -> int:
        """Destroy what these references of the key's material point to outside the record
        (an HSM's key objects): once the key is deleted, or a new version will never be
        stored. Returns how many were destroyed."""


class NoImport:
    """Mixin for a custom key store's KeyBackend: its material is made by the store (in the
    token, or beside the external key), so the import methods answer AWS's refusal."""

    __slots__ = ()

    @staticmethod
    def _no_import() -> UnsupportedOperationException:
        return UnsupportedOperationException(
            "Key material cannot be imported into a KMS key in a custom key store."
        )

    def adopt(self, key: KeyToMake, secret: cm.KeyMaterial) -> NewVersion:
        raise self._no_import()

    def seal_secret(self, key_arn: str, kind: str, ref: str, secret: bytes) -> Sealed:
        raise self._no_import()

    def open_secret(self, key_arn: str, kind: str, ref: str, sealed: Sealed) -> bytes:
        raise self._no_import()


class _InProcessKey:
    """An opened version whose material is in this process (parsed once, then reused)."""

    __slots__ = ("_material", "_sealer")

    def __init__(self, material: cm.KeyMaterial) -> None:
        self._material = material
        #: (key id, material id, their blob sealer): the ids checked and encoded and the
        #: AES-GCM object found once per opened version, not per Encrypt
        self._sealer: tuple[str, str, BlobSealer] | None = None

    def encrypt(
        self,
        key_id: str,
        material_id: str,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        rng: Rng,
    ) -> bytes:
        known = self._sealer
        if known is None or known[0] != key_id or known[1] != material_id:
            sealer = blob_sealer(self._material, key_id, material_id)
            known = self._sealer = (key_id, material_id, sealer)
        return known[2].seal(plaintext, context, rng(NONCE_LENGTH))

    def decrypt(self, blob: bytes, header: BlobHeader, context: Mapping[str, str] | None) -> bytes:
        return decrypt_blob(self._material, blob, context, header=header)

    def encrypt_asymmetric(self, algorithm: str, plaintext: bytes) -> bytes:
        return asymmetric.encrypt_asymmetric(self._material, algorithm, plaintext)

    def decrypt_asymmetric(self, algorithm: str, ciphertext: bytes) -> bytes:
        return asymmetric.decrypt_asymmetric(self._material, algorithm, ciphertext)

    def sign(self, algorithm: str, message: bytes, message_type: str) -> bytes:
        return asymmetric.sign(self._material, algorithm, message, message_type)

    def verify(self, algorithm: str, message: bytes, signature: bytes, message_type: str) -> None:
        asymmetric.verify(self._material, algorithm, message, signature, message_type)

    def generate_mac(self, algorithm: str, message: bytes) -> bytes:
        return mac.generate_mac(self._material, algorithm, message)

    def verify_mac(self, algorithm: str, message: bytes, tag: bytes) -> None:
        mac.verify_mac(self._material, algorithm, message, tag)

    def derive_shared_secret(self, algorithm: str, peer_public_key: bytes) -> bytes:
        return derive_shared_secret(self._material, algorithm, peer_public_key)

    def encapsulate(self, algorithm: str) -> tuple[bytes, bytes]:
        return kem.encapsulate(self._material, algorithm)

    def decapsulate(self, algorithm: str, ciphertext: bytes) -> bytes:
        return kem.decapsulate(self._material, algorithm, ciphertext)

    def public_key(self) -> bytes:
        return cm.public_key_der(self._material)

    def __repr__(self) -> str:  # INVARIANT: material never reaches a repr
        return "_InProcessKey(<material>)"


#: How a backend hands the kernel a version it must hold open from now on: (key ARN, material
#: id, reference, opened version)
Hold = Callable[[str, str, Sealed, OpenedKey], None]


class SealedBackend:
    """Material sealed under the root key, bound to its key and version; crypto in process.

    The backend of ``AWS_KMS`` and ``EXTERNAL`` (imported) keys. Every ``open`` is one unseal
    (a round trip when the root key is in an HSM): the kernel caches what it opens. Given an
    ``Envelope`` (a root key in an HSM), new material is sealed in process under its envelope
    key instead of in the token, and handed at once to ``hold``: the kernel holds it open for
    as long as that envelope key may open it (``released``; docs/hsm.md).
    """

    name = "sealed"
    remote = False
    __slots__ = ("_envelope", "_hold", "_root", "_unseal")

    def __init__(
        self, root_key: SealingKey, envelope: Envelope | None = None, hold: Hold | None = None
    ) -> None:
        if (envelope is None) != (hold is None):
            raise InternalError("an envelope seals only what the kernel holds: give both")
        self._root = root_key
        self._envelope = envelope
        self._hold = hold
        #: every kind of blob opens through the envelope when there is one
        self._unseal = envelope.unseal if envelope is not None else root_key.unseal

    def create(self, key: KeyToMake, rng: Rng) -> NewVersion:
        secret = cm.generate_key(key.key_spec, rng)
        return self._sealed(key, secret, cm.new_material_id(rng))

    def adopt(self, key: KeyToMake, secret: cm.KeyMaterial) -> NewVersion:
        # imported: the id is derived from the material, so importing it again finds its version
        return self._sealed(key, secret, cm.key_material_id(key.key_id, secret))

    def _sealed(self, key: KeyToMake, secret: cm.KeyMaterial, material_id: str) -> NewVersion:
        public = (
            cm.public_key_der(secret)
            if specs.spec_info(key.key_spec).secret_length is None
            else None
        )
        envelope, hold = self._envelope, self._hold
        if envelope is None or hold is None:
            sealed = self.seal_secret(material_scope(key), MATERIAL, material_id, secret.secret)
            return NewVersion(material_id, sealed, public)
        aad = secret_aad(material_scope(key), MATERIAL, material_id)
        sealed = Sealed(envelope.seal(secret.secret, aad))
        # INVARIANT: what the envelope key seals, the kernel holds open from now on
        hold(key.arn, material_id, sealed, _InProcessKey(secret))
        return NewVersion(material_id, sealed, public)

    def released(self, sealed: Sealed) -> None:
        """The kernel no longer holds the version ``sealed`` opens: if the current envelope key
        sealed it, drop that key (it would open a version the kernel does not hold)."""
        if self.opens_in_process(sealed):
            assert self._envelope is not None  # opens_in_process says so
            self._envelope.drop()

    def opens_in_process(self, sealed: Sealed) -> bool:
        """Whether the envelope key held in this process opens ``sealed`` (no root key)."""
        envelope = self._envelope
        return envelope is not None and envelope.sealed_by_current(reveal(sealed))

    def open(self, key: KeyInfo, material_id: str, sealed: Sealed) -> OpenedKey:
        scope = material_scope(key)
        if scope != key.arn:
            try:
                secret = self._unseal(reveal(sealed), secret_aad(scope, MATERIAL, material_id))
            except SealError:
                # a multi-Region primary created before material was bound to the set: its
                # versions are bound to its ARN until ReplicateKey binds them to the set
                # (Kernel.bind_to_set)
                secret = self.open_secret(key.arn, MATERIAL, material_id, sealed)
        else:
            secret = self.open_secret(scope, MATERIAL, material_id, sealed)
        return _InProcessKey(cm.load_key_material(key.key_spec, secret))

    def seal_secret(self, key_arn: str, kind: str, ref: str, secret: bytes) -> Sealed:
        # the root key itself: what is sealed here (an import wrapping key, a version sealed
        # again for its multi-Region set) is not held open by the kernel
        return Sealed(self._root.seal(secret, secret_aad(key_arn, kind, ref)))

    def open_secret(self, key_arn: str, kind: str, ref: str, sealed: Sealed) -> bytes:
        try:
            return self._unseal(reveal(sealed), secret_aad(key_arn, kind, ref))
        except SealError:
            # Our fault or the operator's, never the caller's: a wrong root key, or a row that
            # was edited or moved. The message names the row, never the bytes.
            raise InternalError(
                f"stored {kind} {ref!r} of key {key_arn!r} failed to unseal: wrong root key, "
                "or the row was modified or moved"
            ) from None

    def destroy(self, key: KeyInfo, refs: tuple[Sealed, ...]) -> int:
        return 0  # the sealed material lived in the record, which is gone

    def __repr__(self) -> str:
        return f"SealedBackend({self._root!r})"


def default_backends(sealed: SealedBackend) -> dict[str, KeyBackend]:
    """The backends of a service with no custom key store: every origin kmspolicy creates."""
    return {OriginType.AWS_KMS: sealed, OriginType.EXTERNAL: sealed}
