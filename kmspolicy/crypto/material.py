"""Key material: the secret bytes of one key version, its generation, parsing and public half.

Layer: crypto. ``KeyMaterial`` never shows its secret in repr; symmetric and HMAC material is
raw bytes, asymmetric material is canonical PKCS#8 DER (what the store seals and what a data
key pair's plaintext private key is).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InternalError as OpenSSLError
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

from kmspolicy._rng import Rng as Rng
from kmspolicy.crypto.specs import KeySpec, require_implemented, spec_info
from kmspolicy.errors import UnsupportedOperationException

_CURVES: Mapping[KeySpec, type[ec.EllipticCurve]] = MappingProxyType(
    {
        KeySpec.ECC_NIST_P256: ec.SECP256R1,
        KeySpec.ECC_NIST_P384: ec.SECP384R1,
        KeySpec.ECC_NIST_P521: ec.SECP521R1,
        KeySpec.ECC_SECG_P256K1: ec.SECP256K1,
    }
)
_MLDSA: Mapping[KeySpec, Any] = MappingProxyType(
    {
        KeySpec.ML_DSA_44: mldsa.MLDSA44PrivateKey,
        KeySpec.ML_DSA_65: mldsa.MLDSA65PrivateKey,
        KeySpec.ML_DSA_87: mldsa.MLDSA87PrivateKey,
    }
)
_MLKEM: Mapping[KeySpec, Any] = MappingProxyType(
    {
        KeySpec.ML_KEM_768: mlkem.MLKEM768PrivateKey,
        KeySpec.ML_KEM_1024: mlkem.MLKEM1024PrivateKey,
    }
)
#: an ML-KEM key is made from a 64-byte seed (FIPS 203 d || z)
MLKEM_SEED_LENGTH = 64
_MATERIAL_ID_LABEL = b"kmspolicy key material id v1\x00"
#: a KeyMaterialId is 32 bytes, written as 64 lowercase hex characters
MATERIAL_ID_BYTES = 32


@dataclass(frozen=True, slots=True, eq=False)
class KeyMaterial:
    """The secret of one key (version). Compare with ``same_material``, never ``==``.

    ``secret`` is raw bytes for SYMMETRIC_DEFAULT and HMAC_*, PKCS#8 DER for asymmetric specs.
    Build it with ``generate_key`` or ``load_key_material``; the constructor only checks types
    (a plain string spec becomes a KeySpec), not that the secret fits the spec.
    """

    spec: KeySpec
    secret: bytes = field(repr=False)
    # the parsed private key, cached on first use (not part of identity, never printed)
    _private: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes):
            raise TypeError(f"key material must be bytes, not {type(self.secret).__name__}")
        if type(self.spec) is not KeySpec:
            object.__setattr__(self, "spec", spec_info(self.spec).spec)  # "RSA_2048" → KeySpec

    def __bytes__(self) -> bytes:
        return self.secret

    def __reduce__(self) -> str:
        # INVARIANT: key material is never pickled (pickles end up in caches, queues, dumps);
        # persist ``secret`` sealed under the root key instead.
        raise TypeError("KeyMaterial cannot be pickled; seal its secret for storage")


def generate_key(spec: KeySpec | str, rng: Rng = os.urandom) -> KeyMaterial:
    """New material for ``spec``. ``rng`` feeds symmetric, HMAC, Ed25519, ML-DSA and ML-KEM keys;
    RSA and ECDSA keys come from OpenSSL's CSPRNG (pyca offers no seam there).

    SM2 → UnsupportedOperationException.
    """
    info = require_implemented(spec)
    if info.secret_length is not None:
        return KeyMaterial(info.spec, random_bytes(rng, info.secret_length))
    private: Any
    if info.rsa_bits is not None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=info.rsa_bits)
    elif info.spec in _CURVES:
        private = ec.generate_private_key(_CURVES[info.spec]())
    elif info.spec is KeySpec.ECC_NIST_EDWARDS25519:
        private = ed25519.Ed25519PrivateKey.from_private_bytes(random_bytes(rng, 32))
    elif info.spec in _MLKEM:
        private = _MLKEM[info.spec].from_seed_bytes(random_bytes(rng, MLKEM_SEED_LENGTH))
    else:
        private = _MLDSA[info.spec].from_seed_bytes(random_bytes(rng, 32))
    return _from_private(info.spec, private)


def load_key_material(spec: KeySpec | str, secret: bytes) -> KeyMaterial:
    """Material read back from a store (after unsealing). ValueError when it does not fit ``spec``.

    Asymmetric material is parsed and type-checked now, so later operations cannot meet a
    key of the wrong kind.
    """
    info = require_implemented(spec)
    if not isinstance(secret, bytes):
        raise TypeError(f"key material must be bytes, not {type(secret).__name__}")
    if info.secret_lengths is not None:
        low, high = info.secret_lengths
        if not low <= len(secret) <= high:
            span = f"{low}" if low == high else f"{low}-{high}"
            raise ValueError(f"{info.spec} material must be {span} bytes, got {len(secret)}")
        return KeyMaterial(info.spec, secret)
    material = KeyMaterial(info.spec, secret)
    private_key(material)  # parses and checks type; caches the parsed key
    return material


def parse_private_key(spec: KeySpec, der: bytes, *, validate: bool = True) -> Any:
    """Parse PKCS#8 DER and check it is exactly ``spec``'s kind of private key (else ValueError)."""
    if not _is_pkcs8(der):
        raise ValueError(f"not a PKCS#8 DER private key for {spec}")
    try:
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=not validate
        )
    # UnsupportedAlgorithm: an algorithm or curve OID it lacks; OpenSSLError: a key OpenSSL
    # refuses to set up (an Ed448/X448 OID on 32 bytes) - both only ever the input's fault
    except (ValueError, TypeError, UnsupportedAlgorithm, OpenSSLError) as exc:
        raise ValueError(f"not a PKCS#8 DER private key for {spec}") from exc
    info = spec_info(spec)
    if info.rsa_bits is not None:
        ok = isinstance(key, rsa.RSAPrivateKey) and key.key_size == info.rsa_bits
    elif spec in _CURVES:
        ok = isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, _CURVES[spec])
    elif spec is KeySpec.ECC_NIST_EDWARDS25519:
        ok = isinstance(key, ed25519.Ed25519PrivateKey)
    elif spec in _MLDSA:
        ok = isinstance(key, _MLDSA[spec])
    elif spec in _MLKEM:
        ok = isinstance(key, _MLKEM[spec])
    else:
        ok = False
    if not ok:
        raise ValueError(f"the private key is not a {spec} key")
    return key


def private_key(material: KeyMaterial) -> Any:
    """The parsed pyca private key object of asymmetric material (cached on the material)."""
    if material._private is None:
        if spec_info(material.spec).secret_length is not None:
            raise TypeError(f"{material.spec} material has no private key object")
        # Stored material is authenticated by the root-key seal, so RSA's slow consistency
        # check is skipped here; imported material is fully validated on import instead.
        parsed = parse_private_key(material.spec, material.secret, validate=False)
        object.__setattr__(material, "_private", parsed)
    return material._private


def public_key_der(material: KeyMaterial) -> bytes:
    """DER SubjectPublicKeyInfo, as GetPublicKey returns it.

    Symmetric and HMAC material → UnsupportedOperationException.
    """
    if spec_info(material.spec).secret_length is not None:
        raise UnsupportedOperationException(f"{material.spec} keys have no public key")
    public = private_key(material).public_key()
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def key_material_id(key_id: str, material: KeyMaterial) -> str:
    """The 64-hex KeyMaterialId: HMAC-SHA256 keyed by the material over a label and the key id.

    Deterministic (re-importing the same material into the same key gives the same id, as in
    AWS) and reveals nothing about the material.
    """
    return hmac.digest(material.secret, _MATERIAL_ID_LABEL + key_id.encode("utf-8"), "sha256").hex()


def new_material_id(rng: Rng = os.urandom) -> str:
    """A 64-hex KeyMaterialId for material made here (``generate_key``): 32 bytes of ``rng``.

    Only imported material needs ``key_material_id``'s determinism (the same material
    imported again must find its id); made material is never imported, so its id need not
    be derived from it, and the rng costs a fraction of the HMAC.
    """
    return random_bytes(rng, MATERIAL_ID_BYTES).hex()


def same_material(a: KeyMaterial, b: KeyMaterial) -> bool:
    """Constant-time equality of two materials (same spec and same canonical secret)."""
    return a.spec is b.spec and hmac.compare_digest(a.secret, b.secret)


def material_from_private_der(spec: KeySpec | str, der: bytes) -> KeyMaterial:
    """Material from a foreign PKCS#8 DER private key, fully validated and re-encoded canonically
    (so the same key always has the same bytes, whatever encoder produced ``der``).

    ValueError when ``der`` is not a private key of exactly ``spec``'s kind.
    """
    info = require_implemented(spec)
    if info.secret_lengths is not None:
        raise ValueError(f"{info.spec} material is raw bytes, not a PKCS#8 private key")
    return _from_private(info.spec, parse_private_key(info.spec, bytes(der), validate=True))


def _from_private(spec: KeySpec, private: Any) -> KeyMaterial:
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    material = KeyMaterial(spec, bytes(der))
    object.__setattr__(material, "_private", private)
    return material


def _is_pkcs8(der: bytes) -> bool:
    """PrivateKeyInfo is SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING ... }.

    pyca also parses SEC1 and PKCS#1 DER; AWS (and the store format) accept PKCS#8 only, which
    the second element's tag tells apart (an OCTET STRING in SEC1, an INTEGER in PKCS#1).
    """
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = der[1]
    offset = 2 + (first & 0x7F if first & 0x80 else 0)  # skip a long-form length
    if len(der) < offset + 3 or der[offset] != 0x02:
        return False
    version_length = der[offset + 1]
    second = offset + 2 + version_length
    return version_length < 0x80 and len(der) > second and der[second] == 0x30


def random_bytes(rng: Rng, n: int) -> bytes:
    """``rng(n)``, checked: a misbehaving injected rng is a ValueError, never short key material."""
    out = rng(n)
    if not isinstance(out, bytes) or len(out) != n:
        raise ValueError(f"rng({n}) must return exactly {n} bytes")
    return out
