"""The audit record's stored form and the hash chain over it (audit layer).

One record is one JSON object: the fields of ``kms.ports.AuditRecord``, plus ``v`` (format
version), ``seq`` (0, 1, 2, …), ``prev`` (the previous record's hash; 64 zeros for the first)
and ``hash`` = SHA-256 of the canonical JSON of every other field; in a keyed log, ``mac`` =
keyed BLAKE2b-256 of ``hash`` under the log's audit key. The line is that canonical JSON with
``hash`` (then ``mac``) appended as the last members, and nothing else is a valid line:
``verify`` re-serializes every record and rejects a line that differs. Changing, removing,
inserting or reordering a record breaks a hash or a link; appending a forged record breaks its
``mac`` for whoever holds the audit key.

Serialization is total: every string a caller can send is written, a lone UTF-16 surrogate
(which UTF-8 cannot encode) as the six characters ``\\uXXXX`` — so writing a record never fails
because of what a request contained.

What is never written: plaintext, key material, policy text — the port's record has none — and
encryption-context VALUES: each ``kms:EncryptionContext:<k>`` entry keeps its key but its value
becomes ``sha256:<hex>`` of the key and value, so an auditor who knows a context can confirm a
request used it, while the log alone does not disclose it. Byte strings are never written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kmspolicy.kms.ports import AuditRecord

try:  # the server extra; `kmspolicy audit verify` runs without it (the reference encoder)
    import orjson
except ImportError:  # pragma: no cover - exercised only where the extra is not installed
    orjson = None  # type: ignore[assignment]

FORMAT_VERSION = 2  # v2: the ``event`` member, the optional ``mac``; v1 lines still verify
FORMAT_VERSIONS = frozenset({1, 2})
GENESIS = "0" * 64
EC_PREFIX = "kms:EncryptionContext:"


# One encoder for every record: ``json.dumps`` with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTF-8 (lone surrogates as the
    text ``\\uXXXX``, see ``scrub``)."""
    text = _CANONICAL.encode(fields)
    try:
        return text.encode()
    except UnicodeEncodeError:  # rare: a lone surrogate somewhere; never on the usual path
        return _CANONICAL.encode(scrub(fields)).encode()


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys included) replaced by the text
    ``\\uXXXX``. JSON has no faithful form for them: an escaped high+low pair reads back as one
    character, so escaping would not survive ``verify``'s re-serialization."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, Mapping):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def record_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 over every field but the seals (``hash`` itself, ``mac``)."""
    body = {k: v for k, v in fields.items() if k not in _SEALS}
    return hashlib.sha256(canonical(body)).hexdigest()


def context_value_digest(key: str, value: object) -> str:
    # surrogatepass: a lone surrogate hashes as its (CESU) code units instead of failing
    data = key.encode("utf-8", "surrogatepass") + b"\x00"
    data += str(value).encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def redact_context(context: Mapping[str, object]) -> dict[str, Any]:
    """The request context as written: EC values hashed, bytes dropped, the rest JSON-safe."""
    out: dict[str, Any] = {}
    for key in sorted(context):
        value = context[key]
        if key.startswith(EC_PREFIX):
            out[key] = context_value_digest(key, value)
        elif value.__class__ in _PLAIN:  # the usual case, without the general walk
            out[key] = value
        elif isinstance(value, _BYTES):
            continue  # INVARIANT: no byte string (a plaintext, a blob, a key) reaches the log
        else:
            out[key] = _json_safe(value)
    return out


_PLAIN = frozenset({str, int, bool, type(None)})  # exact classes JSON writes as they are
_BYTES = (bytes, bytearray, memoryview)


def _json_safe(value: object) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value if not isinstance(v, bytes | bytearray)]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def record_fields(record: AuditRecord, seq: int, prev: str) -> dict[str, Any]:
    """The stored form of ``record`` at position ``seq`` after ``prev``, with its hash."""
    fields = _body(record, seq, prev)
    fields["hash"] = record_hash(fields)
    return fields


def _body(record: AuditRecord, seq: int, prev: str) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "seq": seq,
        "prev": prev,
        "time": record.time.isoformat(),
        "request_id": record.request_id,
        "operation": record.operation,
        "principal": record.principal,
        "actions": list(record.actions),
        "resources": list(record.resources),
        "allowed": record.allowed,
        "decision": record.decision,
        "reason": record.reason,
        "matched": list(record.matched),
        "error_code": record.error_code,
        "event": record.event,
        "context": redact_context(record.context),
    }


def encode_line(fields: Mapping[str, Any]) -> bytes:
    """One line: the canonical JSON of the body with ``hash`` (then ``mac``, when present)
    appended as its last members. ``verify`` holds every line to exactly this.
    """
    body = canonical({k: v for k, v in fields.items() if k not in _SEALS})
    mac = fields.get("mac")
    return _line(body, str(fields["hash"]), None if mac is None else str(mac))


_SEALS = ("hash", "mac")  # the members not covered by the hash


def _line(body: bytes, digest: str, mac: str | None = None) -> bytes:
    head = body[:-1] + b',"hash":' + _text(digest).encode("utf-8", "backslashreplace")
    if mac is None:
        return head + b"}\n"
    return head + b',"mac":' + _text(mac).encode("utf-8", "backslashreplace") + b"}\n"


def record_mac(key: bytes, digest: str) -> str:
    """The keyed seal of a record: BLAKE2b-256 in its keyed (MAC) mode over the record's hash,
    which covers ``prev``, so each ``mac`` vouches for the whole chain up to its record. (One
    C call, as cheap as the SHA-256 itself; HMAC-SHA256 cost three times that per request.)"""
    return hashlib.blake2b(digest.encode(), key=key, digest_size=32).hexdigest()


_text = json.encoder.encode_basestring  # a str as the canonical encoder writes it (UTF-8 kept)


def canonical_body(record: AuditRecord, seq: int, prev: str) -> bytes:
    """``canonical(_body(record, seq, prev))``, written by orjson on the append hot path.

    orjson writes what the stdlib's canonical encoder writes for text (UTF-8 kept, the same
    escapes: ``\\"``, ``\\\\``, ``\\n``… and ``\\u00XX`` for other control characters),
    64-bit integers, booleans and null, and sorts keys by code point as ``sort_keys`` does
    (UTF-8 byte order is code point order). It writes floats differently (``1e16``, not
    ``1e+16``; NaN as ``null``) and refuses lone surrogates and larger integers: a record
    whose context holds anything but text, integers, booleans, null and lists of those, or
    that orjson refuses, takes the reference encoder. A property test keeps both equal.
    """
    (
        time,
        request_id,
        operation,
        principal,
        actions,
        resources,
        allowed,
        decision,
        reason,
        matched,
        error_code,
        context,
        event,
    ) = record  # one unpack, not thirteen attribute reads
    if orjson is None or allowed.__class__ is not bool or seq.__class__ is not int:
        return canonical(_body(record, seq, prev))
    # the usual request context, checked in C: only plain values and no encryption context
    # key, so it is written as it is. (The prefix found anywhere in the joined keys is a
    # superset of a key starting with it: a false alarm only takes the general check.)
    plain: Mapping[str, object] | None = context
    if not _PLAIN.issuperset(map(type, context.values())) or EC_PREFIX in "".join(context):
        plain = _plain_context(context)
    if plain is not None:
        try:
            # members inserted in their sorted order: ``OPT_SORT_KEYS`` still sorts (the
            # nested context too), and an already sorted object is its cheapest case
            return orjson.dumps(
                {
                    "actions": actions,
                    "allowed": allowed,
                    "context": plain,
                    "decision": decision,
                    "error_code": error_code,
                    "event": event,
                    "matched": matched,
                    "operation": operation,
                    "prev": prev,
                    "principal": principal,
                    "reason": reason,
                    "request_id": request_id,
                    "resources": resources,
                    "seq": seq,
                    # orjson's RFC 3339 is isoformat() in UTC (not for sub-minute offsets)
                    "time": time if time.tzinfo is UTC else time.isoformat(),
                    "v": FORMAT_VERSION,
                },
                option=orjson.OPT_SORT_KEYS,
            )
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer past 64 bits
            pass
    return canonical(_body(record, seq, prev))


def _plain_context(context: Mapping[str, object]) -> Mapping[str, object] | None:
    """``redact_context(context)`` when every value it keeps is text, an integer, a boolean,
    null or a list of those (what orjson writes exactly as the reference does); else None."""
    out: dict[str, object] = {}
    for key, value in context.items():
        cls = value.__class__
        if key.startswith(EC_PREFIX):
            out[key] = context_value_digest(key, value)
        elif cls in _PLAIN:
            out[key] = value
        elif cls is list or cls is tuple:
            for item in value:  # type: ignore[attr-defined]
                if item.__class__ not in _PLAIN:
                    return None
            out[key] = value
        elif not isinstance(value, _BYTES):
            return None  # floats, datetimes, sets, mappings…: the reference's general walk
    return out


def sealed_line(
    record: AuditRecord, seq: int, prev: str, mac_key: bytes | None = None
) -> tuple[bytes, str]:
    """The line for ``record`` at ``seq`` after ``prev``, and its hash."""
    return LineSealer(mac_key).seal(record, seq, prev)


class LineSealer:
    """``sealed_line`` under one audit key, for a log's every append (the append hot path):
    the keyed BLAKE2b state is made once and copied per record, which skips hashing the key
    block again (``record_mac``'s value, a quarter of its cost)."""

    __slots__ = ("_mac",)

    def __init__(self, mac_key: bytes | None) -> None:
        self._mac = None if mac_key is None else hashlib.blake2b(key=mac_key, digest_size=32)

    def seal(self, record: AuditRecord, seq: int, prev: str) -> tuple[bytes, str]:
        body = canonical_body(record, seq, prev)
        digest = hashlib.sha256(body).hexdigest()
        # ``_line`` for hex digests, which need no escaping
        hexed = digest.encode()
        if self._mac is None:
            return b"".join((body[:-1], b',"hash":"', hexed, b'"}\n')), digest
        mac = self._mac.copy()
        mac.update(hexed)
        sealed = (body[:-1], b',"hash":"', hexed, b'","mac":"', mac.hexdigest().encode(), b'"}\n')
        return b"".join(sealed), digest
