"""Key generation, serialization and identity of key material."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

from kmspolicy.crypto import (
    KeyMaterial,
    KeySpec,
    generate_key,
    is_implemented,
    key_material_id,
    load_key_material,
    new_material_id,
    public_key_der,
    same_material,
    spec_info,
)
from kmspolicy.errors import UnsupportedOperationException

IMPLEMENTED = [s for s in KeySpec if is_implemented(s)]
ASYMMETRIC = [s for s in IMPLEMENTED if spec_info(s).secret_lengths is None]


def _public_type(spec: KeySpec) -> type:
    if spec.startswith("RSA"):
        return rsa.RSAPublicKey
    if spec is KeySpec.ECC_NIST_EDWARDS25519:
        return ed25519.Ed25519PublicKey
    if spec.startswith("ECC"):
        return ec.EllipticCurvePublicKey
    return {
        KeySpec.ML_DSA_44: mldsa.MLDSA44PublicKey,
        KeySpec.ML_DSA_65: mldsa.MLDSA65PublicKey,
        KeySpec.ML_DSA_87: mldsa.MLDSA87PublicKey,
        KeySpec.ML_KEM_768: mlkem.MLKEM768PublicKey,
        KeySpec.ML_KEM_1024: mlkem.MLKEM1024PublicKey,
    }[spec]


@pytest.mark.parametrize(
    ("spec", "length"),
    [
        ("SYMMETRIC_DEFAULT", 32),
        ("HMAC_224", 28),
        ("HMAC_256", 32),
        ("HMAC_384", 48),
        ("HMAC_512", 64),
    ],
)
def test_symmetric_key_lengths_as_aws(
    keys: dict[KeySpec, KeyMaterial], spec: str, length: int
) -> None:
    assert len(keys[KeySpec(spec)].secret) == length


@pytest.mark.parametrize("spec", ASYMMETRIC)
def test_public_key_is_der_spki_of_the_right_type(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec
) -> None:
    public = serialization.load_der_public_key(public_key_der(keys[spec]))
    assert isinstance(public, _public_type(spec))
    if spec.startswith("RSA"):
        assert public.key_size == spec_info(spec).rsa_bits  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "curve"),
    [
        ("ECC_NIST_P256", "secp256r1"),
        ("ECC_NIST_P384", "secp384r1"),
        ("ECC_NIST_P521", "secp521r1"),
        ("ECC_SECG_P256K1", "secp256k1"),
    ],
)
def test_ec_curves(keys: dict[KeySpec, KeyMaterial], spec: str, curve: str) -> None:
    public = serialization.load_der_public_key(public_key_der(keys[KeySpec(spec)]))
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == curve


@pytest.mark.parametrize("spec", IMPLEMENTED)
def test_material_round_trips_through_bytes(
    keys: dict[KeySpec, KeyMaterial], spec: KeySpec
) -> None:
    material = keys[spec]
    again = load_key_material(spec, bytes(material))
    assert same_material(material, again)
    if spec in ASYMMETRIC:
        assert public_key_der(again) == public_key_der(material)


@pytest.mark.parametrize("spec", ASYMMETRIC)
def test_asymmetric_material_is_pkcs8_der(keys: dict[KeySpec, KeyMaterial], spec: KeySpec) -> None:
    key = serialization.load_der_private_key(keys[spec].secret, password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert der == public_key_der(keys[spec])


@pytest.mark.parametrize("spec", IMPLEMENTED)
def test_key_material_not_in_repr(keys: dict[KeySpec, KeyMaterial], spec: KeySpec) -> None:
    material = keys[spec]
    assert repr(material) == f"KeyMaterial(spec={spec!r})"
    assert material.secret.hex() not in repr(material) and str(material.secret) not in str(material)


@pytest.mark.parametrize("spec", ["SM2", "ML_KEM_512"])
def test_unsupported_spec_generation(spec: str) -> None:
    with pytest.raises(UnsupportedOperationException):
        generate_key(spec)


@pytest.mark.parametrize("spec", ["SYMMETRIC_DEFAULT", "HMAC_384"])
def test_symmetric_has_no_public_key(keys: dict[KeySpec, KeyMaterial], spec: str) -> None:
    with pytest.raises(UnsupportedOperationException):
        public_key_der(keys[KeySpec(spec)])


@pytest.mark.parametrize(
    "spec", ["SYMMETRIC_DEFAULT", "HMAC_256", "ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_87"]
)
def test_injected_rng_makes_generation_deterministic(spec: str) -> None:
    def rng(n: int) -> bytes:
        return bytes(range(n))

    assert same_material(generate_key(spec, rng), generate_key(spec, rng))
    assert not same_material(generate_key(spec, rng), generate_key(spec))


def test_rng_returning_too_few_bytes_is_misuse() -> None:
    with pytest.raises(ValueError, match="rng"):
        generate_key("SYMMETRIC_DEFAULT", lambda n: b"\x00" * (n - 1))


def test_key_material_id_is_64_hex_and_deterministic(keys: dict[KeySpec, KeyMaterial]) -> None:
    material = keys[KeySpec.SYMMETRIC_DEFAULT]
    mid = key_material_id("key-1", material)
    assert len(mid) == 64 and int(mid, 16) >= 0 and mid == mid.lower()
    assert mid == key_material_id("key-1", load_key_material("SYMMETRIC_DEFAULT", material.secret))
    assert mid != key_material_id("key-2", material)
    assert mid != key_material_id("key-1", generate_key("SYMMETRIC_DEFAULT"))


def test_new_material_id_is_64_hex_drawn_from_the_rng() -> None:
    draws: list[int] = []

    def rng(n: int) -> bytes:
        draws.append(n)
        return bytes(range(n))

    assert new_material_id(rng) == bytes(range(32)).hex()
    assert draws == [32]
    mid = new_material_id()
    assert len(mid) == 64 and mid == mid.lower() and int(mid, 16) >= 0
    assert mid != new_material_id()
    with pytest.raises(ValueError, match="rng"):
        new_material_id(lambda n: b"\x00" * (n - 1))


def test_same_material_distinguishes(keys: dict[KeySpec, KeyMaterial]) -> None:
    a = keys[KeySpec.HMAC_256]
    assert not same_material(a, generate_key("HMAC_256"))
    assert not same_material(a, KeyMaterial(KeySpec.SYMMETRIC_DEFAULT, a.secret))


@pytest.mark.parametrize(
    ("spec", "secret"),
    [
        ("SYMMETRIC_DEFAULT", b"\x00" * 31),
        ("HMAC_224", b"\x00" * 27),
        ("HMAC_512", b"\x00" * 129),
        ("RSA_2048", b"not der"),
        ("ECC_NIST_P256", b"\x30\x00"),
    ],
)
def test_load_rejects_material_that_does_not_fit(spec: str, secret: bytes) -> None:
    with pytest.raises(ValueError):
        load_key_material(spec, secret)


def test_load_rejects_key_of_another_spec(keys: dict[KeySpec, KeyMaterial]) -> None:
    with pytest.raises(ValueError, match="not a ECC_NIST_P384"):
        load_key_material("ECC_NIST_P384", keys[KeySpec.ECC_NIST_P256].secret)
    with pytest.raises(ValueError, match="RSA_3072"):
        load_key_material("RSA_3072", keys[KeySpec.RSA_2048].secret)


def test_load_rejects_non_bytes() -> None:
    with pytest.raises(TypeError):
        load_key_material("SYMMETRIC_DEFAULT", "x" * 32)  # type: ignore[arg-type]


def test_key_material_cannot_be_pickled(keys: dict[KeySpec, KeyMaterial]) -> None:
    import pickle

    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(keys[KeySpec.SYMMETRIC_DEFAULT])


def test_key_material_constructor_coerces_spec_and_checks_type() -> None:
    material = KeyMaterial("HMAC_256", b"\x00" * 32)  # type: ignore[arg-type]
    assert material.spec is KeySpec.HMAC_256
    with pytest.raises(TypeError, match="bytes"):
        KeyMaterial(KeySpec.HMAC_256, "secret")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown key spec"):
        KeyMaterial("AES", b"")  # type: ignore[arg-type]
