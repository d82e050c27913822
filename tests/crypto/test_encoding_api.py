"""The encryption-context encoding's properties, and the shape of the public API."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kmspolicy.crypto as crypto
from kmspolicy.crypto import encode_encryption_context

contexts = st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=5)


@settings(max_examples=200, deadline=None)
@given(a=contexts, b=contexts)
def test_context_encoding_is_injective(a: dict[str, str], b: dict[str, str]) -> None:
    assert (encode_encryption_context(a) == encode_encryption_context(b)) == (a == b)


@settings(max_examples=100, deadline=None)
@given(context=contexts)
def test_context_encoding_ignores_order(context: dict[str, str]) -> None:
    shuffled = dict(reversed(list(context.items())))
    assert encode_encryption_context(shuffled) == encode_encryption_context(context)


def test_context_sorted_by_utf8_bytes() -> None:
    # "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9): byte order, not case-folded or locale order
    encoded = encode_encryption_context({"é": "3", "a": "2", "Z": "1"})
    assert encoded == b"\x00\x03" + b"\x00\x01Z\x00\x011" + b"\x00\x01a\x00\x012" + (
        b"\x00\x02\xc3\xa9\x00\x013"
    )


def test_absent_and_empty_context_encode_to_nothing() -> None:
    assert encode_encryption_context(None) == encode_encryption_context({}) == b""


@pytest.mark.parametrize(
    ("context", "error"),
    [
        ({"k": 1}, TypeError),
        ({1: "v"}, TypeError),
        ({1: "v", "k": "v"}, TypeError),
        (["k", "v"], TypeError),
        ({"k": "\ud800"}, ValueError),
        ({"k" * 70000: "v"}, ValueError),
    ],
    ids=["int-value", "int-key", "mixed-keys", "not-a-mapping", "lone-surrogate", "too-long"],
)
def test_malformed_context_is_misuse(context: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_encryption_context(context)  # type: ignore[arg-type]


def test_public_api_is_sorted_and_resolvable() -> None:
    assert len(set(crypto.__all__)) == len(crypto.__all__)
    for name in crypto.__all__:
        assert hasattr(crypto, name), name
    public = {n for n in dir(crypto) if n[0] not in "_@"}  # "@py…": pytest's rewriting
    # submodules; `seal` is both a module and the function that shadows it in the package
    modules = {
        "agreement",
        "asymmetric",
        "blob",
        "datakeys",
        "encoding",
        "kem",
        "mac",
        "material",
        "specs",
        "wrapping",
        "xks",
        "xksblob",
    }
    assert public - modules == set(crypto.__all__)
