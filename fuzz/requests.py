"""Hostile KMS request bodies generated from botocore's KMS model.

Every operation's input shape is walked and each member filled with a value chosen from a set
of troublemakers for its type (lone surrogates, NUL, non-finite and out-of-range numbers, wrong
JSON types, huge and empty containers, case twins, real key ids so that requests get past
resolution and authorization) or left out, required or not. Shared by the HTTP robustness
tests (``tests/server/test_robustness_model.py``) and the HTTP campaign (``python -m fuzz http``).
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kmspolicy.kms import wire

__all__ = ["Known", "body_for", "missing_member_bodies", "string_members", "to_json"]

# Strings every member is tried with. A lone surrogate reaches the server as a JSON escape.
HOSTILE_TEXT: tuple[str, ...] = (
    "",
    "\x00",
    "a\x00b",
    "\udfff",
    "\ud800x",
    "x\udbff\udfff",  # a valid pair: U+10FFFF
    "\U0001f600" * 3,
    "\u202e\u0301\ufeff",
    "%00%ff",
    "../../etc/passwd",
    "alias/aws/s3",
    "arn:aws:kms:us-east-1:999999999999:key/00000000-0000-0000-0000-000000000000",
    "arn:aws:kms:us-east-1:111111111111:alias/\x00",
    "*",
    "k" * 70_000,
    "\x7f\x1b[31m",
    "TEAM",
)
HOSTILE_NUMBERS: tuple[object, ...] = (
    -1,
    0,
    1,
    2**31,
    2**63,
    10**30,
    1.5,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    1e20,
    "1",
    True,
    None,
)
WRONG_TYPES: tuple[object, ...] = ({}, [], "x", 1, True, None, [None], {"a": None})


@dataclass
class Known:
    """Real names from the server under test, so that requests reach the handlers."""

    key_ids: Sequence[str] = ()
    aliases: Sequence[str] = ()
    grant_ids: Sequence[str] = ()
    ciphertexts: Sequence[bytes] = ()
    extra: dict[str, Sequence[str]] = field(default_factory=dict)


class _Marker:
    """A JSON value written verbatim (``NaN``, ``1e309``, an unterminated string...)."""

    def __init__(self, text: str) -> None:
        self.text = text


def to_json(value: object) -> bytes:
    """JSON as a client would send it: ASCII, lone surrogates escaped, non-finite as NaN."""
    placeholders: dict[str, str] = {}

    def swap(v: object) -> object:
        if isinstance(v, _Marker):
            token = f"__raw{len(placeholders)}__"
            placeholders[f'"{token}"'] = v.text
            return token
        if isinstance(v, bytes):
            return base64.b64encode(v).decode()
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value))
    for token, raw in placeholders.items():
        text = text.replace(token, raw)
    return text.encode()


def _members(operation: str) -> Any:
    shape = wire.service_model().operation_model(operation).input_shape
    return shape


def string_members(operation: str) -> list[tuple[str, ...]]:
    """Paths (member names) of every string member reachable in ``operation``'s input."""
    out: list[tuple[str, ...]] = []

    def walk(shape: Any, path: tuple[str, ...], depth: int) -> None:
        if depth > 4:
            return
        kind = shape.type_name
        if kind == "string":
            out.append(path)
        elif kind == "structure":
            for name, member in shape.members.items():
                walk(member, (*path, name), depth + 1)
        elif kind == "list":
            walk(shape.member, (*path, "[]"), depth + 1)
        elif kind == "map":
            walk(shape.key, (*path, "{key}"), depth + 1)
            walk(shape.value, (*path, "{value}"), depth + 1)

    shape = _members(operation)
    if shape is not None:
        walk(shape, (), 0)
    return out


class _Gen:
    def __init__(self, rng: random.Random, known: Known, hostility: float) -> None:
        self.rng = rng
        self.known = known
        self.hostility = hostility  # chance of a troublemaker instead of a plausible value

    def hostile(self) -> bool:
        return self.rng.random() < self.hostility

    def value(self, shape: Any, name: str, depth: int = 0) -> object:
        rng = self.rng
        if depth > 5:
            return None
        if self.rng.random() < self.hostility / 6:
            return rng.choice(WRONG_TYPES)
        kind = shape.type_name
        if kind == "string":
            return self.string(shape, name)
        if kind == "blob":
            return self.blob(name)
        if kind in ("integer", "long"):
            if self.hostile():
                return self._number()
            low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 1000)
            return rng.randint(low, min(high, low + 1000))
        if kind == "boolean":
            return rng.choice([True, False]) if not self.hostile() else rng.choice(WRONG_TYPES)
        if kind == "timestamp":
            if self.hostile():
                return self._number()
            return rng.choice([1_900_000_000, 1_700_000_000.5, 0])
        if kind == "list":
            n = rng.choice([0, 1, 51, 1001]) if self.hostile() else rng.randint(0, 3)
            return [self.value(shape.member, name, depth + 1) for _ in range(n)]
        if kind == "map":
            n = rng.choice([0, 1, 2, 65]) if self.hostile() else rng.randint(0, 3)
            out: dict[str, object] = {}
            for _ in range(n):
                k = self.string(shape.key, "key")
                out[k if isinstance(k, str) else str(k)] = self.value(shape.value, name, depth + 1)
            if self.hostile() and out:  # case twins: `team` and `TEAM`
                k = next(iter(out))
                out[k.swapcase()] = out[k]
            return out
        if kind == "structure":
            return self.structure(shape, depth + 1)
        return None

    def _number(self) -> object:
        n = self.rng.choice(HOSTILE_NUMBERS)
        if isinstance(n, float) and not math.isfinite(n):
            return _Marker({math.inf: "1e309", -math.inf: "-1e309"}.get(n, "NaN"))
        return n

    def string(self, shape: Any, name: str) -> object:
        rng = self.rng
        if shape.enum and not self.hostile():
            return rng.choice(shape.enum)
        if self.hostile():
            return rng.choice(HOSTILE_TEXT)
        k = self.known
        if name in ("KeyId", "TargetKeyId", "DestinationKeyId", "SourceKeyId") and k.key_ids:
            return rng.choice([*k.key_ids, *k.aliases])
        if name == "AliasName":
            return rng.choice([*k.aliases, "alias/fuzz-new", "alias/aws/ebs"])
        if name == "GrantId" and k.grant_ids:
            return rng.choice(k.grant_ids)
        if name in ("GranteePrincipal", "RetiringPrincipal"):
            return "arn:aws:iam::111111111111:user/alice"
        if name in k.extra:
            return rng.choice(k.extra[name])
        if name == "Policy":
            return json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "*"},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                }
            )
        return rng.choice(["fuzz", "Fuzz-1", "team", "a/b:c", "é"])

    def blob(self, name: str) -> object:
        rng = self.rng
        if self.hostile():
            return rng.choice(
                [
                    _Marker('"not base64!"'),
                    _Marker('"YQ"'),
                    _Marker('"===="'),
                    b"",
                    rng.randbytes(rng.choice([1, 17, 4097, 70_000])),
                ]
            )
        if "Ciphertext" in name and self.known.ciphertexts:
            blob = bytearray(rng.choice(self.known.ciphertexts))
            if rng.random() < 0.3 and blob:
                blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
            return bytes(blob)
        return rng.randbytes(rng.randint(1, 64))

    def structure(self, shape: Any, depth: int = 0) -> dict[str, object]:
        required = set(shape.required_members)
        out: dict[str, object] = {}
        for name, member in shape.members.items():
            keep = 0.9 if name in required else 0.35
            if self.hostile():
                keep = 0.5
            if self.rng.random() < keep:
                out[name] = self.value(member, name, depth)
        return out


def body_for(operation: str, rng: random.Random, known: Known, hostility: float = 0.3) -> bytes:
    """One request body for ``operation``: mostly plausible, ``hostility`` of it hostile."""
    shape = _members(operation)
    if shape is None:
        return b"{}"
    return to_json(_Gen(rng, known, hostility).structure(shape))


def missing_member_bodies(operation: str, base: dict[str, object]) -> Iterator[tuple[str, bytes]]:
    """``base`` (a valid request) without each of its members in turn."""
    for name in base:
        yield name, to_json({k: v for k, v in base.items() if k != name})
