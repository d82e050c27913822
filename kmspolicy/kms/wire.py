"""The AWS KMS JSON 1.1 codec, driven by botocore's service model.

Layer: kms (shared by the in-process boto3 client and the HTTP server). Requests decode to
Python values (blobs → bytes, timestamps → datetime) validated against the model's shapes:
required members, types, lengths, ranges, enums and patterns, with AWS's messages
(``ValidationException: 1 validation error detected: Value at 'plaintext' failed to satisfy
constraint: Member must have length less than or equal to 4096``); a body that is not the
right JSON is ``SerializationException``; an operation the model lacks is
``UnknownOperationException``. Responses and errors encode to the bytes AWS would send.
"""

from __future__ import annotations

import binascii
import difflib
import json
import re
from collections.abc import Mapping, Set
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import botocore.loaders
import botocore.model
import orjson
import pybase64

from kmspolicy._cache import Once
from kmspolicy.errors import (
    SerializationException,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)

__all__ = [
    "CONTENT_TYPE",
    "TARGET_PREFIX",
    "decode_request",
    "encode_error",
    "encode_response",
    "operation_from_target",
    "operation_names",
    "service_model",
    "validate_params",
]

TARGET_PREFIX = "TrentService."
CONTENT_TYPE = "application/x-amz-json-1.1"


def _load_service_model() -> botocore.model.ServiceModel:
    data = botocore.loaders.Loader().load_service_model("kms", "service-2")
    return botocore.model.ServiceModel(data, service_name="kms")


#: botocore's installed KMS model (``data/kms/2014-11-01/service-2.json``), loaded on first use
service_model = Once(_load_service_model)
#: the names of its operations
operation_names = Once(lambda: frozenset(service_model().operation_names))


def operation_from_target(target: str | None, operations: Set[str] | None = None) -> str:
    """``TrentService.Encrypt`` → ``Encrypt``: the one parser of ``X-Amz-Target`` (the server
    and the in-process client). UnknownOperationException when the header is missing or names
    no operation of ``operations`` (default: every operation of the model)."""
    if not target:
        raise UnknownOperationException("missing X-Amz-Target header (TrentService.<Operation>)")
    name = target.removeprefix(TARGET_PREFIX)
    known = operation_names() if operations is None else operations
    if name == target or name not in known:
        raise UnknownOperationException(f"unknown operation `{target[:80]}`")
    return name


class _Spec:
    """A model shape flattened once into plain attributes: validating a request then costs
    attribute reads, not botocore's per-access metadata dictionaries."""

    __slots__ = (
        "enum",
        "enum_text",
        "key",
        "kind",
        "longest",
        "max",
        "max_bytes",
        "member",
        "members",
        "min",
        "pattern",
        "pattern_text",
        "required",
        "required_set",
        "sensitive",
        "shortest",
        "value",
    )

    def __init__(self, kind: str, meta: Mapping[str, Any]) -> None:
        self.kind = kind
        self.min: int | None = meta.get("min")
        self.max: int | None = meta.get("max")
        #: maps only: the most UTF-8 bytes its keys and values may hold together
        self.max_bytes: int | None = meta.get("max_bytes")
        #: the lengths within ``min`` and ``max``, for one chained comparison per value (the
        #: messages come from ``_Walker._length``, called only for a length outside them)
        self.shortest: int = 0 if self.min is None else self.min
        self.longest: float = float("inf") if self.max is None else self.max
        self.sensitive = bool(meta.get("sensitive", False))
        self.pattern_text: str = meta.get("pattern", "")
        self.pattern = _pattern(self.pattern_text) if self.pattern_text else None
        self.enum: frozenset[str] | None = None
        self.enum_text = ""
        self.members: dict[str, tuple[_Spec, str]] = {}
        self.required: tuple[str, ...] = ()
        self.required_set: frozenset[str] = frozenset()  # the same, for one C test
        self.member: _Spec | None = None
        self.key: _Spec | None = None
        self.value: _Spec | None = None


# Limits AWS documents (KMS.md 8.1, docs/deviations.md) that botocore's model does not carry,
# by shape name, so that every operation using the shape enforces them at decode time — before
# the pipeline authorizes anything. The model's own constraints always take precedence.
# These members feed authorization (condition keys, grant constraints), so their size bounds the
# work one request can cause there (issue 12 item 2).
DOCUMENTED_LIMITS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        # no documented AWS limit: ours (docs/deviations.md); keys and values together, in UTF-8
        "EncryptionContextType": MappingProxyType({"max_bytes": 8192}),
        "TagList": MappingProxyType({"max": 50}),  # tags per key
        "TagKeyList": MappingProxyType({"max": 50}),
    }
)


def _spec(shape: Any, memo: dict[str, _Spec]) -> _Spec:
    found = memo.get(shape.name)
    if found is not None:
        return found
    spec = _Spec(shape.type_name, {**DOCUMENTED_LIMITS.get(shape.name, {}), **shape.metadata})
    memo[shape.name] = spec
    if shape.type_name == "string" and shape.enum:
        spec.enum = frozenset(shape.enum)
        spec.enum_text = ", ".join(shape.enum)
    elif shape.type_name == "structure":
        spec.members = {
            name: (_spec(member, memo), _lower_first(name))
            for name, member in shape.members.items()
        }
        spec.required = tuple(shape.required_members)
        spec.required_set = frozenset(spec.required)
    elif shape.type_name == "list":
        spec.member = _spec(shape.member, memo)
        if spec.max is None and spec.member.enum is not None:
            # a list of enum values (grant operations, DryRun modifiers) without a model bound
            # holds at most one of each: more is only repetition, and it feeds authorization
            # (kms:GrantOperations), so its length is bounded before it (issue 12 item 2)
            spec.max = spec.longest = len(spec.member.enum)
    elif shape.type_name == "map":
        spec.key, spec.value = _spec(shape.key, memo), _spec(shape.value, memo)
    return spec


def _load_input_specs() -> Mapping[str, _Spec | None]:
    model = service_model()
    specs: dict[str, _Spec | None] = {}
    for operation in operation_names():
        shape = model.operation_model(operation).input_shape
        specs[operation] = None if shape is None else _spec(shape, {})
    return MappingProxyType(specs)


#: every operation's input spec, built on first use
_input_specs = Once(_load_input_specs)


def _input_spec(operation: str) -> _Spec | None:
    specs = _input_specs()
    if operation not in specs:
        raise UnknownOperationException(f"Operation {operation} is not supported.")
    return specs[operation]


def _pattern(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(regex)
    except re.error:  # a Java-only construct: the check is skipped, not guessed
        return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Walker:
    """Converts (from JSON) and validates one request; collects every violation like AWS."""

    __slots__ = ("errors", "from_json")

    def __init__(self, from_json: bool) -> None:
        self.from_json = from_json
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str, *, show: bool) -> None:
        shown = f"Value '{value}' at" if show else "Value at"
        self.errors.append(f"{shown} '{path}' failed to satisfy constraint: {constraint}")

    def unknown(self, name: str, members: Mapping[str, Any], path: str) -> None:
        # Python callers get botocore's ParamValidation behaviour: a misspelt name is an
        # error, never silently dropped (the JSON protocol ignores it; boto3 never sends one).
        valid = ", ".join(members)
        close = difflib.get_close_matches(str(name), members, n=1, cutoff=0.6)
        hint = "" if not close else f' (did you mean "{close[0]}"?)'
        self.errors.append(
            f'Unknown parameter in {path or "input"}: "{name}", must be one of: {valid}{hint}'
        )

    def structure(self, spec: _Spec, value: Any, path: str) -> dict[str, Any]:
        if type(value) is not dict and not isinstance(value, Mapping):  # JSON's is a dict
            raise SerializationException(f"Expected an object at '{path or 'request'}'")
        members = spec.members
        out: dict[str, Any] = {}
        for name, item in value.items():
            found = members.get(name)
            if found is None and not self.from_json:
                self.unknown(name, members, path)
                continue
            if found is None or item is None:
                continue  # unknown JSON members are ignored, as the AWS JSON protocol does
            member, lower = found
            out[name] = self.value(member, item, f"{path}.{lower}" if path else lower)
        if out.keys() >= spec.required_set:  # every required member: one test in C
            return out
        for name in spec.required:  # the missing ones, in the model's order
            if name not in out:
                lower = _lower_first(name)
                sub = f"{path}.{lower}" if path else lower
                self.errors.append(
                    f"Value null at '{sub}' failed to satisfy constraint: Member must not be null"
                )
        return out

    def value(self, spec: _Spec, value: Any, path: str) -> Any:
        kind = spec.kind
        if kind == "string":
            if not isinstance(value, str):
                raise SerializationException(f"Expected a string at '{path}'")
            if not value.isascii() and not _is_unicode(value):
                # a lone UTF-16 surrogate ("\udfff" in JSON): no UTF-8 form, so no store, log
                # line, signature or AAD could carry it; refused before anything else reads it
                self.fail(value, path, "Member must be valid Unicode text", show=False)
                return value
            if not spec.shortest <= len(value) <= spec.longest:
                self._length(value, spec, path, show=not spec.sensitive)
            if spec.enum is not None:
                if value not in spec.enum:
                    self.fail(
                        value,
                        path,
                        f"Member must satisfy enum value set: [{spec.enum_text}]",
                        show=not spec.sensitive,
                    )
            elif spec.pattern is not None and value and spec.pattern.fullmatch(value) is None:
                self.fail(
                    value,
                    path,
                    f"Member must satisfy regular expression pattern: {spec.pattern_text}",
                    show=not spec.sensitive,
                )
            return value
        if kind == "blob":
            data = self._blob(value, path)
            if not spec.shortest <= len(data) <= spec.longest:
                self._length(data, spec, path, show=False)
            return data
        if kind == "structure":
            return self.structure(spec, value, path)
        if kind == "list":
            if not isinstance(value, list | tuple):
                raise SerializationException(f"Expected a list at '{path}'")
            if not spec.shortest <= len(value) <= spec.longest:
                self._length(value, spec, path, show=False)
            member = spec.member
            assert member is not None  # INVARIANT: set for every list shape
            return [self.value(member, v, f"{path}.{i + 1}.member") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping):
                raise SerializationException(f"Expected an object at '{path}'")
            if not spec.shortest <= len(value) <= spec.longest:
                self._length(value, spec, path, show=False)
            key_spec, value_spec = spec.key, spec.value
            assert key_spec is not None and value_spec is not None  # INVARIANT: map shapes
            if spec.max_bytes is not None:
                self._total_bytes(value, spec.max_bytes, path)
            return {
                self.value(key_spec, k, f"{path}.{k}.key"): self.value(
                    value_spec, v, f"{path}.{k}.value"
                )
                for k, v in value.items()
            }
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SerializationException(f"Expected an integer at '{path}'")
            if spec.min is not None and value < spec.min:
                self.fail(
                    value,
                    path,
                    f"Member must have value greater than or equal to {spec.min}",
                    show=True,
                )
            if spec.max is not None and value > spec.max:
                self.fail(
                    value,
                    path,
                    f"Member must have value less than or equal to {spec.max}",
                    show=True,
                )
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise SerializationException(f"Expected a boolean at '{path}'")
            return value
        if kind == "timestamp":
            if isinstance(value, datetime):
                return value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SerializationException(f"Expected a timestamp at '{path}'")
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, ValueError, OSError):  # 1e309 (inf), 1e20: no such date
                self.fail(value, path, "Member must be a time between years 1 and 9999", show=True)
                return value
        if kind in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SerializationException(f"Expected a number at '{path}'")
            return value
        return value

    def _blob(self, value: Any, path: str) -> bytes:
        if self.from_json:
            if not isinstance(value, str):
                raise SerializationException(f"Expected a base64 string at '{path}'")
            try:
                return b64decode(value)
            except ValueError:  # binascii.Error is a ValueError
                raise SerializationException(f"Value at '{path}' is not valid base64") from None
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):  # boto3 accepts str for blobs and sends its UTF-8
            return value.encode("utf-8")
        raise ValidationException(f"Value at '{path}' must be bytes")

    def _total_bytes(self, value: Mapping[Any, Any], limit: int, path: str) -> None:
        pairs = [(k, v) for k, v in value.items() if isinstance(k, str) and isinstance(v, str)]
        chars = sum(len(k) + len(v) for k, v in pairs)  # others fail their own type check
        # a code point is 1 to 4 UTF-8 bytes: encode only when the count leaves it open
        if chars * 4 <= limit:
            return
        if chars <= limit:
            size = sum(
                len(k.encode("utf-8", "surrogatepass")) + len(v.encode("utf-8", "surrogatepass"))
                for k, v in pairs
            )
            if size <= limit:
                return
        self.fail(
            None,
            path,
            f"Member must have keys and values of total length less than or equal to {limit} bytes",
            show=False,
        )

    def _length(self, value: Any, spec: _Spec, path: str, *, show: bool) -> None:
        n = len(value)
        if spec.min is not None and n < spec.min:
            self.fail(
                value,
                path,
                f"Member must have length greater than or equal to {spec.min}",
                show=show,
            )
        if spec.max is not None and n > spec.max:
            self.fail(
                value,
                path,
                f"Member must have length less than or equal to {spec.max}",
                show=show,
            )


def _is_unicode(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def b64decode(text: str) -> bytes:
    """Strict base64 (``binascii.a2b_base64(strict_mode=True)`` semantics), fast.

    pybase64's SIMD decoder takes ~1 µs for a 4 KB blob where the stdlib takes ~25; it accepts
    a subset of what the stdlib's strict mode accepts (it refuses padding beyond ``==``), so
    whatever it refuses is decided by the stdlib, which stays the reference.
    """
    try:
        return pybase64.b64decode(text, validate=True)
    except ValueError:
        return binascii.a2b_base64(text, strict_mode=True)


def _finish(walker: _Walker) -> None:
    if walker.errors:
        n = len(walker.errors)
        raise ValidationException(
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(walker.errors)
        )


def validate_params(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate Python-typed parameters (as boto3 takes them) against the model."""
    spec = _input_spec(operation)
    if spec is None:
        return {}
    walker = _Walker(from_json=False)
    out = walker.structure(spec, params, "")
    _finish(walker)
    return out


def _no_constant(name: str) -> Any:
    # ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259); the stdlib accepts them
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


#: the types of a flat request's members (no float, no container)
_FLAT = frozenset({str, int, bool, type(None)})


def _has_float(value: Any) -> bool:
    """Whether a parsed document holds a float anywhere (orjson turns integers past 64 bits into
    floats where the stdlib keeps ``int``; no KMS input is a float, so this walk is tiny)."""
    if type(value) is dict and _FLAT.issuperset(map(type, value.values())):
        return False  # the usual request (Encrypt, Decrypt: strings only), checked in C
    pending = [value]
    while pending:  # a loop, not recursion: a few hundred ns on a request, however nested
        item = pending.pop()
        kind = type(item)  # orjson builds exact dict/list/float, never subclasses
        if kind is float:
            return True
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


def _loads(body: bytes | str) -> Any:
    """``json.loads(body)``, exactly: orjson first (the stdlib scans a 4 KB blob's base64 string
    a character at a time, ~5 us), and the stdlib decoder on any orjson error or float, so the
    accepted set, the values and the errors are the stdlib's (lone surrogates, UTF-16, a UTF-8
    BOM on bytes, nesting deeper than orjson's 1024 levels, integers past 64 bits), except that
    ``NaN`` and ``Infinity``, which JSON lacks, are refused as orjson refuses them."""
    if isinstance(body, str) and body.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", body, 0)
    try:
        data = orjson.loads(body)
    except Exception:  # any refusal is re-judged by the reference decoder below
        pass
    else:
        if not _has_float(data):
            return data
    if isinstance(body, str):
        return _DECODER.decode(body)
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def decode_request(operation: str, body: bytes | str) -> dict[str, Any]:
    """Decode a JSON 1.1 request body into validated Python parameters."""
    spec = _input_spec(operation)
    try:
        data = _loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        raise SerializationException("The request body is not valid JSON") from None
    except RecursionError:  # ``[[[[…`` thousands deep: the C decoder recurses per level
        raise SerializationException("The request body is nested too deeply") from None
    if spec is None:
        return {}
    walker = _Walker(from_json=True)
    out = walker.structure(spec, data, "")
    _finish(walker)
    return out


_b64 = pybase64.b64encode_as_string
_b64_bytes = pybase64.b64encode
_json_string = json.encoder.encode_basestring_ascii


def _json_default(value: Any) -> Any:
    """What JSON cannot carry as such (JSON 1.1 rules): blobs as base64 text, timestamps as
    epoch seconds. Called by the C encoder only for these, so containers are not walked twice."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _b64(value)
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The public encoder only (json.encoder's private C constructor saved about a microsecond per
# container, on responses that have containers: not on Encrypt/Decrypt, whose members are flat).
_JSON = json.JSONEncoder(separators=(",", ":"), default=_json_default)
_json_value = _JSON.encode


def _load_member_heads() -> Mapping[str, bytes]:
    model = service_model()
    heads: dict[str, bytes] = {}
    for operation in operation_names():
        shape = model.operation_model(operation).output_shape
        if shape is not None:
            for name in shape.members:
                heads[name] = _json_string(name).encode() + b":"
    return MappingProxyType(heads)


#: ``"Name":`` of every member of every operation's output, written once (on first use)
_member_heads = Once(_load_member_heads)


def encode_response(operation: str, result: Mapping[str, Any]) -> bytes:
    """A handler's result (bytes, datetimes, str enums) as the JSON 1.1 response body.

    Compact JSON, member by member, in bytes: a top-level blob is base64, which never needs
    JSON escaping, so it is spliced in unscanned and uncopied until the one join (escaping a
    5 KB string costs more than encoding the rest of the response); a member name of the
    model's outputs comes from a table; everything else goes through one C encoder, whose
    ASCII output is its UTF-8.
    """
    heads = _member_heads()
    parts: list[bytes] = []
    for name, value in result.items():
        head = heads.get(name)
        if head is None:
            if not isinstance(name, str):
                return _JSON.encode(result).encode("utf-8")
            head = _json_string(name).encode() + b":"
        kind = type(value)
        if kind is bytes:
            parts += (head, b'"', _b64_bytes(value), b'"', b",")
        elif kind is str:  # the C string encoder alone, without the encoder object's checks
            parts += (head, _json_string(value).encode(), b",")
        else:
            parts += (head, _json_value(value).encode(), b",")
    if not parts:
        return b"{}"
    parts[0] = b"{" + parts[0]
    parts[-1] = b"}"  # the last member's comma
    return b"".join(parts)


def encode_error(error: ServiceError) -> bytes:
    """``{"__type": <AWS exception name>, "message": ...}``; status is ``error.http_status``."""
    return json.dumps({"__type": error.code, "message": error.message}).encode("utf-8")
