"""Canonical byte encoding of an encryption context, used as AES-GCM additional authenticated data.

Layer: crypto. Same shape as the AWS Encryption SDK's serialization: pairs sorted by the UTF-8
bytes of the key, each key and value length-prefixed, so order of insertion never matters.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_U16_MAX = 0xFFFF


def encode_encryption_context(context: Mapping[str, str] | None) -> bytes:
    """``b""`` for an absent or empty context, else::

        count:u16  then per pair, sorted by UTF-8 key bytes:
        key_len:u16 key:utf-8  value_len:u16 value:utf-8      (big-endian)

    TypeError for non-string keys or values; ValueError for a string that is not encodable
    (lone surrogates) or longer than 65535 bytes, or more than 65535 pairs.
    """
    if not context:
        return b""
    if not isinstance(context, Mapping):
        raise TypeError(
            f"encryption context must be a mapping of str to str, not {type(context).__name__}"
        )
    if len(context) > _U16_MAX:
        raise ValueError(
            f"encryption context has {len(context)} pairs; at most {_U16_MAX} are allowed"
        )
    pairs = sorted((_utf8(k, "key"), _utf8(v, "value")) for k, v in context.items())
    out = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        out += [struct.pack(">H", len(key)), key, struct.pack(">H", len(value)), value]
    return b"".join(out)


def _utf8(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"encryption context {what}s must be str, not {type(text).__name__}")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"encryption context {what} {text!r} is not valid Unicode text") from None
    if len(data) > _U16_MAX:
        raise ValueError(
            f"encryption context {what} is {len(data)} bytes in UTF-8; at most {_U16_MAX}"
        )
    return data
