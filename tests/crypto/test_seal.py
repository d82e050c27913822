"""Root-key sealing for stores: round trips, binding to the AAD and root key, opaque failure."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.crypto import (
    SealError,
    generate_root_key,
    root_key_fingerprint,
    seal,
    sealed_fingerprint,
    unseal,
)
from kmspolicy.crypto.seal import _seal_from_parts
from kmspolicy.errors import InternalError

ROOT = bytes(range(32))
AAD = b"arn:aws:kms:us-east-1:111122223333:key/k|material|v1"


def test_seal_round_trip() -> None:
    assert unseal(ROOT, seal(ROOT, b"key material", AAD), AAD) == b"key material"


def test_seal_wrong_aad_rejected() -> None:
    with pytest.raises(SealError):
        unseal(ROOT, seal(ROOT, b"m", AAD), AAD + b"x")


def test_seal_wrong_root_key_rejected() -> None:
    sealed = seal(ROOT, b"m", AAD)
    with pytest.raises(SealError) as info:
        unseal(generate_root_key(), sealed, AAD)
    assert isinstance(info.value, InternalError)


SEALED = seal(ROOT, b"0123456789abcdef", AAD)


@pytest.mark.parametrize("position", range(len(SEALED)))
def test_seal_flipped_bit_rejected(position: int) -> None:
    corrupted = bytearray(SEALED)
    corrupted[position] ^= 0x40
    with pytest.raises(SealError) as info:
        unseal(ROOT, bytes(corrupted), AAD)
    assert str(info.value) == str(SealError())  # one message whatever broke


@pytest.mark.parametrize("cut", [0, 2, 22, 23, 38])
def test_seal_truncated_rejected(cut: int) -> None:
    with pytest.raises(SealError):
        unseal(ROOT, SEALED[:cut], AAD)


def test_fingerprint_names_the_root_key_without_revealing_it() -> None:
    fingerprint = root_key_fingerprint(ROOT)
    assert len(fingerprint) == 16 and sealed_fingerprint(SEALED) == fingerprint
    assert fingerprint != root_key_fingerprint(generate_root_key())
    assert ROOT.hex()[:16] != fingerprint


def test_seal_known_answer_layout() -> None:
    nonce = bytes(12)
    sealed = _seal_from_parts(ROOT, b"pt", AAD, nonce)
    header = b"ks\x01" + bytes.fromhex(root_key_fingerprint(ROOT)) + nonce
    assert sealed == header + AESGCM(ROOT).encrypt(nonce, b"pt", header + AAD)


@pytest.mark.parametrize("root", [b"", b"\x00" * 31, b"\x00" * 33, "x" * 32])
def test_root_key_must_be_32_bytes(root: object) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(root, b"m")  # type: ignore[arg-type]


def test_generate_root_key_uses_rng() -> None:
    assert generate_root_key(lambda n: b"\x05" * n) == b"\x05" * 32
    with pytest.raises(ValueError):
        generate_root_key(lambda n: b"short")


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=8192), aad=st.binary(max_size=200))
def test_seal_any_plaintext_and_aad(plaintext: bytes, aad: bytes) -> None:
    assert unseal(ROOT, seal(ROOT, plaintext, aad), aad) == plaintext
