"""ML-KEM (FIPS 203) for Encapsulate and Decapsulate, through pyca/cryptography."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.crypto import (
    decapsulate,
    encapsulate,
    generate_key,
    material_from_private_der,
    public_key_der,
)
from kmspolicy.errors import InvalidCiphertextException, InvalidKeyUsageException

# the encapsulated secret's length per key spec (API_Encapsulate)
CIPHERTEXT_LENGTHS = {"ML_KEM_768": 1088, "ML_KEM_1024": 1568}


@pytest.mark.parametrize("spec", sorted(CIPHERTEXT_LENGTHS))
def test_the_secret_decapsulates_from_its_ciphertext(spec: str) -> None:
    material = generate_key(spec)
    secret, ciphertext = encapsulate(material, "ML_KEM")
    assert len(secret) == 32
    assert len(ciphertext) == CIPHERTEXT_LENGTHS[spec]
    assert decapsulate(material, "ML_KEM", ciphertext) == secret
    # the public key alone encapsulates (what a KMS user does with GetPublicKey's answer)
    public = serialization.load_der_public_key(public_key_der(material))
    their_secret, their_ciphertext = public.encapsulate()  # type: ignore[union-attr]
    assert decapsulate(material, "ML_KEM", their_ciphertext) == their_secret


@settings(max_examples=20, deadline=None)
@given(position=st.integers(0, 1087), flip=st.integers(1, 255))
def test_an_altered_ciphertext_gives_another_secret(position: int, flip: int) -> None:
    """Implicit rejection: no error (nothing to learn from), an unrelated secret."""
    material = _KEY768
    secret, ciphertext = _SAMPLE
    altered = bytearray(ciphertext)
    altered[position] ^= flip
    assert decapsulate(material, "ML_KEM", bytes(altered)) != secret


@pytest.mark.parametrize("length", [0, 32, 1087, 1089, 1568])
def test_a_ciphertext_of_the_wrong_length_is_invalid(length: int) -> None:
    with pytest.raises(InvalidCiphertextException):
        decapsulate(_KEY768, "ML_KEM", b"\x00" * length)


def test_keys_come_from_the_injected_rng_and_round_trip_as_pkcs8() -> None:
    a = generate_key("ML_KEM_1024", rng=lambda n: b"\x07" * n)
    b = generate_key("ML_KEM_1024", rng=lambda n: b"\x07" * n)
    assert public_key_der(a) == public_key_der(b)
    again = material_from_private_der("ML_KEM_1024", a.secret)
    assert public_key_der(again) == public_key_der(a)
    with pytest.raises(ValueError):  # a 768 key is not a 1024 key
        material_from_private_der("ML_KEM_1024", _KEY768.secret)


def test_only_ml_kem_keys_encapsulate() -> None:
    with pytest.raises(InvalidKeyUsageException):
        encapsulate(generate_key("ML_DSA_44"), "ML_KEM")


_KEY768 = generate_key("ML_KEM_768")
_SAMPLE = encapsulate(_KEY768, "ML_KEM")
