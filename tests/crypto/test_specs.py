"""Contract tests of the key-spec capability table (KMS.md §2)."""

from __future__ import annotations

import pytest

from kmspolicy.crypto import (
    EncryptionAlgorithm,
    KeySpec,
    KeyUsage,
    MessageType,
    SigningAlgorithm,
    accepts_message_type,
    algorithms_for,
    default_usage,
    digest_length,
    encryption_algorithms,
    is_asymmetric,
    is_hmac,
    is_implemented,
    is_symmetric,
    key_agreement_algorithms,
    mac_algorithms,
    max_plaintext,
    require_implemented,
    signing_algorithms,
    spec_info,
    supports_encrypt,
    supports_key_agreement,
    supports_mac,
    supports_sign,
)
from kmspolicy.errors import UnsupportedOperationException


@pytest.mark.parametrize(
    ("spec", "alg", "limit"),
    [
        ("SYMMETRIC_DEFAULT", "SYMMETRIC_DEFAULT", 4096),
        ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
        ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
        ("RSA_3072", "RSAES_OAEP_SHA_1", 342),
        ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
        ("RSA_4096", "RSAES_OAEP_SHA_1", 470),
        ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
        ("SM2", "SM2PKE", 1024),
    ],
)
def test_max_plaintext_matches_aws(spec: str, alg: str, limit: int) -> None:
    assert max_plaintext(spec, alg) == limit


def test_max_plaintext_of_unsupported_pair_is_misuse() -> None:
    with pytest.raises(ValueError, match="do not support"):
        max_plaintext(KeySpec.ECC_NIST_P256, EncryptionAlgorithm.RSAES_OAEP_SHA_1)


@pytest.mark.parametrize(
    ("spec", "usages"),
    [
        (KeySpec.SYMMETRIC_DEFAULT, {"ENCRYPT_DECRYPT"}),
        (KeySpec.RSA_3072, {"ENCRYPT_DECRYPT", "SIGN_VERIFY"}),
        (KeySpec.ECC_NIST_P384, {"SIGN_VERIFY", "KEY_AGREEMENT"}),
        (KeySpec.ECC_SECG_P256K1, {"SIGN_VERIFY"}),
        (KeySpec.ECC_NIST_EDWARDS25519, {"SIGN_VERIFY"}),
        (KeySpec.HMAC_384, {"GENERATE_VERIFY_MAC"}),
        (KeySpec.ML_DSA_65, {"SIGN_VERIFY"}),
        (KeySpec.SM2, {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"}),
    ],
)
def test_usages_per_spec(spec: KeySpec, usages: set[str]) -> None:
    assert set(spec_info(spec).usages) == usages
    assert supports_encrypt(spec) == ("ENCRYPT_DECRYPT" in usages)
    assert supports_sign(spec) == ("SIGN_VERIFY" in usages)
    assert supports_mac(spec) == ("GENERATE_VERIFY_MAC" in usages)
    assert supports_key_agreement(spec) == ("KEY_AGREEMENT" in usages)


@pytest.mark.parametrize(
    ("spec", "alg"),
    [
        (KeySpec.ECC_NIST_P256, SigningAlgorithm.ECDSA_SHA_256),
        (KeySpec.ECC_NIST_P384, SigningAlgorithm.ECDSA_SHA_384),
        (KeySpec.ECC_NIST_P521, SigningAlgorithm.ECDSA_SHA_512),
        (KeySpec.ECC_SECG_P256K1, SigningAlgorithm.ECDSA_SHA_256),
    ],
)
def test_ecdsa_curve_hash_pairing(spec: KeySpec, alg: SigningAlgorithm) -> None:
    assert signing_algorithms(spec) == (alg,)


def test_algorithm_lists() -> None:
    assert encryption_algorithms("RSA_2048") == ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
    assert len(signing_algorithms("RSA_4096")) == 6
    assert mac_algorithms("HMAC_224") == ("HMAC_SHA_224",)
    assert key_agreement_algorithms("ECC_NIST_P521") == ("ECDH",)
    assert key_agreement_algorithms("ECC_SECG_P256K1") == ()
    assert algorithms_for("SYMMETRIC_DEFAULT", KeyUsage.SIGN_VERIFY) == ()
    assert signing_algorithms("ML_DSA_44") == ("ML_DSA_SHAKE_256",)


def test_kinds() -> None:
    assert is_symmetric("SYMMETRIC_DEFAULT") and not is_asymmetric("SYMMETRIC_DEFAULT")
    assert is_hmac("HMAC_512") and not is_asymmetric("HMAC_512")
    assert all(is_asymmetric(s) for s in KeySpec if s.startswith(("RSA", "ECC", "ML_DSA", "SM2")))
    assert default_usage("SYMMETRIC_DEFAULT") == "ENCRYPT_DECRYPT"
    assert default_usage("HMAC_256") is None


@pytest.mark.parametrize(
    ("alg", "length"),
    [
        ("RSASSA_PSS_SHA_256", 32),
        ("RSASSA_PKCS1_V1_5_SHA_384", 48),
        ("ECDSA_SHA_512", 64),
        ("ED25519_PH_SHA_512", 64),
        ("ML_DSA_SHAKE_256", None),
        ("ED25519_SHA_512", None),
    ],
)
def test_digest_length(alg: str, length: int | None) -> None:
    assert digest_length(alg) == length


def test_message_type_rules() -> None:
    assert accepts_message_type("ED25519_SHA_512", "RAW")
    assert not accepts_message_type("ED25519_SHA_512", "DIGEST")
    assert accepts_message_type("ED25519_PH_SHA_512", MessageType.DIGEST)
    assert not accepts_message_type("ED25519_PH_SHA_512", "RAW")
    assert accepts_message_type("ML_DSA_SHAKE_256", "EXTERNAL_MU")
    assert not accepts_message_type("ML_DSA_SHAKE_256", "DIGEST")
    assert not accepts_message_type("ECDSA_SHA_256", "EXTERNAL_MU")


def test_sm2_unsupported() -> None:
    assert not is_implemented("SM2")
    with pytest.raises(UnsupportedOperationException, match="China"):
        require_implemented("SM2")


def test_ml_kem_512_is_refused_with_the_reason() -> None:
    """pyca/cryptography has ML-KEM-768 and ML-KEM-1024 only: 512 is refused, saying so."""
    assert not is_implemented("ML_KEM_512")
    with pytest.raises(UnsupportedOperationException, match="ML-KEM-768 and ML-KEM-1024"):
        require_implemented("ML_KEM_512")
    for spec in ("ML_KEM_768", "ML_KEM_1024"):
        assert require_implemented(spec).algorithms == {"ENCAPSULATE_DECAPSULATE": ("ML_KEM",)}


def test_unknown_spec_is_misuse() -> None:
    for unknown in ("RSA_1024", "symmetric_default", None, 2048):
        with pytest.raises(ValueError, match="unknown key spec"):
            spec_info(unknown)  # type: ignore[arg-type]  # misuse on purpose


def test_spec_info_finds_a_row_by_member_or_by_value() -> None:
    for spec in KeySpec:
        assert spec_info(spec).spec is spec
        assert spec_info(str(spec.value)).spec is spec


def test_enums_match_botocore_model() -> None:
    import gzip
    import json
    from pathlib import Path

    import botocore

    path = Path(botocore.__file__).parent / "data/kms/2014-11-01/service-2.json.gz"
    shapes = json.loads(gzip.decompress(path.read_bytes()))["shapes"]
    import kmspolicy.crypto as c

    pairs = {
        "KeySpec": c.KeySpec,
        "KeyUsageType": c.KeyUsage,
        "EncryptionAlgorithmSpec": c.EncryptionAlgorithm,
        "SigningAlgorithmSpec": c.SigningAlgorithm,
        "MacAlgorithmSpec": c.MacAlgorithm,
        "KeyAgreementAlgorithmSpec": c.KeyAgreementAlgorithm,
        "MessageType": c.MessageType,
        "DataKeySpec": c.DataKeySpec,
        "DataKeyPairSpec": c.DataKeyPairSpec,
        "AlgorithmSpec": c.AlgorithmSpec,
        "WrappingKeySpec": c.WrappingKeySpec,
    }
    for shape, enum in pairs.items():
        assert set(shapes[shape]["enum"]) == {e.value for e in enum}, shape
