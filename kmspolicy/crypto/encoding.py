"""Canonical byte encoding of an encryption context, used as AES-GCM additional authenticated data.

Layer: crypto. Same shape as the AWS Encryption SDK's serialization: pairs sorted by the UTF-8
bytes of the key, each key and value length-prefixed, so order of insertion never matters.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_U16_MAX = 0xFFFF
_u16 = struct.Struct(">H").pack


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
        raise ValueError(f"encryption context has {len(context)} pairs; at most {_U16_MAX}")
    out = [_u16(len(context))]
    # Sorting the str keys sorts their UTF-8 bytes too: UTF-8 preserves code-point order
    # (lone surrogates, the one exception, cannot be encoded and are refused below).
    try:
        items = sorted(context.items())
    except TypeError:  # keys of mixed types cannot even be ordered
        raise TypeError("encryption context keys must all be str") from None
    for key, value in items:
        try:
            if type(key) is not str or type(value) is not str:
                raise TypeError
            key_bytes, value_bytes = key.encode(), value.encode()
            if len(key_bytes) > _U16_MAX or len(value_bytes) > _U16_MAX:
                raise ValueError
        except (TypeError, ValueError):
            # the careful path: accepts str subclasses, names the offending key or value
            key_bytes, value_bytes = _utf8(key, "key"), _utf8(value, "value")
        out += (_u16(len(key_bytes)), key_bytes, _u16(len(value_bytes)), value_bytes)
    return b"".join(out)


def _utf8(text: object, what: str) -> bytes:
    if type(text) is not str:
        if not isinstance(text, str):
            raise TypeError(f"encryption context {what}s must be str, not {type(text).__name__}")
        text = str(text)  # a str subclass: encode its plain value
    try:
        data = text.encode()
    except UnicodeEncodeError:
        raise ValueError(f"encryption context {what} {text!r} is not valid Unicode text") from None
    if len(data) > _U16_MAX:
        raise ValueError(
            f"encryption context {what} is {len(data)} bytes in UTF-8; at most {_U16_MAX}"
        )
    return data
