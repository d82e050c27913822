"""The crypto kernel: the only door to key material, opened only with an ``AuthorizedKey``.

Layer: kms, at the bottom of the service (it imports the model, the ports, the backends and
``kmspolicy.crypto``; nothing of the pipeline, the requests or the handlers). One ``Kernel``
per ``KMS`` instance:

- records reach it with their material sealed (``KeyMaterial.sealed``); it opens a version
  through the key's backend (``kms.backends``) only inside an operation on an ``AuthorizedKey``;
- an ``AuthorizedKey`` is minted only by the holder of the kernel's minter: ``take_minter``
  hands it out once, and the pipeline takes it when it builds its kernel, so every handle of
  a kernel was made by that pipeline, after an allowing decision. A handle of another kernel
  is refused;
- creating material (CreateKey, rotation, AWS managed keys) and the import wrapping key pair
  goes through it too: the rest of the service only ever holds sealed references;
- it caches opened versions (parsed keys, AES-GCM contexts), per instance, in one bounded cache
  keyed by (key ARN, material id) and grouped by key (at most ``cache_size`` versions in all
  and ``cache_versions`` of one key, the oldest opened dropped first), checked against the
  sealed reference itself, and forgets a version when a write changes or removes its material
  (rotation keeps the others; re-import and material deletion do not) and a whole key, its
  group, when it is written disabled, pending deletion or deleted (``note_saved``,
  ``forget``), or found so (or gone) by a request, written by another process; a request that
  read the key before a forget of it does not hold what it opens after it (``forgets``, counted
  per stripe of key ARNs, so another key's forget rarely costs a request its hold). Opened
  material never leaves this module.
"""

from __future__ import annotations

import functools
import operator
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace

from kmspolicy import messages
from kmspolicy._cache import BoundedCache
from kmspolicy.crypto import material as cm
from kmspolicy.crypto.blob import BlobHeader, parse_blob_header
from kmspolicy.crypto.material import Rng
from kmspolicy.crypto.specs import key_spec_for_wrapping_key
from kmspolicy.crypto.wrapping import (
    generate_wrapping_key,
    unwrap_key_material,
    validate_import_material,
)
from kmspolicy.errors import (
    InternalError,
    InvalidCiphertextException,
    KMSInvalidStateException,
)
from kmspolicy.kms.backends import (
    MATERIAL,
    WRAPPING_KEY,
    KeyBackend,
    KeyToMake,
    NewVersion,
    OpenedKey,
    SealedBackend,
    default_backends,
    material_scope,
)
from kmspolicy.kms.envelope import Envelope, wants_envelope
from kmspolicy.kms.model import (
    KeyInfo,
    KeyMaterial,
    KeyRecord,
    OriginType,
    PendingImportParameters,
)
from kmspolicy.kms.ports import SealingKey
from kmspolicy.kms.sealed import Sealed
from kmspolicy.kms.states import KeyState

__all__ = ["AuthorizedKey", "Kernel", "Minter"]

_MINT = object()  # INVARIANT: never leaves this module; AuthorizedKey demands it
#: Opened versions kept per kernel, and of one key (a key rotated more often than that reopens
#: its oldest versions, one unseal each, when old ciphertexts come back)
CACHE_SIZE = 4096
CACHE_VERSIONS = 8
#: the group of a cached version: its key ARN (a C call, on every put)
_KEY_ARN = operator.itemgetter(0)

#: how many counters ``Kernel.forgets`` keeps: a forget of one key keeps a concurrent first
#: open of another from being held only when both ARNs fall in the same stripe
FORGET_STRIPES = 64
#: ``Kernel.forgets``: per stripe of key ARNs, how many times opened versions were forgotten
Forgets = tuple[int, ...]

#: Mints handles: (record, action, alias used to name the key, the kernel's ``forgets`` read
#: before the request read the record) -> AuthorizedKey
Minter = Callable[[KeyRecord, str, "str | None", Forgets], "AuthorizedKey"]


def _stripe(key_arn: str) -> int:
    """The counter of ``Kernel.forgets`` that counts the forgets of ``key_arn`` (the same in
    every process and run, unlike ``hash``)."""
    return zlib.crc32(key_arn.encode()) % FORGET_STRIPES


class AuthorizedKey:
    """A key its kernel's pipeline authorized for this request: metadata, and the right to
    ask that kernel for crypto with it. Not constructible elsewhere."""

    __slots__ = ("_forgets", "_kernel", "_record", "action", "request_alias")

    def __init__(
        self,
        mint: object,
        kernel: Kernel,
        record: KeyRecord,
        action: str,
        request_alias: str | None,
        forgets: Forgets | None = None,
    ) -> None:
        if mint is not _MINT:
            raise TypeError("AuthorizedKey is minted only by the KMS pipeline, after an allow")
        self._kernel = kernel
        self._record = record
        #: ``Kernel.forgets`` as it was before the record was read (None: no request, tests)
        self._forgets = forgets
        self.action = action
        self.request_alias = request_alias

    @property
    def info(self) -> KeyInfo:
        """The key as handlers see it: read-only (changes go through ``Call.update_key``), its
        secrets only as opaque ``Sealed`` references."""
        return self._record

    @property
    def arn(self) -> str:
        return self._record.arn

    @property
    def key_id(self) -> str:
        return self._record.key_id

    def __repr__(self) -> str:
        return f"AuthorizedKey({self._record.arn}, {self.action})"


class Kernel:
    """The crypto of one ``KMS``: its root key's backends and its cache of opened versions."""

    __slots__ = (
        "_backends",
        "_forgetting",
        "_last_header",
        "_minter_taken",
        "_opened",
        "_release",
        "_remote",
        "forgets",
        "rng",
    )

    def __init__(
        self,
        root_key: SealingKey,
        rng: Rng,
        *,
        backends: Mapping[str, KeyBackend] | None = None,
        cache_size: int = CACHE_SIZE,
        cache_versions: int = CACHE_VERSIONS,
    ) -> None:
        self.rng = rng
        # A root key in an HSM seals new material under an envelope key instead (one token call
        # per envelope key): the kernel holds what it seals open, and every version that
        # leaves this cache is released, which drops the envelope key if it sealed it
        # (docs/hsm.md, "The envelope key")
        sealed = (
            SealedBackend(root_key, Envelope(root_key), self._hold)
            if wants_envelope(root_key)
            else SealedBackend(root_key)
        )
        self._release = sealed.released if wants_envelope(root_key) else None
        self._backends: dict[str, KeyBackend] = dict(default_backends(sealed))
        if backends:
            self._backends.update(backends)
        #: the origins whose backend's crypto may wait on the network (asked per crypto call)
        self._remote = frozenset(o for o, b in self._backends.items() if b.remote)
        # (key ARN, material id) -> (sealed reference, opened version), grouped by key ARN
        self._opened: BoundedCache[tuple[str, str], tuple[Sealed, OpenedKey]] = BoundedCache(
            cache_size,
            group=_KEY_ARN,
            maxgroup=cache_versions,
            on_drop=self._dropped if self._release is not None else None,
        )
        self._last_header: tuple[bytes, BlobHeader] | None = None
        self._minter_taken = False
        #: how many times opened versions were forgotten, per stripe of key ARNs (``_stripe``),
        #: replaced whole at each forget: a request reads it before it reads its key, and what
        #: it opens is held only if no forget of its key's stripe came in between (``_hold``)
        self.forgets: Forgets = (0,) * FORGET_STRIPES
        self._forgetting = threading.Lock()  # a forget, or a hold and its check, at a time

    def take_minter(self) -> Minter:
        """The capability to mint handles for this kernel; handed out once (to the pipeline)."""
        if self._minter_taken:
            raise InternalError("this kernel's minter was already taken")
        self._minter_taken = True

        # a partial, not a closure: one handle per key of every request, built in C
        return functools.partial(AuthorizedKey, _MINT, self)

    # --- material: made here, kept sealed everywhere else
    def backend_for(self, record: KeyToMake) -> KeyBackend:
        backend = self._backends.get(record.origin)
        if backend is None:
            raise KMSInvalidStateException(
                f"{record.arn} has origin {record.origin.value}, which this service cannot use."
            )
        return backend

    def remote(self, key: AuthorizedKey) -> bool:
        """Whether the key's crypto may wait on the network (``KeyBackend.remote``)."""
        if key._kernel is not self:  # _own, inlined: every crypto call passes here
            raise InternalError("a key handle of another KMS instance")
        return key._record.origin in self._remote

    def discard_material(self, record: KeyInfo, new: NewVersion) -> int:
        """``new`` was made for ``record`` and will never be stored: destroy what its backend
        holds outside the store (a CloudHSM key store's token object)."""
        return self.backend_for(record).destroy(record, (new.sealed,))

    def new_material(self, record: KeyToMake) -> NewVersion:
        """A new version for ``record`` (rotation; CreateKey's ``NewKey``): nothing existing
        is read."""
        return self.backend_for(record).create(record, self.rng)

    def new_wrapping_key(self, record: KeyInfo, spec: str, token_id: str) -> tuple[bytes, Sealed]:
        """GetParametersForImport: (DER public key, sealed private key) of a fresh pair."""
        pair = generate_wrapping_key(spec)
        sealed = self.backend_for(record).seal_secret(
            record.arn, WRAPPING_KEY, token_id, pair.secret
        )
        return cm.public_key_der(pair), sealed

    def import_material(
        self, key: AuthorizedKey, wrapping: PendingImportParameters, encrypted: bytes
    ) -> NewVersion:
        """ImportKeyMaterial: unwrap ``encrypted`` with the key's sealed wrapping key, check it
        against the key spec (IncorrectKeyMaterialException) and seal it as a new version."""
        record = self._own(key)
        backend = self.backend_for(record)
        if wrapping.sealed_wrapping_key is None:
            raise InternalError(f"{record.arn}: import parameters without their wrapping key")
        private = backend.open_secret(
            record.arn, WRAPPING_KEY, wrapping.import_token_id, wrapping.sealed_wrapping_key
        )
        wrapping_key = cm.load_key_material(
            key_spec_for_wrapping_key(wrapping.wrapping_key_spec), private
        )
        secret = unwrap_key_material(wrapping_key, wrapping.wrapping_algorithm, encrypted)
        return backend.adopt(record, validate_import_material(record.key_spec, secret))

    def bind_to_set(self, key: AuthorizedKey) -> tuple[KeyMaterial, ...] | None:
        """The versions of ``key`` (a multi-Region primary about to be replicated) all bound to
        its set, so its replicas open them; None when nothing changes. A version made before
        versions were bound to the set is bound to the primary's ARN: it is unsealed and sealed
        again for the set (same material id, so its ciphertexts still decrypt); one whose
        binding is unknown is tried once. Versions marked bound are not touched (nothing is
        unsealed for them)."""
        record = self._own(key)
        if record.origin is not OriginType.AWS_KMS:  # imported material is each member's own
            return None
        backend = self.backend_for(record)
        scope = material_scope(record)
        versions = []
        for m in record.materials:
            if m.sealed is None or m.bound_to_set:
                versions.append(m)
                continue
            try:
                backend.open_secret(scope, MATERIAL, m.material_id, m.sealed)
                sealed = m.sealed
            except InternalError:  # bound to the ARN it was made under (raises if not)
                secret = backend.open_secret(record.arn, MATERIAL, m.material_id, m.sealed)
                sealed = backend.seal_secret(scope, MATERIAL, m.material_id, secret)
            versions.append(replace(m, sealed=sealed, bound_to_set=True))
        return None if versions == list(record.materials) else tuple(versions)

    def destroy_material(self, record: KeyRecord) -> int:
        """After a key was deleted: destroy what its backend holds outside the record (the
        token objects of a CloudHSM key store's key). Returns how many were destroyed."""
        self.forget(record.arn)
        refs = tuple(m.sealed for m in record.materials if m.sealed is not None)
        return self.backend_for(record).destroy(record, refs)

    def forget(self, key_arn: str) -> None:
        """Drop every opened version of a key (its material changed, or it became unusable);
        a request in flight that read the key before cannot hold it again (``_hold``)."""
        with self._forgetting:
            self._count_forget(key_arn)
            self._opened.discard_group(key_arn)

    def forget_held(self, key_arn: str) -> None:
        """``forget`` a key this kernel holds versions of (one found gone); a lookup of a key
        held nothing of moves no ``forgets``, so a caller naming missing keys over and over
        keeps no other request's first open from being held."""
        if self._opened.group_keys(key_arn):
            self.forget(key_arn)

    def note_saved(self, record: KeyRecord | None, key_arn: str) -> None:
        """A key was written (or deleted, ``record`` None): forget what no longer applies."""
        if record is None or record.key_state is not KeyState.ENABLED:
            self.forget(key_arn)
            return
        held = self._opened.group_keys(key_arn)
        if not held:
            return
        live = {m.material_id: m.sealed for m in record.materials}
        with self._forgetting:
            for version in held:
                cached = self._opened.get(version)
                if cached is not None and live.get(version[1]) != cached[0]:
                    self._count_forget(key_arn)  # a request that read it does not hold it
                    self._opened.pop(version)

    def _count_forget(self, key_arn: str) -> None:
        """Count a forget of ``key_arn``'s versions (under ``_forgetting``)."""
        stripe, counts = _stripe(key_arn), self.forgets
        self.forgets = (*counts[:stripe], counts[stripe] + 1, *counts[stripe + 1 :])

    def opened_keys(self) -> frozenset[str]:
        """ARNs of the keys with opened versions in this kernel (for tests and diagnostics)."""
        return frozenset(arn for arn, _ in self._opened)

    def opened_versions(self, key_arn: str) -> frozenset[str]:
        """Material ids of the opened versions of one key (for tests and diagnostics)."""
        return frozenset(material_id for _, material_id in self._opened.group_keys(key_arn))

    def _own(self, key: AuthorizedKey) -> KeyRecord:
        if key._kernel is not self:
            raise InternalError("a key handle of another KMS instance")
        return key._record

    def _open(self, key: AuthorizedKey, material_id: str | None = None) -> tuple[str, OpenedKey]:
        if key._kernel is not self:  # _own, inlined: every crypto call passes here
            raise InternalError("a key handle of another KMS instance")
        record = key._record
        wanted = material_id or record.current_material_id or ""
        version = record.material_by_id(wanted)
        if version is None or version.sealed is None:
            if material_id is not None:  # a blob naming a version this key does not have
                raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
            raise KMSInvalidStateException(f"{record.arn} has no key material.")
        sealed = version.sealed
        cached = self._opened.get((record.arn, wanted))
        # the reference is compared too: re-imported or re-sealed material never reuses an
        # entry opened from another reference
        if cached is not None and (cached[0] is sealed or cached[0] == sealed):
            return wanted, cached[1]
        opened = self.backend_for(record).open(record, wanted, sealed)
        self._hold(record.arn, wanted, sealed, opened, key._forgets)
        return wanted, opened

    def _hold(
        self,
        key_arn: str,
        material_id: str,
        sealed: Sealed,
        opened: OpenedKey,
        since: Forgets | None = None,
    ) -> None:
        """Keep an opened version (one just opened, or new material sealed under the envelope
        key, which the backend hands over as it makes it). One write to the one cache, under its
        lock, so a concurrent ``forget`` of the key runs wholly before it (the version is then
        held, and released when it leaves) or after it (the version is dropped and released):
        no version is ever written where no drop reaches it. ``since``: the ``forgets`` its
        request read before reading the key; a forget of the key's stripe since then (the key
        was disabled while the request, authorized before, was unsealing) means the version is
        used once and not kept, as it may belong to a key that must not be held."""
        with self._forgetting:
            stripe = _stripe(key_arn)
            if since is None or since[stripe] == self.forgets[stripe]:
                self._opened.put((key_arn, material_id), (sealed, opened))
                return
        if self._release is not None:  # as if it had been held and dropped at once
            self._release(sealed)

    def _dropped(self, version: tuple[str, str], entry: tuple[Sealed, OpenedKey]) -> None:
        """A version left the cache: the envelope key must not outlive it (``_release``)."""
        assert self._release is not None  # set only with an envelope
        self._release(entry[0])

    # --- ciphertext headers (no material involved)
    def _header(self, blob: bytes) -> BlobHeader:
        """``parse_blob_header``, reusing the parse of the very same blob object: a Decrypt
        reads its blob's header up to three times. ``bytes`` are immutable and the cached blob
        is held, so the same object means the same contents."""
        last = self._last_header
        if last is not None and last[0] is blob:
            return last[1]
        header = parse_blob_header(blob)
        if type(blob) is bytes:
            self._last_header = (blob, header)
        return header

    def blob_key_id(self, blob: bytes) -> str:
        """The key id a symmetric ciphertext claims (unverified; InvalidCiphertextException)."""
        return self._header(blob).key_id

    def blob_material_id(self, blob: bytes) -> str:
        return self._header(blob).material_id

    # --- cryptography on authorized keys
    def encrypt(
        self, key: AuthorizedKey, plaintext: bytes, context: Mapping[str, str] | None
    ) -> tuple[bytes, str]:
        """(ciphertext blob, KeyMaterialId) under the key's current material."""
        material_id, opened = self._open(key)
        key_id = key._record.key_id
        return opened.encrypt(key_id, material_id, plaintext, context, self.rng), material_id

    def decrypt(
        self, key: AuthorizedKey, blob: bytes, context: Mapping[str, str] | None
    ) -> tuple[bytes, str]:
        """(plaintext, KeyMaterialId) of a symmetric blob, with the version the blob names."""
        header = self._header(blob)
        if header.key_id != key._record.key_id:
            raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
        material_id, opened = self._open(key, header.material_id)
        return opened.decrypt(blob, header, context), material_id

    def encrypt_asymmetric(self, key: AuthorizedKey, algorithm: str, plaintext: bytes) -> bytes:
        return self._open(key)[1].encrypt_asymmetric(algorithm, plaintext)

    def decrypt_asymmetric(self, key: AuthorizedKey, algorithm: str, ciphertext: bytes) -> bytes:
        return self._open(key)[1].decrypt_asymmetric(algorithm, ciphertext)

    def sign(self, key: AuthorizedKey, algorithm: str, message: bytes, message_type: str) -> bytes:
        return self._open(key)[1].sign(algorithm, message, message_type)

    def verify(
        self,
        key: AuthorizedKey,
        algorithm: str,
        message: bytes,
        signature: bytes,
        message_type: str,
    ) -> None:
        self._open(key)[1].verify(algorithm, message, signature, message_type)

    def generate_mac(self, key: AuthorizedKey, algorithm: str, message: bytes) -> bytes:
        return self._open(key)[1].generate_mac(algorithm, message)

    def verify_mac(self, key: AuthorizedKey, algorithm: str, message: bytes, tag: bytes) -> None:
        self._open(key)[1].verify_mac(algorithm, message, tag)

    def derive_shared_secret(
        self, key: AuthorizedKey, algorithm: str, peer_public_key: bytes
    ) -> bytes:
        return self._open(key)[1].derive_shared_secret(algorithm, peer_public_key)

    def encapsulate(self, key: AuthorizedKey, algorithm: str) -> tuple[bytes, bytes]:
        """Encapsulate: (shared secret, its ciphertext) under the key's current material."""
        return self._open(key)[1].encapsulate(algorithm)

    def decapsulate(self, key: AuthorizedKey, algorithm: str, ciphertext: bytes) -> bytes:
        return self._open(key)[1].decapsulate(algorithm, ciphertext)

    def public_key(self, key: AuthorizedKey) -> bytes:
        """DER SPKI of the key's current material (kept beside it when it was made)."""
        record = self._own(key)
        version = record.current_material
        if version is not None and version.public_key is not None:
            return version.public_key
        return self._open(key)[1].public_key()

    def __repr__(self) -> str:
        return f"Kernel(backends={sorted(self._backends)}, opened={self._opened!r})"
