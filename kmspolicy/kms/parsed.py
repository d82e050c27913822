"""A handler's result as botocore's JSON parser hands it to a client's caller.

Layer: kms (the in-process client's answer to a successful call). ``kms.client`` answers a
call that succeeded without a wire round trip: instead of encoding the result as JSON 1.1 for
botocore to parse back, it shapes the result as that parse would, by the operation's output
shape in botocore's model (compiled once into one function per shape): the shape's members
only, in the model's order, ``None`` left out; blobs as ``bytes``; timestamps as botocore's
default parser makes them from the epoch seconds the wire carries (an aware ``datetime`` in the
local zone); lists as lists; ``str`` and ``int`` subclasses (enums) as the plain values JSON
carries. tests/kms/test_client.py holds the two equal, call by call, against the wire path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from dateutil.tz import tzlocal

from kmspolicy._cache import Once
from kmspolicy.kms import wire

__all__ = ["shape_result"]

Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    return value if type(value) is str else str.__str__(value)  # a StrEnum's value, as JSON


def _integer(value: Any) -> Any:
    return value if type(value) is int or type(value) is bool else int(value)


def _blob(value: Any) -> bytes:
    return value if type(value) is bytes else bytes(value)


def _timestamp(value: Any) -> Any:
    # botocore's default timestamp parser reads the epoch seconds the wire carries
    # (``value.timestamp()``, kms.wire) into the local zone
    seconds = value.timestamp() if isinstance(value, datetime) else value
    return datetime.fromtimestamp(seconds, tzlocal())


def _list(member: Convert) -> Convert:
    if member is _same:
        return list
    return lambda value: [member(item) for item in value]


def _map(key: Convert, value: Convert) -> Convert:
    return lambda mapping: {key(k): value(v) for k, v in mapping.items()}


def _structure(fields: list[tuple[str, str, Convert]]) -> Convert:
    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        get = value.get
        for name, wire_name, member in fields:
            item = get(wire_name)
            if item is not None:  # a JSON null is left out, as botocore leaves it
                out[name] = member(item)
        return out

    return convert


_SCALARS: Mapping[str, Convert] = MappingProxyType(
    {
        "string": _text,
        "integer": _integer,
        "long": _integer,
        "blob": _blob,
        "timestamp": _timestamp,
    }
)


def _compile(shape: Any, memo: dict[str, Convert]) -> Convert:
    found = memo.get(shape.name)
    if found is not None:
        return found
    kind = shape.type_name
    if kind == "structure":
        fields: list[tuple[str, str, Convert]] = []
        convert = memo[shape.name] = _structure(fields)  # filled below: shapes may recurse
        for name, member in shape.members.items():
            fields.append((name, member.serialization.get("name", name), _compile(member, memo)))
        return convert
    if kind == "list":
        convert = _list(_compile(shape.member, memo))
    elif kind == "map":
        convert = _map(_compile(shape.key, memo), _compile(shape.value, memo))
    else:
        convert = _SCALARS.get(kind, _same)
    memo[shape.name] = convert
    return convert


def _load_output_shapes() -> Mapping[str, Convert]:
    model = wire.service_model()
    memo: dict[str, Convert] = {}
    shapes: dict[str, Convert] = {}
    for operation in wire.operation_names():
        shape = model.operation_model(operation).output_shape
        shapes[operation] = (lambda _: {}) if shape is None else _compile(shape, memo)
    return MappingProxyType(shapes)


#: every operation's result shaper, compiled on first use
_output_shapes = Once(_load_output_shapes)


def shape_result(operation: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` (a handler's) as botocore would parse its JSON 1.1 encoding."""
    shaped: dict[str, Any] = _output_shapes()[operation](result)
    return shaped
