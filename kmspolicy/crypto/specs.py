"""Key specs, usages and algorithms with AWS spellings, and the one capability table per KeySpec.

Layer: crypto (pure data; no cryptography import). The kms core reads the predicates here to
validate CreateKey, DescribeKey's algorithm lists and every data-plane request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import cast

from kmspolicy.errors import UnsupportedOperationException

# AWS limits that are properties of the algorithms rather than of the API shapes.
MAX_PLAINTEXT_SYMMETRIC = 4096  # Encrypt with SYMMETRIC_DEFAULT
MAX_RAW_MESSAGE = 4096  # Sign/Verify with MessageType RAW, GenerateMac/VerifyMac
EXTERNAL_MU_LENGTH = 64  # ML-DSA MessageType EXTERNAL_MU: exactly the 64-byte mu
MAX_DATA_KEY_BYTES = 1024  # GenerateDataKey NumberOfBytes 1..1024


class KeySpec(StrEnum):
    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    ECC_NIST_EDWARDS25519 = "ECC_NIST_EDWARDS25519"
    HMAC_224 = "HMAC_224"
    HMAC_256 = "HMAC_256"
    HMAC_384 = "HMAC_384"
    HMAC_512 = "HMAC_512"
    ML_DSA_44 = "ML_DSA_44"
    ML_DSA_65 = "ML_DSA_65"
    ML_DSA_87 = "ML_DSA_87"
    ML_KEM_512 = "ML_KEM_512"
    ML_KEM_768 = "ML_KEM_768"
    ML_KEM_1024 = "ML_KEM_1024"
    SM2 = "SM2"


class KeyUsage(StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"
    ENCAPSULATE_DECAPSULATE = "ENCAPSULATE_DECAPSULATE"


class EncryptionAlgorithm(StrEnum):
    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
    RSAES_OAEP_SHA_1 = "RSAES_OAEP_SHA_1"
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
    SM2PKE = "SM2PKE"


class EncapsulationAlgorithm(StrEnum):
    ML_KEM = "ML_KEM"


class SigningAlgorithm(StrEnum):
    RSASSA_PSS_SHA_256 = "RSASSA_PSS_SHA_256"
    RSASSA_PSS_SHA_384 = "RSASSA_PSS_SHA_384"
    RSASSA_PSS_SHA_512 = "RSASSA_PSS_SHA_512"
    RSASSA_PKCS1_V1_5_SHA_256 = "RSASSA_PKCS1_V1_5_SHA_256"
    RSASSA_PKCS1_V1_5_SHA_384 = "RSASSA_PKCS1_V1_5_SHA_384"
    RSASSA_PKCS1_V1_5_SHA_512 = "RSASSA_PKCS1_V1_5_SHA_512"
    ECDSA_SHA_256 = "ECDSA_SHA_256"
    ECDSA_SHA_384 = "ECDSA_SHA_384"
    ECDSA_SHA_512 = "ECDSA_SHA_512"
    SM2DSA = "SM2DSA"
    ML_DSA_SHAKE_256 = "ML_DSA_SHAKE_256"
    ED25519_SHA_512 = "ED25519_SHA_512"
    ED25519_PH_SHA_512 = "ED25519_PH_SHA_512"


class MacAlgorithm(StrEnum):
    HMAC_SHA_224 = "HMAC_SHA_224"
    HMAC_SHA_256 = "HMAC_SHA_256"
    HMAC_SHA_384 = "HMAC_SHA_384"
    HMAC_SHA_512 = "HMAC_SHA_512"


class KeyAgreementAlgorithm(StrEnum):
    ECDH = "ECDH"


class MessageType(StrEnum):
    RAW = "RAW"
    DIGEST = "DIGEST"
    EXTERNAL_MU = "EXTERNAL_MU"


class DataKeySpec(StrEnum):
    AES_256 = "AES_256"
    AES_128 = "AES_128"


class DataKeyPairSpec(StrEnum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    ECC_NIST_EDWARDS25519 = "ECC_NIST_EDWARDS25519"
    ML_KEM_512 = "ML_KEM_512"
    ML_KEM_768 = "ML_KEM_768"
    ML_KEM_1024 = "ML_KEM_1024"
    SM2 = "SM2"


class WrappingAlgorithm(StrEnum):
    """The model's ``AlgorithmSpec``: how imported key material is wrapped."""

    RSAES_PKCS1_V1_5 = "RSAES_PKCS1_V1_5"
    RSAES_OAEP_SHA_1 = "RSAES_OAEP_SHA_1"
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
    RSA_AES_KEY_WRAP_SHA_1 = "RSA_AES_KEY_WRAP_SHA_1"
    RSA_AES_KEY_WRAP_SHA_256 = "RSA_AES_KEY_WRAP_SHA_256"
    SM2PKE = "SM2PKE"


AlgorithmSpec = WrappingAlgorithm  # the botocore model's name for the same enum


class WrappingKeySpec(StrEnum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    SM2 = "SM2"


@dataclass(frozen=True, slots=True)
class SpecInfo:
    """What one KeySpec can do. ``algorithms`` lists, per usage, what DescribeKey shows."""

    spec: KeySpec
    usages: tuple[KeyUsage, ...]
    algorithms: MappingProxyType[KeyUsage, tuple[str, ...]]
    # set for a valid AWS spelling we refuse with UnsupportedOperationException, saying why
    unsupported: str | None = None
    secret_length: int | None = None  # symmetric and HMAC keys: generated length in bytes
    # symmetric and HMAC keys: accepted material lengths (imported HMAC keys may be longer)
    secret_lengths: tuple[int, int] | None = None
    rsa_bits: int | None = None


_E, _S, _M, _A = (
    KeyUsage.ENCRYPT_DECRYPT,
    KeyUsage.SIGN_VERIFY,
    KeyUsage.GENERATE_VERIFY_MAC,
    KeyUsage.KEY_AGREEMENT,
)
_RSA_ENC = (EncryptionAlgorithm.RSAES_OAEP_SHA_1, EncryptionAlgorithm.RSAES_OAEP_SHA_256)
# DescribeKey's order for RSA signing keys: PKCS#1 v1.5 first, then PSS
_RSA_SIGN = (
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256,
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384,
    SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512,
    SigningAlgorithm.RSASSA_PSS_SHA_256,
    SigningAlgorithm.RSASSA_PSS_SHA_384,
    SigningAlgorithm.RSASSA_PSS_SHA_512,
)


def _info(
    spec: KeySpec,
    table: dict[KeyUsage, tuple[str, ...]],
    *,
    unsupported: str | None = None,
    secret_length: int | None = None,
    secret_lengths: tuple[int, int] | None = None,
    rsa_bits: int | None = None,
) -> SpecInfo:
    return SpecInfo(
        spec,
        tuple(table),
        MappingProxyType(table),
        unsupported,
        secret_length,
        secret_lengths or ((secret_length, secret_length) if secret_length else None),
        rsa_bits,
    )


_SM2 = "SM2 keys exist only in AWS China Regions and are not supported by kmspolicy"
# pyca/cryptography (FIPS 203 through OpenSSL) has ML-KEM-768 and ML-KEM-1024, not ML-KEM-512
_ML_KEM_512 = (
    "ML_KEM_512 is not supported by kmspolicy: its crypto library (pyca/cryptography) offers "
    "ML-KEM-768 and ML-KEM-1024 only; use ML_KEM_768 or ML_KEM_1024"
)
_KEM = (EncapsulationAlgorithm.ML_KEM,)


_ECDH = (KeyAgreementAlgorithm.ECDH,)

SPECS: MappingProxyType[KeySpec, SpecInfo] = MappingProxyType(
    {
        KeySpec.SYMMETRIC_DEFAULT: _info(
            KeySpec.SYMMETRIC_DEFAULT,
            {_E: (EncryptionAlgorithm.SYMMETRIC_DEFAULT,)},
            secret_length=32,
        ),
        **{
            spec: _info(spec, {_E: _RSA_ENC, _S: _RSA_SIGN}, rsa_bits=bits)
            for spec, bits in (
                (KeySpec.RSA_2048, 2048),
                (KeySpec.RSA_3072, 3072),
                (KeySpec.RSA_4096, 4096),
            )
        },
        KeySpec.ECC_NIST_P256: _info(
            KeySpec.ECC_NIST_P256, {_S: (SigningAlgorithm.ECDSA_SHA_256,), _A: _ECDH}
        ),
        KeySpec.ECC_NIST_P384: _info(
            KeySpec.ECC_NIST_P384, {_S: (SigningAlgorithm.ECDSA_SHA_384,), _A: _ECDH}
        ),
        KeySpec.ECC_NIST_P521: _info(
            KeySpec.ECC_NIST_P521, {_S: (SigningAlgorithm.ECDSA_SHA_512,), _A: _ECDH}
        ),
        KeySpec.ECC_SECG_P256K1: _info(
            KeySpec.ECC_SECG_P256K1, {_S: (SigningAlgorithm.ECDSA_SHA_256,)}
        ),
        KeySpec.ECC_NIST_EDWARDS25519: _info(
            KeySpec.ECC_NIST_EDWARDS25519,
            {_S: (SigningAlgorithm.ED25519_SHA_512, SigningAlgorithm.ED25519_PH_SHA_512)},
        ),
        **{
            # generated length = digest length; imported material may be up to the block size
            spec: _info(spec, {_M: (alg,)}, secret_length=length, secret_lengths=(length, top))
            for spec, alg, length, top in (
                (KeySpec.HMAC_224, MacAlgorithm.HMAC_SHA_224, 28, 64),
                (KeySpec.HMAC_256, MacAlgorithm.HMAC_SHA_256, 32, 64),
                (KeySpec.HMAC_384, MacAlgorithm.HMAC_SHA_384, 48, 128),
                (KeySpec.HMAC_512, MacAlgorithm.HMAC_SHA_512, 64, 128),
            )
        },
        **{
            spec: _info(spec, {_S: (SigningAlgorithm.ML_DSA_SHAKE_256,)})
            for spec in (KeySpec.ML_DSA_44, KeySpec.ML_DSA_65, KeySpec.ML_DSA_87)
        },
        KeySpec.SM2: _info(
            KeySpec.SM2,
            {
                _E: (EncryptionAlgorithm.SM2PKE,),
                _S: (SigningAlgorithm.SM2DSA,),
                _A: _ECDH,
            },
            unsupported=_SM2,
        ),
        KeySpec.ML_KEM_512: _info(
            KeySpec.ML_KEM_512, {KeyUsage.ENCAPSULATE_DECAPSULATE: _KEM}, unsupported=_ML_KEM_512
        ),
        **{
            spec: _info(spec, {KeyUsage.ENCAPSULATE_DECAPSULATE: _KEM})
            for spec in (KeySpec.ML_KEM_768, KeySpec.ML_KEM_1024)
        },
    }
)

# Digest length in bytes of each signing algorithm's hash: the exact length a MessageType
# DIGEST message must have. ML-DSA has none (DIGEST is not accepted for it).
DIGEST_LENGTHS: MappingProxyType[SigningAlgorithm, int] = MappingProxyType(
    {
        SigningAlgorithm.RSASSA_PSS_SHA_256: 32,
        SigningAlgorithm.RSASSA_PSS_SHA_384: 48,
        SigningAlgorithm.RSASSA_PSS_SHA_512: 64,
        SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256: 32,
        SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384: 48,
        SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512: 64,
        SigningAlgorithm.ECDSA_SHA_256: 32,
        SigningAlgorithm.ECDSA_SHA_384: 48,
        SigningAlgorithm.ECDSA_SHA_512: 64,
        SigningAlgorithm.SM2DSA: 32,
        SigningAlgorithm.ED25519_PH_SHA_512: 64,
    }
)

MAC_LENGTHS: MappingProxyType[MacAlgorithm, int] = MappingProxyType(
    {
        MacAlgorithm.HMAC_SHA_224: 28,
        MacAlgorithm.HMAC_SHA_256: 32,
        MacAlgorithm.HMAC_SHA_384: 48,
        MacAlgorithm.HMAC_SHA_512: 64,
    }
)

DATA_KEY_LENGTHS: MappingProxyType[DataKeySpec, int] = MappingProxyType(
    {DataKeySpec.AES_256: 32, DataKeySpec.AES_128: 16}
)

# Which MessageTypes each signing algorithm accepts (AWS: Ed25519 pure needs RAW, the
# pre-hash variant needs DIGEST; ML-DSA takes RAW or EXTERNAL_MU; the rest RAW or DIGEST).
MESSAGE_TYPES: MappingProxyType[SigningAlgorithm, frozenset[MessageType]] = MappingProxyType(
    {
        alg: (
            frozenset({MessageType.RAW})
            if alg is SigningAlgorithm.ED25519_SHA_512
            else frozenset({MessageType.DIGEST})
            if alg is SigningAlgorithm.ED25519_PH_SHA_512
            else frozenset({MessageType.RAW, MessageType.EXTERNAL_MU})
            if alg is SigningAlgorithm.ML_DSA_SHAKE_256
            else frozenset({MessageType.RAW, MessageType.DIGEST})
        )
        for alg in SigningAlgorithm
    }
)


def spec_info(spec: KeySpec | str) -> SpecInfo:
    """The capability row of ``spec``; ValueError names the valid specs when it is unknown."""
    # a StrEnum member hashes and compares as its value, so the value finds its row without
    # the KeySpec(spec) conversion (an enum call, a few µs on every key made or opened)
    info = SPECS.get(cast(KeySpec, spec)) if isinstance(spec, str) else None
    if info is None:
        raise ValueError(f"unknown key spec {spec!r}; expected one of {', '.join(KeySpec)}")
    return info


def require_implemented(spec: KeySpec | str) -> SpecInfo:
    """The capability row, or UnsupportedOperationException for a spec we do not implement."""
    info = spec_info(spec)
    if info.unsupported is not None:
        raise UnsupportedOperationException(info.unsupported)
    return info


def is_implemented(spec: KeySpec | str) -> bool:
    """False for AWS specs kmspolicy refuses (SM2, ML-KEM): CreateKey must say so."""
    return spec_info(spec).unsupported is None


def supports_usage(spec: KeySpec | str, usage: KeyUsage | str) -> bool:
    return KeyUsage(usage) in spec_info(spec).usages


def supports_encrypt(spec: KeySpec | str) -> bool:
    return supports_usage(spec, KeyUsage.ENCRYPT_DECRYPT)


def supports_sign(spec: KeySpec | str) -> bool:
    return supports_usage(spec, KeyUsage.SIGN_VERIFY)


def supports_mac(spec: KeySpec | str) -> bool:
    return supports_usage(spec, KeyUsage.GENERATE_VERIFY_MAC)


def supports_key_agreement(spec: KeySpec | str) -> bool:
    return supports_usage(spec, KeyUsage.KEY_AGREEMENT)


def is_symmetric(spec: KeySpec | str) -> bool:
    """SYMMETRIC_DEFAULT only: the one spec with encryption context, data keys and rotation."""
    return KeySpec(spec) is KeySpec.SYMMETRIC_DEFAULT


def is_hmac(spec: KeySpec | str) -> bool:
    return supports_mac(spec)


def is_asymmetric(spec: KeySpec | str) -> bool:
    """True for specs with a public key (GetPublicKey works)."""
    return not is_symmetric(spec) and not is_hmac(spec)


def default_usage(spec: KeySpec | str) -> KeyUsage | None:
    """The usage CreateKey assumes when KeyUsage is omitted: only SYMMETRIC_DEFAULT has one."""
    return KeyUsage.ENCRYPT_DECRYPT if is_symmetric(spec) else None


def algorithms_for(spec: KeySpec | str, usage: KeyUsage | str) -> tuple[str, ...]:
    """The algorithms DescribeKey lists for a key of ``spec`` created with ``usage``."""
    return spec_info(spec).algorithms.get(KeyUsage(usage), ())


def encryption_algorithms(spec: KeySpec | str) -> tuple[EncryptionAlgorithm, ...]:
    return tuple(EncryptionAlgorithm(a) for a in algorithms_for(spec, KeyUsage.ENCRYPT_DECRYPT))


def signing_algorithms(spec: KeySpec | str) -> tuple[SigningAlgorithm, ...]:
    return tuple(SigningAlgorithm(a) for a in algorithms_for(spec, KeyUsage.SIGN_VERIFY))


def mac_algorithms(spec: KeySpec | str) -> tuple[MacAlgorithm, ...]:
    return tuple(MacAlgorithm(a) for a in algorithms_for(spec, KeyUsage.GENERATE_VERIFY_MAC))


def key_agreement_algorithms(spec: KeySpec | str) -> tuple[KeyAgreementAlgorithm, ...]:
    return tuple(KeyAgreementAlgorithm(a) for a in algorithms_for(spec, KeyUsage.KEY_AGREEMENT))


def max_plaintext(spec: KeySpec | str, algorithm: EncryptionAlgorithm | str) -> int:
    """AWS's Encrypt limit for ``spec`` with ``algorithm``; RSA-OAEP: k - 2*hLen - 2.

    ValueError when the pair is not valid (ask ``encryption_algorithms`` first).
    """
    info = spec_info(spec)
    alg = EncryptionAlgorithm(algorithm)
    if alg not in info.algorithms.get(KeyUsage.ENCRYPT_DECRYPT, ()):
        raise ValueError(f"{info.spec} keys do not support encryption algorithm {alg}")
    if alg is EncryptionAlgorithm.SYMMETRIC_DEFAULT:
        return MAX_PLAINTEXT_SYMMETRIC
    if alg is EncryptionAlgorithm.SM2PKE:
        return 1024
    assert info.rsa_bits is not None  # INVARIANT: only RSA specs list RSAES_OAEP_*
    hash_len = 20 if alg is EncryptionAlgorithm.RSAES_OAEP_SHA_1 else 32
    return info.rsa_bits // 8 - 2 * hash_len - 2


def digest_length(algorithm: SigningAlgorithm | str) -> int | None:
    """Length a DIGEST message must have for ``algorithm``; None where DIGEST is not accepted."""
    return DIGEST_LENGTHS.get(SigningAlgorithm(algorithm))


def accepts_message_type(
    algorithm: SigningAlgorithm | str, message_type: MessageType | str
) -> bool:
    return MessageType(message_type) in MESSAGE_TYPES[SigningAlgorithm(algorithm)]


def key_spec_for_data_key_pair(spec: DataKeyPairSpec | str) -> KeySpec:
    """Each DataKeyPairSpec has the KeySpec of the same name."""
    return KeySpec(DataKeyPairSpec(spec).value)


def key_spec_for_wrapping_key(spec: WrappingKeySpec | str) -> KeySpec:
    return KeySpec(WrappingKeySpec(spec).value)
