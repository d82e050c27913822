"""The XKS AES-GCM recipe: the specification's CDIV example, the AAD framing, 16-byte IVs."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmspolicy.crypto import xks


def test_cdiv_of_the_specification_example() -> None:
    # Appendix C: 33 bytes of AAD, 13 of metadata, the IV, ciphertext and tag of the example
    aad = b"project=nile,department=marketing"
    metadata = base64.b64decode("a2V5X3ZlcnNpb249MQ==")
    iv = base64.b64decode("HMrlRw85cAJUd5Ax")
    ciphertext = base64.b64decode("ghxkK1txeDNn3q8Y")
    tag = base64.b64decode("vBxN2ncH1oEkR8WVXpmyYQ==")
    value = xks.cdiv(aad, metadata, iv, ciphertext, tag)
    assert value.hex() == "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7"
    assert base64.b64encode(value).decode() == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="


def test_gcm_aad_frames_lengths() -> None:
    assert xks.gcm_aad(b"", b"") == b"\x00\x00\x00"
    assert xks.gcm_aad(b"ab", b"m") == b"\x00\x02ab\x01m"
    assert xks.gcm_aad(b"ab", b"") != xks.gcm_aad(b"", b"ab")


def test_round_trip_with_metadata() -> None:
    key = xks.generate_key()
    iv, ct, tag = xks.encrypt(key, b"plain", b"aad", b"v1")
    assert xks.decrypt(key, iv, ct, tag, b"aad", b"v1") == b"plain"
    for args in [(b"aad", b""), (b"aadv1", b""), (b"", b"aad")]:
        with pytest.raises(xks.XksDecryptError):
            xks.decrypt(key, iv, ct, tag, *args)


def test_a_16_byte_iv_decrypts() -> None:
    # the specification allows key managers that produce 16-byte IVs
    key, iv = xks.generate_key(), os.urandom(16)
    sealed = AESGCM(key).encrypt(iv, b"data", xks.gcm_aad(b"x", b""))
    assert xks.decrypt(key, iv, sealed[:-16], sealed[-16:], b"x") == b"data"


@pytest.mark.parametrize(("iv", "tag"), [(8, 16), (12, 12), (16, 15)])
def test_wrong_lengths_are_one_opaque_error(iv: int, tag: int) -> None:
    with pytest.raises(xks.XksDecryptError):
        xks.decrypt(xks.generate_key(), bytes(iv), b"x", bytes(tag), b"")


def test_known_answer_through_the_seam() -> None:
    key = bytes(range(32))
    iv, ct, tag = xks._encrypt_from_parts(key, b"Hello World!", b"", b"", bytes(12))
    assert iv == bytes(12)
    assert (ct + tag) == AESGCM(key).encrypt(bytes(12), b"Hello World!", b"\x00\x00\x00")
