"""RSA-OAEP encryption and Sign/Verify (RSA PSS/PKCS#1 v1.5, ECDSA, Ed25519, ML-DSA).

Layer: crypto. Applies AWS's message rules (RAW ≤ 4096 bytes, DIGEST exactly the hash length,
EXTERNAL_MU exactly 64 bytes) and AWS's parameters (OAEP: MGF1 with the same hash, empty
label; PSS: salt length = digest length; ECDSA: DER signatures).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from kmspolicy import messages
from kmspolicy.crypto.material import KeyMaterial, private_key
from kmspolicy.crypto.specs import (
    EXTERNAL_MU_LENGTH,
    MAX_RAW_MESSAGE,
    EncryptionAlgorithm,
    MessageType,
    SigningAlgorithm,
    accepts_message_type,
    digest_length,
    encryption_algorithms,
    max_plaintext,
    signing_algorithms,
)
from kmspolicy.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)

# every signing algorithm we implement ends in its SHA-2 size (SHA_256/384/512)
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = MappingProxyType(
    {
        "256": hashes.SHA256,
        "384": hashes.SHA384,
        "512": hashes.SHA512,
    }
)


def _hash_of(algorithm: SigningAlgorithm) -> hashes.HashAlgorithm:
    return _HASHES[algorithm.value[-3:]]()


def _oaep(algorithm: EncryptionAlgorithm) -> padding.OAEP:
    h: hashes.HashAlgorithm = (
        hashes.SHA1() if algorithm is EncryptionAlgorithm.RSAES_OAEP_SHA_1 else hashes.SHA256()
    )
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def _encryption_algorithm(material: KeyMaterial, algorithm: EncryptionAlgorithm | str) -> Any:
    alg = EncryptionAlgorithm(algorithm)
    if (
        alg not in encryption_algorithms(material.spec)
        or alg is EncryptionAlgorithm.SYMMETRIC_DEFAULT
    ):
        raise InvalidKeyUsageException(messages.algorithm_incompatible(alg, material.spec))
    return alg


def encrypt_asymmetric(
    material: KeyMaterial, algorithm: EncryptionAlgorithm | str, plaintext: bytes
) -> bytes:
    """RSAES-OAEP encryption with the public half of ``material`` (AWS's Encrypt for RSA keys).

    Plaintext over AWS's limit for the key size and algorithm → ValidationException.
    """
    alg = _encryption_algorithm(material, algorithm)
    limit = max_plaintext(material.spec, alg)
    if len(plaintext) > limit:
        raise ValidationException(messages.plaintext_too_large(alg, material.spec, limit))
    return bytes(private_key(material).public_key().encrypt(bytes(plaintext), _oaep(alg)))


def decrypt_asymmetric(
    material: KeyMaterial, algorithm: EncryptionAlgorithm | str, ciphertext: bytes
) -> bytes:
    """RSAES-OAEP decryption; any failure → InvalidCiphertextException (one message)."""
    alg = _encryption_algorithm(material, algorithm)
    try:
        return bytes(private_key(material).decrypt(bytes(ciphertext), _oaep(alg)))
    except ValueError:
        raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT) from None


def check_message(
    material: KeyMaterial, algorithm: SigningAlgorithm | str, message: bytes, message_type: str
) -> tuple[SigningAlgorithm, MessageType]:
    """AWS's Sign/Verify request rules; the typed algorithm and message type when they hold.

    Algorithm not offered by the key → InvalidKeyUsageException; message type not allowed for
    the algorithm, RAW over 4096 bytes, DIGEST of the wrong length, EXTERNAL_MU not 64 bytes →
    ValidationException; ED25519_PH_SHA_512 → UnsupportedOperationException.
    """
    alg = SigningAlgorithm(algorithm)
    mtype = MessageType(message_type)
    if alg not in signing_algorithms(material.spec):
        raise InvalidKeyUsageException(messages.algorithm_incompatible(alg, material.spec))
    if alg is SigningAlgorithm.ED25519_PH_SHA_512:
        # pyca/cryptography implements pure Ed25519 only (no Ed25519ph, RFC 8032 §5.1)
        raise UnsupportedOperationException(
            "ED25519_PH_SHA_512 (pre-hashed Ed25519) is not supported by kmspolicy; "
            "use ED25519_SHA_512 with MessageType RAW"
        )
    if not accepts_message_type(alg, mtype):
        raise ValidationException(f"{alg} does not accept MessageType {mtype}")
    if mtype is MessageType.RAW and len(message) > MAX_RAW_MESSAGE:
        raise ValidationException(
            f"message is {len(message)} bytes; with MessageType RAW the limit is "
            f"{MAX_RAW_MESSAGE} bytes (sign a digest with MessageType DIGEST instead)"
        )
    if mtype is MessageType.DIGEST and len(message) != digest_length(alg):
        raise ValidationException(messages.digest_length(alg))
    if mtype is MessageType.EXTERNAL_MU and len(message) != EXTERNAL_MU_LENGTH:
        raise ValidationException(
            f"an EXTERNAL_MU message must be exactly {EXTERNAL_MU_LENGTH} bytes, got {len(message)}"
        )
    return alg, mtype


def _rsa_padding(alg: SigningAlgorithm) -> padding.AsymmetricPadding:
    if alg.name.startswith("RSASSA_PSS"):
        return padding.PSS(mgf=padding.MGF1(_hash_of(alg)), salt_length=_hash_of(alg).digest_size)
    return padding.PKCS1v15()


def _digest_arg(alg: SigningAlgorithm, mtype: MessageType) -> Any:
    h = _hash_of(alg)
    return utils.Prehashed(h) if mtype is MessageType.DIGEST else h


def sign(
    material: KeyMaterial,
    algorithm: SigningAlgorithm | str,
    message: bytes,
    message_type: MessageType | str = MessageType.RAW,
) -> bytes:
    """The signature AWS's Sign returns (DER for ECDSA; raw for RSA, Ed25519, ML-DSA)."""
    alg, mtype = check_message(material, algorithm, message, message_type)
    key = private_key(material)
    data = bytes(message)
    if alg.name.startswith("RSASSA"):
        return bytes(key.sign(data, _rsa_padding(alg), _digest_arg(alg, mtype)))
    if alg.name.startswith("ECDSA"):
        return bytes(key.sign(data, ec.ECDSA(_digest_arg(alg, mtype))))
    if alg is SigningAlgorithm.ML_DSA_SHAKE_256 and mtype is MessageType.EXTERNAL_MU:
        return bytes(key.sign_mu(data))
    return bytes(key.sign(data))  # Ed25519 and ML-DSA over the raw message (empty context)


def verify(
    material: KeyMaterial,
    algorithm: SigningAlgorithm | str,
    message: bytes,
    signature: bytes,
    message_type: MessageType | str = MessageType.RAW,
) -> None:
    """Return if ``signature`` is valid; else KMSInvalidSignatureException (one message)."""
    alg, mtype = check_message(material, algorithm, message, message_type)
    public = private_key(material).public_key()
    data, sig = bytes(message), bytes(signature)
    try:
        if alg.name.startswith("RSASSA"):
            public.verify(sig, data, _rsa_padding(alg), _digest_arg(alg, mtype))
        elif alg.name.startswith("ECDSA"):
            public.verify(sig, data, ec.ECDSA(_digest_arg(alg, mtype)))
        elif alg is SigningAlgorithm.ML_DSA_SHAKE_256 and mtype is MessageType.EXTERNAL_MU:
            public.verify_mu(sig, data)
        else:
            public.verify(sig, data)
    except (InvalidSignature, ValueError):
        # ValueError: a signature that is not even well-formed (wrong length, bad DER)
        raise KMSInvalidSignatureException(messages.INVALID_SIGNATURE) from None
