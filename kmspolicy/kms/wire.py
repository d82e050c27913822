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

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.loaders
import botocore.model

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


@cache
def service_model() -> botocore.model.ServiceModel:
    """botocore's installed KMS model (``data/kms/2014-11-01/service-2.json``)."""
    data = botocore.loaders.Loader().load_service_model("kms", "service-2")
    return botocore.model.ServiceModel(data, service_name="kms")


@cache
def operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation_from_target(target: str | None) -> str:
    """``TrentService.Encrypt`` → ``Encrypt``; UnknownOperationException otherwise."""
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException("Missing or malformed X-Amz-Target header")
    name = target[len(TARGET_PREFIX) :]
    if name not in operation_names():
        raise UnknownOperationException(f"Operation {name} is not supported.")
    return name


@cache
def _input_shape(operation: str) -> botocore.model.StructureShape | None:
    if operation not in operation_names():
        raise UnknownOperationException(f"Operation {operation} is not supported.")
    shape = service_model().operation_model(operation).input_shape
    return shape


@cache
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

    def structure(
        self, shape: botocore.model.StructureShape, value: Any, path: str
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise SerializationException(f"Expected an object at '{path or 'request'}'")
        members = shape.members
        out: dict[str, Any] = {}
        for name, item in value.items():
            member = members.get(name)
            if member is None or item is None:
                continue  # unknown members are ignored, as the AWS JSON protocol does
            out[name] = self.value(
                member, item, f"{path}.{_lower_first(name)}" if path else _lower_first(name)
            )
        for name in shape.required_members:
            if name not in out:
                sub = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
                self.errors.append(
                    f"Value null at '{sub}' failed to satisfy constraint: Member must not be null"
                )
        return out

    def value(self, shape: botocore.model.Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        meta = shape.metadata
        if kind == "string":
            if not isinstance(value, str):
                raise SerializationException(f"Expected a string at '{path}'")
            show = not meta.get("sensitive", False)
            self._length(value, meta, path, show=show)
            enum = shape.enum
            if enum and value not in enum:
                self.fail(
                    value,
                    path,
                    f"Member must satisfy enum value set: [{', '.join(enum)}]",
                    show=show,
                )
            elif "pattern" in meta:
                pattern = _pattern(meta["pattern"])
                if pattern is not None and pattern.fullmatch(value) is None and value:
                    self.fail(
                        value,
                        path,
                        f"Member must satisfy regular expression pattern: {meta['pattern']}",
                        show=show,
                    )
            return value
        if kind == "blob":
            data = self._blob(value, path)
            self._length(data, meta, path, show=False)
            return data
        if kind == "structure":
            return self.structure(shape, value, path)
        if kind == "list":
            if not isinstance(value, list | tuple):
                raise SerializationException(f"Expected a list at '{path}'")
            self._length(value, meta, path, show=False)
            member = shape.member
            return [self.value(member, v, f"{path}.{i + 1}.member") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping):
                raise SerializationException(f"Expected an object at '{path}'")
            self._length(value, meta, path, show=False)
            key_shape, value_shape = shape.key, shape.value
            return {
                self.value(key_shape, k, f"{path}.{k}.key"): self.value(
                    value_shape, v, f"{path}.{k}.value"
                )
                for k, v in value.items()
            }
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SerializationException(f"Expected an integer at '{path}'")
            if "min" in meta and value < meta["min"]:
                self.fail(
                    value,
                    path,
                    f"Member must have value greater than or equal to {meta['min']}",
                    show=True,
                )
            if "max" in meta and value > meta["max"]:
                self.fail(
                    value,
                    path,
                    f"Member must have value less than or equal to {meta['max']}",
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
            return datetime.fromtimestamp(value, UTC)
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
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise SerializationException(f"Value at '{path}' is not valid base64") from None
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):  # boto3 accepts str for blobs and sends its UTF-8
            return value.encode("utf-8")
        raise ValidationException(f"Value at '{path}' must be bytes")

    def _length(self, value: Any, meta: Mapping[str, Any], path: str, *, show: bool) -> None:
        n = len(value)
        if "min" in meta and n < meta["min"]:
            self.fail(
                value,
                path,
                f"Member must have length greater than or equal to {meta['min']}",
                show=show,
            )
        if "max" in meta and n > meta["max"]:
            self.fail(
                value,
                path,
                f"Member must have length less than or equal to {meta['max']}",
                show=show,
            )


def _finish(walker: _Walker) -> None:
    if walker.errors:
        n = len(walker.errors)
        raise ValidationException(
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(walker.errors)
        )


def validate_params(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate Python-typed parameters (as boto3 takes them) against the model."""
    shape = _input_shape(operation)
    if shape is None:
        return {}
    walker = _Walker(from_json=False)
    out = walker.structure(shape, params, "")
    _finish(walker)
    return out


def decode_request(operation: str, body: bytes | str) -> dict[str, Any]:
    """Decode a JSON 1.1 request body into validated Python parameters."""
    shape = _input_shape(operation)
    try:
        data = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        raise SerializationException("The request body is not valid JSON") from None
    if shape is None:
        return {}
    walker = _Walker(from_json=True)
    out = walker.structure(shape, data, "")
    _finish(walker)
    return out


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_response(operation: str, result: Mapping[str, Any]) -> bytes:
    """A handler's result (bytes, datetimes, str enums) as the JSON 1.1 response body."""
    return json.dumps(result, default=_default, separators=(",", ":")).encode("utf-8")


def encode_error(error: ServiceError) -> bytes:
    """``{"__type": <AWS exception name>, "message": ...}``; status is ``error.http_status``."""
    return json.dumps({"__type": error.code, "message": error.message}).encode("utf-8")
