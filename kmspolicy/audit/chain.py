"""The audit record's stored form and the hash chain over it (audit layer).

One record is one JSON object: the decision fields of ``kms.ports.AuditRecord``, plus ``v``
(format version), ``seq`` (0, 1, 2, …), ``prev`` (the previous record's hash; 64 zeros for the
first) and ``hash`` = SHA-256 of the canonical JSON of every other field (the line is that
canonical JSON with ``hash`` appended as the last member). Changing, removing,
inserting or reordering a record breaks a hash or a link that ``verify`` reports.

What is never written: plaintext, key material, policy text — the port's record has none — and
encryption-context VALUES: each ``kms:EncryptionContext:<k>`` entry keeps its key but its value
becomes ``sha256:<hex>`` of the key and value, so an auditor who knows a context can confirm a
request used it, while the log alone does not disclose it. Byte strings are never written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kmspolicy.kms.ports import AuditRecord

FORMAT_VERSION = 1
GENESIS = "0" * 64
EC_PREFIX = "kms:EncryptionContext:"


# One encoder for every record: ``json.dumps`` with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTF-8."""
    return _CANONICAL.encode(fields).encode()


def record_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 over every field but ``hash`` itself."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def context_value_digest(key: str, value: object) -> str:
    data = key.encode() + b"\x00" + str(value).encode()
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
        "context": redact_context(record.context),
    }


def encode_line(fields: Mapping[str, Any]) -> bytes:
    """One line: the canonical JSON of the body with ``hash`` appended as its last member.

    The hash covers exactly the canonical body, so the body is serialized once and reused.
    """
    body = canonical({k: v for k, v in fields.items() if k != "hash"})
    return _line(body, str(fields["hash"]))


def _line(body: bytes, digest: str) -> bytes:
    return body[:-1] + b',"hash":"' + digest.encode() + b'"}\n'


_text = json.encoder.encode_basestring  # a str as the canonical encoder writes it (UTF-8 kept)
# ``_CANONICAL.encode`` builds this C encoder anew on every call; the context is JSON-safe
# data from ``redact_context`` (no cycles), so the circular-reference markers are not needed.
_context_json = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _CANONICAL.default, _text, None, ":", ",", True, False, True
)


def _texts(values: tuple[str, ...]) -> str:
    return "[" + ",".join(map(_text, values)) + "]"


def canonical_body(record: AuditRecord, seq: int, prev: str) -> bytes:
    """``canonical(_body(record, seq, prev))``, assembled member by member in sorted-key order.

    The record's shape is fixed, so only the free-form context goes through the JSON encoder;
    this is the append hot path. A property test keeps it equal to the reference.
    """
    error = record.error_code
    if type(record.allowed) is not bool or not isinstance(seq, int):
        return canonical(_body(record, seq, prev))  # only the typed shape has a fast path
    return (
        f'{{"actions":{_texts(record.actions)},'
        f'"allowed":{"true" if record.allowed else "false"},'
        f'"context":{"".join(_context_json(redact_context(record.context), 0))},'
        f'"decision":{_text(record.decision)},'
        f'"error_code":{"null" if error is None else _text(error)},'
        f'"matched":{_texts(record.matched)},'
        f'"operation":{_text(record.operation)},'
        f'"prev":{_text(prev)},'
        f'"principal":{_text(record.principal)},'
        f'"reason":{_text(record.reason)},'
        f'"request_id":{_text(record.request_id)},'
        f'"resources":{_texts(record.resources)},'
        f'"seq":{int(seq)},'
        f'"time":{_text(record.time.isoformat())},'
        f'"v":{FORMAT_VERSION}}}'
    ).encode()


def sealed_line(record: AuditRecord, seq: int, prev: str) -> tuple[bytes, str]:
    """The line for ``record`` at ``seq`` after ``prev``, and its hash (the append hot path)."""
    body = canonical_body(record, seq, prev)
    digest = hashlib.sha256(body).hexdigest()
    return _line(body, digest), digest
