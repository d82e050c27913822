"""Import wrapping (BYOK): wrapping key pairs, unwrapping, and checks on imported material.

Layer: crypto. The lifecycle engineer's GetParametersForImport / ImportKeyMaterial sit on top.
RSA_AES_KEY_WRAP_* is PKCS#11's CKM_RSA_AES_KEY_WRAP as the AWS guide describes it: a fresh
AES-256 key encrypted with RSA-OAEP (SHA-1 or SHA-256, MGF1 same hash), then the material
wrapped under that AES key with AES Key Wrap with Padding (RFC 5649); the two concatenated.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kmspolicy.crypto.asymmetric import _oaep
from kmspolicy.crypto.material import (
    KeyMaterial,
    Rng,
    generate_key,
    load_key_material,
    material_from_private_der,
    private_key,
    random_bytes,
)
from kmspolicy.crypto.specs import (
    EncryptionAlgorithm,
    KeySpec,
    WrappingAlgorithm,
    WrappingKeySpec,
    key_spec_for_wrapping_key,
    require_implemented,
    spec_info,
)
from kmspolicy.errors import (
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    UnsupportedOperationException,
    ValidationException,
)

EPHEMERAL_AES_KEY_LENGTH = 32
_OPAQUE = "the wrapped key material could not be unwrapped with these import parameters"
_KEY_WRAP = (WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_1, WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256)
_OAEP = (WrappingAlgorithm.RSAES_OAEP_SHA_1, WrappingAlgorithm.RSAES_OAEP_SHA_256)
#: the model's values that ``check_wrapping`` can accept (it refuses SM2 and PKCS#1 v1.5 always)
ACCEPTED_ALGORITHMS = (*_OAEP, *_KEY_WRAP)
ACCEPTED_WRAPPING_KEY_SPECS = (
    WrappingKeySpec.RSA_2048,
    WrappingKeySpec.RSA_3072,
    WrappingKeySpec.RSA_4096,
)


def _oaep_of(algorithm: WrappingAlgorithm) -> padding.OAEP:
    sha1 = algorithm in (
        WrappingAlgorithm.RSAES_OAEP_SHA_1,
        WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_1,
    )
    return _oaep(
        EncryptionAlgorithm.RSAES_OAEP_SHA_1 if sha1 else EncryptionAlgorithm.RSAES_OAEP_SHA_256
    )


def check_wrapping(
    key_spec: KeySpec | str,
    algorithm: WrappingAlgorithm | str,
    wrapping_key_spec: WrappingKeySpec | str,
) -> None:
    """AWS's rules for which wrapping suits which material (GetParametersForImport).

    SM2/SM2PKE → UnsupportedOperationException; RSAES_PKCS1_V1_5 (withdrawn 2023-10-10),
    RSAES_OAEP_* for RSA private keys, and RSAES_OAEP_* with an RSA_2048 wrapping key for
    ECC_NIST_P521 material → ValidationException.
    """
    spec = require_implemented(key_spec).spec
    alg = WrappingAlgorithm(algorithm)
    wrapping = WrappingKeySpec(wrapping_key_spec)
    if alg is WrappingAlgorithm.SM2PKE or wrapping is WrappingKeySpec.SM2:
        raise UnsupportedOperationException(
            "SM2 wrapping exists only in AWS China Regions and is not supported by kmspolicy"
        )
    if alg is WrappingAlgorithm.RSAES_PKCS1_V1_5:
        raise ValidationException(
            "RSAES_PKCS1_V1_5 wrapping is no longer supported; use RSAES_OAEP_SHA_256 or "
            "RSA_AES_KEY_WRAP_SHA_256"
        )
    if alg in _OAEP and spec_info(spec).rsa_bits is not None:
        raise ValidationException(
            f"{spec} private keys are too large for {alg}; use RSA_AES_KEY_WRAP_SHA_256"
        )
    if alg in _OAEP and spec is KeySpec.ECC_NIST_P521 and wrapping is WrappingKeySpec.RSA_2048:
        raise ValidationException(
            f"{alg} with an RSA_2048 wrapping key cannot carry ECC_NIST_P521 material; use a "
            "larger wrapping key or RSA_AES_KEY_WRAP_SHA_256"
        )


def generate_wrapping_key(spec: WrappingKeySpec | str) -> KeyMaterial:
    """A fresh RSA wrapping key pair (publish ``public_key_der`` of it); SM2 → Unsupported."""
    wrapping = WrappingKeySpec(spec)
    if wrapping is WrappingKeySpec.SM2:
        raise UnsupportedOperationException(
            "SM2 wrapping keys exist only in AWS China Regions and are not supported by kmspolicy"
        )
    return generate_key(key_spec_for_wrapping_key(wrapping))


def unwrap_key_material(
    wrapping_key: KeyMaterial, algorithm: WrappingAlgorithm | str, wrapped: bytes
) -> bytes:
    """The plaintext material from ``wrapped``; any failure → InvalidCiphertextException.

    The result is unchecked bytes: pass it to ``validate_import_material``.
    """
    alg = WrappingAlgorithm(algorithm)
    if alg not in _OAEP + _KEY_WRAP:
        raise ValueError(f"cannot unwrap with {alg}; call check_wrapping first")
    key = private_key(wrapping_key)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the wrapping key must be RSA material from generate_wrapping_key")
    data = bytes(wrapped)
    try:
        if alg in _OAEP:
            return bytes(key.decrypt(data, _oaep_of(alg)))
        head = key.key_size // 8
        aes_key = key.decrypt(data[:head], _oaep_of(alg))
        if len(aes_key) != EPHEMERAL_AES_KEY_LENGTH or len(data) <= head:
            raise ValueError("malformed")
        return bytes(keywrap.aes_key_unwrap_with_padding(aes_key, data[head:]))
    except (ValueError, keywrap.InvalidUnwrap):
        raise InvalidCiphertextException(_OPAQUE) from None


def wrap_key_material(
    wrapping_public_key_der: bytes,
    algorithm: WrappingAlgorithm | str,
    material: bytes,
    *,
    rng: Rng = os.urandom,
) -> bytes:
    """What a user does before ImportKeyMaterial (the client side, for tools and tests)."""
    alg = WrappingAlgorithm(algorithm)
    if alg not in _OAEP + _KEY_WRAP:
        raise ValueError(f"cannot wrap with {alg}")
    public = serialization.load_der_public_key(bytes(wrapping_public_key_der))
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the wrapping public key must be an RSA SubjectPublicKeyInfo")
    if alg in _OAEP:
        return bytes(public.encrypt(bytes(material), _oaep_of(alg)))
    aes_key = random_bytes(rng, EPHEMERAL_AES_KEY_LENGTH)
    wrapped_key = public.encrypt(aes_key, _oaep_of(alg))
    return bytes(wrapped_key) + keywrap.aes_key_wrap_with_padding(aes_key, bytes(material))


def validate_import_material(spec: KeySpec | str, material: bytes) -> KeyMaterial:
    """Unwrapped bytes as material of ``spec``, or IncorrectKeyMaterialException saying why.

    SYMMETRIC_DEFAULT: 32 bytes; HMAC_224/256: 28|32..64 bytes, HMAC_384/512: 48|64..128;
    asymmetric: DER PKCS#8 of the spec's key type, size and curve, re-encoded canonically so
    ``same_material`` recognises a re-import of the same key in any encoding.
    """
    info = require_implemented(spec)
    try:
        if info.secret_lengths is not None:
            return load_key_material(info.spec, bytes(material))
        return material_from_private_der(info.spec, bytes(material))
    except ValueError as exc:
        raise IncorrectKeyMaterialException(
            f"the imported key material is not valid for a {info.spec} key: {exc}"
        ) from None
