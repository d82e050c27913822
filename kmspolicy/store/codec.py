"""Records <-> JSON documents for the database stores, with every sealed secret split out
(store layer).

A key becomes one JSON document (metadata, material ring, tags, import parameters) whose sealed
fields are emptied, plus a list of ``Secret`` values — key material and import-wrapping private
keys, as the kernel sealed them under the root key — each stored in a row of its own (the
store never seals or unseals: it keeps the bytes it is given). Decoding is driven by the
model's type hints, so a field added to the model needs no change here.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from kmspolicy.errors import InternalError
from kmspolicy.kms.backends import MATERIAL, WRAPPING_KEY
from kmspolicy.kms.model import AliasRecord, CustomKeyStoreRecord, GrantRecord, KeyRecord
from kmspolicy.kms.sealed import Sealed, reveal

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Secret:
    """One sealed secret of a key: which kind, which version (material id / import token id),
    and the sealed bytes (bound to the key ARN, kind and version by the kernel's AAD)."""

    kind: str
    ref: str
    sealed: bytes = field(repr=False)


def encode_key(record: KeyRecord) -> tuple[str, list[Secret]]:
    """The key's JSON document (no sealed bytes in it) and its sealed secrets."""
    secrets: list[Secret] = []
    materials = []
    for m in record.materials:
        if m.sealed is not None:
            secrets.append(Secret(MATERIAL, m.material_id, reveal(m.sealed)))
        materials.append(dataclasses.replace(m, sealed=None))
    imports = []
    for p in record.pending_imports:
        if p.sealed_wrapping_key is None:
            raise InternalError(f"key {record.key_id}: import parameters without their secret")
        secrets.append(Secret(WRAPPING_KEY, p.import_token_id, reveal(p.sealed_wrapping_key)))
        imports.append(dataclasses.replace(p, sealed_wrapping_key=None))
    public = dataclasses.replace(record, materials=tuple(materials), pending_imports=tuple(imports))
    return dumps(public), secrets


def decode_key(doc: str | dict[str, Any], secrets: list[Secret]) -> KeyRecord:
    """Rebuild a key from its document and its sealed secrets (still sealed)."""
    record = loads(KeyRecord, doc)
    by_ref = {(s.kind, s.ref): Sealed(s.sealed) for s in secrets}
    materials = tuple(
        dataclasses.replace(m, sealed=by_ref.get((MATERIAL, m.material_id)))
        for m in record.materials
    )
    imports = []
    for p in record.pending_imports:
        value = by_ref.get((WRAPPING_KEY, p.import_token_id))
        if value is None:
            raise InternalError(f"key {record.key_id}: import parameters without their secret")
        imports.append(dataclasses.replace(p, sealed_wrapping_key=value))
    return dataclasses.replace(record, materials=materials, pending_imports=tuple(imports))


def encode_key_store(record: CustomKeyStoreRecord) -> tuple[str, bytes]:
    """The store's JSON document (no credential in it) and its sealed credential."""
    return dumps(dataclasses.replace(record, sealed_credential=b"")), record.sealed_credential


def decode_key_store(doc: str | dict[str, Any], sealed: bytes) -> CustomKeyStoreRecord:
    return dataclasses.replace(loads(CustomKeyStoreRecord, doc), sealed_credential=sealed)


def encode_alias(record: AliasRecord) -> str:
    return dumps(record)


def decode_alias(doc: str | dict[str, Any]) -> AliasRecord:
    return loads(AliasRecord, doc)


def encode_grant(record: GrantRecord) -> str:
    return dumps(record)


def decode_grant(doc: str | dict[str, Any]) -> GrantRecord:
    return loads(GrantRecord, doc)


# --- the generic part: frozen dataclasses of str/int/bool/bytes/datetime/enum/tuple/None


def dumps(obj: object) -> str:
    return json.dumps(_to_json(obj), separators=(",", ":"), sort_keys=True)


def loads(cls: type[T], doc: str | dict[str, Any]) -> T:
    data = json.loads(doc) if isinstance(doc, str) else doc
    decode = _DECODERS.get(cls)
    return typing.cast(T, decode(data) if decode is not None else _from_json(cls, data))


def _to_json(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):  # public keys only: encode_key empties the sealed fields first
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InternalError(f"cannot store a value of type {type(value).__name__}")


def _from_json(tp: Any, data: Any) -> Any:
    return _decoder(tp)(data)


def _identity(value: Any) -> Any:
    return value


def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A decoding function for type ``tp`` (the stored records' are built once, at import:
    reads are the hot path)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) != 1:
            raise InternalError(f"ambiguous stored type {tp}")
        inner = _decoder(options[0])
        return lambda data: None if data is None else inner(data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda data: tuple(item(v) for v in data)
        parts = [_decoder(a) for a in args]
        return lambda data: tuple(f(v) for f, v in zip(parts, data, strict=True))
    if origin is dict:
        return dict
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_decoder(tp)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp
    if tp is datetime:
        return datetime.fromisoformat
    if tp is bytes:
        return base64.b64decode
    if tp is Sealed:
        return _no_sealed_in_documents
    if tp in (str, int, float, bool, object, Any):
        return _identity
    raise InternalError(f"cannot load a stored value of type {tp}")


def _no_sealed_in_documents(data: Any) -> None:
    """A sealed field of a document: always empty (its secret is a row of its own; documents
    written before ``Sealed`` held an empty string there)."""
    if data:
        raise InternalError("a stored document holds a sealed secret")
    return None


def _dataclass_decoder(cls: type) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls)]

    def decode(data: Any) -> Any:
        # Fields unknown to this version are ignored; fields missing take their defaults.
        return cls(**{name: f(data[name]) for name, f in fields if name in data})

    return decode


#: the decoders of the stored records, built once
_DECODERS: Mapping[type, Callable[[Any], Any]] = types.MappingProxyType(
    {cls: _decoder(cls) for cls in (KeyRecord, AliasRecord, GrantRecord, CustomKeyStoreRecord)}
)

__all__ = [
    "MATERIAL",
    "WRAPPING_KEY",
    "Secret",
    "decode_alias",
    "decode_grant",
    "decode_key",
    "encode_alias",
    "encode_grant",
    "encode_key",
]
