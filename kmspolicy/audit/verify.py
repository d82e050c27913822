"""The audit log verifier: recompute every hash and link, report what was changed (audit layer).

A modified record fails its own hash; a removed, inserted or reordered record breaks the link
(``prev``) or the sequence (``seq``) at that point. Cutting records off the END leaves a valid
shorter chain: only an anchor kept elsewhere (``head`` at some moment: count and last hash)
detects that, so ``verify`` accepts one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kmspolicy.audit.chain import FORMAT_VERSIONS, GENESIS, encode_line, record_hash, record_mac
from kmspolicy.kms.ports import EVENT_TORN_TAIL


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain position kept elsewhere: ``records`` records, the last one hashing to ``head``."""

    records: int
    head: str


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 1-based line number in the file
    #: malformed | non-canonical | modified | unauthenticated | forged | broken-link |
    #: out-of-sequence | torn | truncated; notes: recovered-torn-tail
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records: int  # well-formed records read
    head: str  # hash of the last record (GENESIS for an empty log)
    problems: tuple[Problem, ...]
    #: what is not a problem but worth saying: lines torn by a crash and sealed off by the writer
    notes: tuple[Problem, ...] = ()
    authenticated: bool = False  # every record's mac was checked against the audit key

    @property
    def anchor(self) -> Anchor:
        return Anchor(self.records, self.head)


def verify(
    path: str | os.PathLike[str], *, anchor: Anchor | None = None, key: bytes | None = None
) -> VerifyResult:
    """Check the whole chain in ``path`` (streamed); ``anchor`` also detects a cut-off tail;
    ``key`` (the audit key) also checks every record's ``mac``, which detects a forged record
    even appended at the end with a valid hash."""
    problems: list[Problem] = []
    notes: list[Problem] = []
    prev, expected_seq, count, number = GENESIS, 0, 0, 0
    anchored_seq = anchor.records - 1 if anchor is not None else -1
    anchored_hash: str | None = None
    with Path(path).open("rb") as lines:
        for number, raw, following in _with_next(lines):
            if not raw.endswith(b"\n"):
                problems.append(
                    Problem(number, "torn", "the last line is incomplete (interrupted write)")
                )
                break
            if _sealed_off(raw, following):
                notes.append(
                    Problem(
                        number,
                        "recovered-torn-tail",
                        "a line torn by a crash, sealed off by the next record",
                    )
                )
                continue
            if not raw.strip():
                problems.append(Problem(number, "malformed", "empty line"))
                continue
            try:
                fields = json.loads(raw)
                seq, link, stored = int(fields["seq"]), str(fields["prev"]), str(fields["hash"])
                if fields.get("v") not in FORMAT_VERSIONS:
                    raise ValueError("unknown format version")
                line = encode_line(fields)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                problems.append(Problem(number, "malformed", f"not an audit record: {exc}"))
                continue
            count += 1
            if line != raw:
                # e.g. a duplicate member (JSON keeps the last one), spaces, escapes, reordering:
                # the writer only ever writes the canonical form
                problems.append(
                    Problem(number, "non-canonical", f"record {seq} is not as the writer writes it")
                )
            if record_hash(fields) != stored:
                problems.append(
                    Problem(number, "modified", f"record {seq} does not match its hash")
                )
            if key is not None:
                mac = fields.get("mac")
                if not isinstance(mac, str):
                    problems.append(Problem(number, "unauthenticated", f"record {seq} has no mac"))
                elif not hmac.compare_digest(mac, record_mac(key, stored)):
                    problems.append(
                        Problem(
                            number,
                            "forged",
                            f"record {seq} was not sealed with the audit key",
                        )
                    )
            if seq != expected_seq:
                what = "missing" if seq > expected_seq else "repeated or reordered"
                problems.append(
                    Problem(
                        number,
                        "out-of-sequence",
                        f"expected record {expected_seq}, found {seq} (records {what})",
                    )
                )
            if link != prev:
                problems.append(
                    Problem(
                        number, "broken-link", f"record {seq} does not follow the record before it"
                    )
                )
            # Continue from this record as written, so one change is reported where it happened.
            prev, expected_seq = stored, seq + 1
            if seq == anchored_seq:
                anchored_hash = stored
    if anchor is not None and anchor.records > 0:
        if anchored_hash is None:
            problems.append(
                Problem(
                    number + 1,
                    "truncated",
                    f"the anchor names {anchor.records} records; the log has {count}",
                )
            )
        elif anchored_hash != anchor.head:
            problems.append(
                Problem(
                    number + 1,
                    "modified",
                    f"record {anchored_seq} differs from the anchored one",
                )
            )
    return VerifyResult(
        not problems, count, prev, tuple(problems), tuple(notes), authenticated=key is not None
    )


def _with_next(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(line number, line, the line after it or None) for every line."""
    number, previous = 0, None
    for raw in lines:
        if previous is not None:
            yield number, previous, raw
        number, previous = number + 1, raw
    if previous is not None:
        yield number, previous, None


def _sealed_off(raw: bytes, following: bytes | None) -> bool:
    """Is ``raw`` a torn line that the writer ended and described in the record after it?

    Only the writer's ``TornTailRecovered`` record, itself in the chain (and sealed with the
    audit key when there is one), can excuse a line: it names the torn bytes' length and hash.
    """
    if following is None or f'"{EVENT_TORN_TAIL}"'.encode() not in following:
        return False
    try:
        fields = json.loads(following)
        context = fields["context"]
        torn = raw[:-1]
        return bool(
            fields["event"] == EVENT_TORN_TAIL
            and context["tornBytes"] == len(torn)
            and context["tornSha256"] == hashlib.sha256(torn).hexdigest()
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return False
