"""Contract tests of the symmetric ciphertext blob (docs/ciphertext-blob.md)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.crypto import (
    KeyMaterial,
    KeySpec,
    blob_overhead,
    decrypt_blob,
    encode_encryption_context,
    encrypt_blob,
    generate_key,
    key_material_id,
    parse_blob_header,
)
from kmspolicy.crypto.blob import _encrypt_from_parts
from kmspolicy.errors import InvalidCiphertextException, ValidationException

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
CONTEXT = {"purpose": "test", "Department": "IT"}


@pytest.fixture(scope="module")
def key() -> KeyMaterial:
    return generate_key(KeySpec.SYMMETRIC_DEFAULT)


@pytest.fixture(scope="module")
def blob(key: KeyMaterial) -> bytes:
    return encrypt_blob(key, KEY_ID, b"attack at dawn", CONTEXT)


def test_round_trip(key: KeyMaterial, blob: bytes) -> None:
    assert decrypt_blob(key, blob, CONTEXT) == b"attack at dawn"


def test_context_order_does_not_matter(key: KeyMaterial, blob: bytes) -> None:
    assert decrypt_blob(key, blob, dict(reversed(list(CONTEXT.items())))) == b"attack at dawn"


def test_header_names_key_and_material(key: KeyMaterial, blob: bytes) -> None:
    header = parse_blob_header(blob)
    assert header.key_id == KEY_ID
    assert header.material_id == key_material_id(KEY_ID, key)
    assert header.version == 1
    assert len(header.nonce) == 12


def test_blob_length_is_plaintext_plus_overhead(key: KeyMaterial) -> None:
    assert len(encrypt_blob(key, KEY_ID, b"x" * 4096)) == 4096 + blob_overhead(KEY_ID) == 4196


def test_explicit_material_id_is_embedded(key: KeyMaterial) -> None:
    mid = "ab" * 32
    assert parse_blob_header(encrypt_blob(key, KEY_ID, b"x", material_id=mid)).material_id == mid


def _flips(length: int) -> list[tuple[int, int]]:
    # every byte position, with the low and the high bit of each byte flipped
    return [(i, bit) for i in range(length) for bit in (0x01, 0x80)]


BLOB_LEN = len(b"attack at dawn") + blob_overhead(KEY_ID)


@pytest.mark.parametrize(("position", "bit"), _flips(BLOB_LEN), ids=lambda v: str(v))
def test_blob_flipped_bit_rejected(key: KeyMaterial, blob: bytes, position: int, bit: int) -> None:
    corrupted = bytearray(blob)
    corrupted[position] ^= bit
    with pytest.raises(InvalidCiphertextException) as info:
        # a flipped key id may still parse: the service then fails to find the key; either way
        # decrypting with the real key must fail
        decrypt_blob(key, bytes(corrupted), CONTEXT)
    assert info.value.message == _opaque_message(key, blob)


def _opaque_message(key: KeyMaterial, blob: bytes) -> str:
    with pytest.raises(InvalidCiphertextException) as info:
        decrypt_blob(key, blob, {"other": "context"})
    return info.value.message


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 20, 83, 84, 99, BLOB_LEN - 1])
def test_blob_truncated_rejected(key: KeyMaterial, blob: bytes, cut: int) -> None:
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob[:cut], CONTEXT)


def test_blob_appended_byte_rejected(key: KeyMaterial, blob: bytes) -> None:
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob + b"\x00", CONTEXT)


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"purpose": "test"},
        {"purpose": "TEST", "Department": "IT"},
        {**CONTEXT, "extra": ""},
    ],
    ids=["absent", "empty", "missing-pair", "case-changed", "extra-pair"],
)
def test_context_changed_rejected(
    key: KeyMaterial, blob: bytes, context: dict[str, str] | None
) -> None:
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob, context)


def test_absent_and_empty_context_are_the_same(key: KeyMaterial) -> None:
    assert decrypt_blob(key, encrypt_blob(key, KEY_ID, b"p", None), {}) == b"p"


def test_wrong_key_rejected(blob: bytes) -> None:
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(generate_key(KeySpec.SYMMETRIC_DEFAULT), blob, CONTEXT)


def test_wrong_version_rejected(key: KeyMaterial, blob: bytes) -> None:
    with pytest.raises(InvalidCiphertextException):
        parse_blob_header(blob[:2] + b"\x03" + blob[3:])
    # version 2 (an external key store's blob) parses, but never decrypts as version 1
    assert parse_blob_header(blob[:2] + b"\x02" + blob[3:]).version == 2
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob[:2] + b"\x02" + blob[3:])


def test_header_read_by_the_caller(key: KeyMaterial, blob: bytes) -> None:
    # the blob's own header, read once by the service, is not parsed again
    assert decrypt_blob(key, blob, CONTEXT, header=parse_blob_header(blob)) == b"attack at dawn"
    # another blob's header (its nonce) does not open this one: the tag covers the header
    other = parse_blob_header(encrypt_blob(key, KEY_ID, b"attack at dawn", CONTEXT))
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob, CONTEXT, header=other)
    # nor does a version 2 header, checked before anything is opened
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob, CONTEXT, header=parse_blob_header(blob[:2] + b"\x02" + blob[3:]))


def test_parse_header_does_not_need_the_key(blob: bytes) -> None:
    assert parse_blob_header(blob).key_id == KEY_ID  # no material passed at all


def test_plaintext_too_large(key: KeyMaterial) -> None:
    with pytest.raises(ValidationException):
        encrypt_blob(key, KEY_ID, b"x" * 4097)


def test_nonce_from_injected_rng(key: KeyMaterial) -> None:
    blob = encrypt_blob(key, KEY_ID, b"x", rng=lambda n: b"\x07" * n)
    assert parse_blob_header(blob).nonce == b"\x07" * 12


def test_rng_returning_wrong_length_is_misuse(key: KeyMaterial) -> None:
    with pytest.raises(ValueError, match="nonce"):
        encrypt_blob(key, KEY_ID, b"x", rng=lambda n: b"\x07")


@pytest.mark.parametrize("key_id", ["", "a" * 256, "key id with spaces", "clé"])
def test_bad_key_id_is_misuse(key: KeyMaterial, key_id: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        encrypt_blob(key, key_id, b"x")


def test_non_symmetric_material_is_misuse() -> None:
    with pytest.raises(ValueError, match="SYMMETRIC_DEFAULT"):
        encrypt_blob(generate_key(KeySpec.HMAC_256), KEY_ID, b"x")


def test_non_string_context_is_misuse(key: KeyMaterial) -> None:
    with pytest.raises(TypeError):
        encrypt_blob(key, KEY_ID, b"x", {"n": 1})  # type: ignore[dict-item]


def test_key_material_not_in_repr(key: KeyMaterial) -> None:
    assert key.secret.hex() not in repr(key)
    assert repr(key.secret) not in repr(key)


# --- known-answer vector: the layout, independently rebuilt from the document ---

KAT_KEY = bytes(range(32))
KAT_MID = "00" * 31 + "01"
KAT_NONCE = bytes.fromhex("000102030405060708090a0b")
KAT_CONTEXT = {"b": "2", "a": "1"}
KAT_HEADER = (
    "6b700124" + KEY_ID.encode().hex() + KAT_MID + "000102030405060708090a0b"
)  # header; ciphertext + tag checked below


def test_blob_known_answer_layout() -> None:
    material = KeyMaterial(KeySpec.SYMMETRIC_DEFAULT, KAT_KEY)
    blob = _encrypt_from_parts(material, KEY_ID, b"plaintext", KAT_CONTEXT, KAT_MID, KAT_NONCE)
    header = bytes.fromhex(KAT_HEADER)
    assert blob.startswith(header)
    aad = header + struct.pack(">H", 2) + b"\x00\x01a\x00\x011" + b"\x00\x01b\x00\x012"
    assert encode_encryption_context(KAT_CONTEXT) == aad[len(header) :]
    assert blob[len(header) :] == AESGCM(KAT_KEY).encrypt(KAT_NONCE, b"plaintext", aad)


VECTORS = json.loads((Path(__file__).parent / "vectors" / "blob-v1.json").read_text("utf-8"))


def _independent_blob(vector: dict[str, Any]) -> bytes:
    """The blob rebuilt from docs/ciphertext-blob.md with nothing but AESGCM and struct."""
    key_id = vector["key_id"].encode()
    nonce = bytes.fromhex(vector["nonce"])
    header = b"kp\x01" + bytes([len(key_id)]) + key_id + bytes.fromhex(vector["material_id"])
    header += nonce
    context = vector["context"] or {}
    aad = b""
    if context:
        pairs = sorted((k.encode(), v.encode()) for k, v in context.items())
        aad = struct.pack(">H", len(pairs)) + b"".join(
            struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v for k, v in pairs
        )
    key = bytes.fromhex(vector["key"])
    return header + AESGCM(key).encrypt(nonce, bytes.fromhex(vector["plaintext"]), header + aad)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_blob_known_answer_vector(vector: dict[str, Any]) -> None:
    material = KeyMaterial(KeySpec.SYMMETRIC_DEFAULT, bytes.fromhex(vector["key"]))
    plaintext = bytes.fromhex(vector["plaintext"])
    blob = _encrypt_from_parts(
        material,
        vector["key_id"],
        plaintext,
        vector["context"],
        vector["material_id"],
        bytes.fromhex(vector["nonce"]),
    )
    assert blob.hex() == vector["blob"]
    assert blob == _independent_blob(vector)
    header = parse_blob_header(blob)
    assert (header.key_id, header.material_id) == (vector["key_id"], vector["material_id"])
    assert decrypt_blob(material, bytes.fromhex(vector["blob"]), vector["context"]) == plaintext


contexts = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6)


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(min_size=0, max_size=4096), context=contexts)
def test_round_trip_any_plaintext_and_context(
    key: KeyMaterial, plaintext: bytes, context: dict[str, str]
) -> None:
    blob = encrypt_blob(key, KEY_ID, plaintext, context)
    assert decrypt_blob(key, blob, dict(sorted(context.items(), reverse=True))) == plaintext


@settings(max_examples=40, deadline=None)
@given(context=contexts.filter(bool), extra=st.text(min_size=1, max_size=5))
def test_any_changed_context_rejected(
    key: KeyMaterial, context: dict[str, str], extra: str
) -> None:
    blob = encrypt_blob(key, KEY_ID, b"p", context)
    first = sorted(context)[0]
    with pytest.raises(InvalidCiphertextException):
        decrypt_blob(key, blob, {**context, first: context[first] + extra})
