"""HMAC (RFC 4231 vectors), ECDH DeriveSharedSecret and data keys / data key pairs."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kmspolicy.crypto import (
    DataKeyPairSpec,
    KeyMaterial,
    KeySpec,
    derive_shared_secret,
    generate_data_key,
    generate_data_key_pair,
    generate_mac,
    public_key_der,
    verify_mac,
)
from kmspolicy.errors import (
    InvalidKeyUsageException,
    KMSInvalidMacException,
    UnsupportedOperationException,
    ValidationException,
)

# RFC 4231 test case 1: key 0x0b * 20, data "Hi There"
RFC4231 = {
    "HMAC_SHA_224": "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
    "HMAC_SHA_256": "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    "HMAC_SHA_384": "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec6"
    "82aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    "HMAC_SHA_512": "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
    "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
}
MAC_SPECS = {
    "HMAC_SHA_224": "HMAC_224",
    "HMAC_SHA_256": "HMAC_256",
    "HMAC_SHA_384": "HMAC_384",
    "HMAC_SHA_512": "HMAC_512",
}


@pytest.mark.parametrize("alg", sorted(RFC4231))
def test_hmac_known_answer(alg: str) -> None:
    # the constructor does not validate, which lets the RFC's 20-byte key in
    material = KeyMaterial(KeySpec(MAC_SPECS[alg]), b"\x0b" * 20)
    assert generate_mac(material, alg, b"Hi There").hex() == RFC4231[alg]
    verify_mac(material, alg, b"Hi There", bytes.fromhex(RFC4231[alg]))


@pytest.mark.parametrize("alg", sorted(RFC4231))
def test_hmac_round_trip_and_rejections(keys: dict[KeySpec, KeyMaterial], alg: str) -> None:
    material = keys[KeySpec(MAC_SPECS[alg])]
    mac = generate_mac(material, alg, b"message")
    verify_mac(material, alg, b"message", mac)
    for bad in (mac[:-1], mac + b"\x00", bytes([mac[0] ^ 1]) + mac[1:], b""):
        with pytest.raises(KMSInvalidMacException):
            verify_mac(material, alg, b"message", bad)
    with pytest.raises(KMSInvalidMacException):
        verify_mac(material, alg, b"messagE", mac)


def test_hmac_algorithm_must_match_spec(keys: dict[KeySpec, KeyMaterial]) -> None:
    with pytest.raises(InvalidKeyUsageException):
        generate_mac(keys[KeySpec.HMAC_256], "HMAC_SHA_512", b"m")
    with pytest.raises(InvalidKeyUsageException):
        generate_mac(keys[KeySpec.SYMMETRIC_DEFAULT], "HMAC_SHA_256", b"m")


def test_hmac_message_too_long(keys: dict[KeySpec, KeyMaterial]) -> None:
    generate_mac(keys[KeySpec.HMAC_256], "HMAC_SHA_256", b"m" * 4096)
    with pytest.raises(ValidationException):
        generate_mac(keys[KeySpec.HMAC_256], "HMAC_SHA_256", b"m" * 4097)


# --- ECDH ---

CURVES = {
    KeySpec.ECC_NIST_P256: ec.SECP256R1,
    KeySpec.ECC_NIST_P384: ec.SECP384R1,
    KeySpec.ECC_NIST_P521: ec.SECP521R1,
}


def _spki(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("spec", list(CURVES))
def test_ecdh_matches_the_peer_side(keys: dict[KeySpec, KeyMaterial], spec: KeySpec) -> None:
    peer = ec.generate_private_key(CURVES[spec]())
    secret = derive_shared_secret(keys[spec], "ECDH", _spki(peer))
    kms_public = serialization.load_der_public_key(public_key_der(keys[spec]))
    assert secret == peer.exchange(ec.ECDH(), kms_public)  # type: ignore[arg-type]
    assert len(secret) == (CURVES[spec].key_size + 7) // 8


@pytest.mark.parametrize(
    "peer",
    [
        ec.generate_private_key(ec.SECP384R1()),
        ec.generate_private_key(ec.SECP256K1()),
        ed25519.Ed25519PrivateKey.generate(),
        rsa.generate_private_key(65537, 1024),
    ],
    ids=["other-curve", "secp256k1", "ed25519", "rsa"],
)
def test_ecdh_peer_on_another_curve_rejected(
    keys: dict[KeySpec, KeyMaterial], peer: object
) -> None:
    with pytest.raises(ValidationException, match="same curve"):
        derive_shared_secret(keys[KeySpec.ECC_NIST_P256], "ECDH", _spki(peer))


@pytest.mark.parametrize("der", [b"", b"garbage", b"\x30\x03\x02\x01\x00"])
def test_ecdh_malformed_peer_rejected(keys: dict[KeySpec, KeyMaterial], der: bytes) -> None:
    with pytest.raises(ValidationException, match="SubjectPublicKeyInfo"):
        derive_shared_secret(keys[KeySpec.ECC_NIST_P256], "ECDH", der)


@pytest.mark.parametrize(
    "spec", [KeySpec.ECC_SECG_P256K1, KeySpec.RSA_2048, KeySpec.ECC_NIST_EDWARDS25519]
)
def test_ecdh_needs_a_key_agreement_spec(keys: dict[KeySpec, KeyMaterial], spec: KeySpec) -> None:
    with pytest.raises(InvalidKeyUsageException):
        derive_shared_secret(keys[spec], "ECDH", _spki(ec.generate_private_key(ec.SECP256R1())))


# --- data keys ---


@pytest.mark.parametrize(
    ("spec", "n", "length"),
    [("AES_256", None, 32), ("AES_128", None, 16), (None, 1, 1), (None, 1024, 1024)],
)
def test_data_key_length(spec: str | None, n: int | None, length: int) -> None:
    assert len(generate_data_key(spec, n)) == length


@pytest.mark.parametrize(
    ("spec", "n"), [(None, None), ("AES_256", 32), (None, 0), (None, 1025), ("AES_512", None)]
)
def test_data_key_bad_request(spec: str | None, n: int | None) -> None:
    with pytest.raises(ValidationException):
        generate_data_key(spec, n)


def test_data_key_from_injected_rng() -> None:
    assert generate_data_key("AES_128", rng=lambda n: b"\x01" * n) == b"\x01" * 16


# RSA_4096 left out: its generation costs a second and takes the same path as RSA_2048/3072
PAIR_SPECS = [s for s in DataKeyPairSpec if s not in ("SM2", "RSA_4096", "ML_KEM_512")]


@pytest.mark.parametrize("spec", PAIR_SPECS)
def test_data_key_pair_is_pkcs8_and_spki_of_one_key(spec: DataKeyPairSpec) -> None:
    pair = generate_data_key_pair(spec)
    private = serialization.load_der_private_key(pair.private_key_der, password=None)
    assert _spki(private) == pair.public_key_der
    assert pair.private_key_der.hex() not in repr(pair)


@pytest.mark.parametrize("spec", ["SM2", "ML_KEM_512"])
def test_data_key_pair_unsupported(spec: str) -> None:
    with pytest.raises(UnsupportedOperationException):
        generate_data_key_pair(spec)
