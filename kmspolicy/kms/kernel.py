"""The door to the crypto kernel: cryptographic operations on ``AuthorizedKey`` handles only.

Layer: kms. The only module of the service that hands key material to ``kmspolicy.crypto``;
every function takes an ``AuthorizedKey`` (which only the pipeline creates, after an allow),
never a record or raw bytes. Parsed material (AES-GCM contexts, private-key objects) is cached
per material version so a call costs the cipher, not a re-parse.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from kmspolicy.crypto import asymmetric, mac, specs
from kmspolicy.crypto import material as cm
from kmspolicy.crypto.agreement import derive_shared_secret as _derive
from kmspolicy.crypto.blob import BlobHeader, decrypt_blob, encrypt_blob, parse_blob_header
from kmspolicy.errors import InvalidCiphertextException, KMSInvalidStateException
from kmspolicy.kms.pipeline import AuthorizedKey

__all__ = [
    "blob_key_id",
    "blob_material_id",
    "decrypt",
    "decrypt_asymmetric",
    "derive_shared_secret",
    "encrypt",
    "encrypt_asymmetric",
    "generate_mac",
    "new_material",
    "public_key",
    "sign",
    "verify",
    "verify_mac",
]

_CACHE_LIMIT = 8192
_cache: dict[tuple[str, str], tuple[bytes, cm.KeyMaterial]] = {}


def _material(key: AuthorizedKey, material_id: str | None = None) -> tuple[str, cm.KeyMaterial]:
    version = key._material(material_id)
    if version is None or version.material is None:
        if material_id is not None:  # a blob naming a version this key does not have
            raise InvalidCiphertextException(
                "the ciphertext is invalid, or it does not match the key or the encryption context"
            )
        raise KMSInvalidStateException(f"{key.arn} has no key material.")
    secret = version.material
    slot = (key.arn, version.material_id)
    cached = _cache.get(slot)
    # the secret is compared too: re-imported or rotated material never reuses a stale entry
    if cached is not None and (cached[0] is secret or hmac.compare_digest(cached[0], secret)):
        return version.material_id, cached[1]
    loaded = cm.load_key_material(key.record.key_spec, secret)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[slot] = (secret, loaded)
    return version.material_id, loaded


def new_material(
    spec: str, key_id: str, rng: Callable[[int], bytes]
) -> tuple[bytes, str, bytes | None]:
    """Fresh material for a new key: (secret, KeyMaterialId, DER public key or None).

    Creating material needs no handle (there is no key to authorize yet); CreateKey's own
    authorization has already happened when the handler calls this.
    """
    generated = cm.generate_key(spec, rng)
    public = cm.public_key_der(generated) if specs.spec_info(spec).secret_length is None else None
    return generated.secret, cm.key_material_id(key_id, generated), public


_last_header: tuple[bytes, BlobHeader] | None = None


def _header(blob: bytes) -> BlobHeader:
    """``parse_blob_header``, reusing the parse of the very same blob object: a Decrypt reads
    its blob's header up to three times. ``bytes`` are immutable and the cached blob is held,
    so the same object means the same contents."""
    global _last_header
    last = _last_header
    if last is not None and last[0] is blob:
        return last[1]
    header = parse_blob_header(blob)
    if type(blob) is bytes:
        _last_header = (blob, header)
    return header


def blob_key_id(blob: bytes) -> str:
    """The key id a symmetric ciphertext claims (unverified; InvalidCiphertextException)."""
    return _header(blob).key_id


def blob_material_id(blob: bytes) -> str:
    return _header(blob).material_id


def encrypt(
    key: AuthorizedKey,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    rng: Callable[[int], bytes],
) -> tuple[bytes, str]:
    """(ciphertext blob, KeyMaterialId) under the key's current material."""
    material_id, material = _material(key)
    blob = encrypt_blob(material, key.key_id, plaintext, context, material_id=material_id, rng=rng)
    return blob, material_id


def decrypt(
    key: AuthorizedKey, blob: bytes, context: Mapping[str, str] | None
) -> tuple[bytes, str]:
    """(plaintext, KeyMaterialId) of a symmetric blob, with the version the blob names."""
    header = _header(blob)
    if header.key_id != key.key_id:
        raise InvalidCiphertextException(
            "the ciphertext is invalid, or it does not match the key or the encryption context"
        )
    material_id, material = _material(key, header.material_id)
    return decrypt_blob(material, blob, context), material_id


def encrypt_asymmetric(key: AuthorizedKey, algorithm: str, plaintext: bytes) -> bytes:
    return asymmetric.encrypt_asymmetric(_material(key)[1], algorithm, plaintext)


def decrypt_asymmetric(key: AuthorizedKey, algorithm: str, ciphertext: bytes) -> bytes:
    return asymmetric.decrypt_asymmetric(_material(key)[1], algorithm, ciphertext)


def sign(key: AuthorizedKey, algorithm: str, message: bytes, message_type: str) -> bytes:
    return asymmetric.sign(_material(key)[1], algorithm, message, message_type)


def verify(
    key: AuthorizedKey, algorithm: str, message: bytes, signature: bytes, message_type: str
) -> None:
    asymmetric.verify(_material(key)[1], algorithm, message, signature, message_type)


def generate_mac(key: AuthorizedKey, algorithm: str, message: bytes) -> bytes:
    return mac.generate_mac(_material(key)[1], algorithm, message)


def verify_mac(key: AuthorizedKey, algorithm: str, message: bytes, tag: bytes) -> None:
    mac.verify_mac(_material(key)[1], algorithm, message, tag)


def derive_shared_secret(key: AuthorizedKey, algorithm: str, peer_public_key: bytes) -> bytes:
    return _derive(_material(key)[1], algorithm, peer_public_key)


def public_key(key: AuthorizedKey) -> bytes:
    """DER SPKI of the key's current material (stored beside it when the key was made)."""
    version = key._material()
    if version is not None and version.public_key is not None:
        return version.public_key
    return cm.public_key_der(_material(key)[1])
