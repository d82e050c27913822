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
class Checkpoint:
    """Where the check of an intact chain ended, to resume there once records are appended:
    the bytes and lines of whole lines checked, the records among them, the last one's hash
    and the next sequence number, and the last line's length and SHA-256 (a resumed check
    first sees that the file still ends its checked prefix with that line)."""

    offset: int
    lines: int
    records: int
    head: str
    next_seq: int
    last_line_length: int
    last_line_sha256: str
    authenticated: bool


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
    #: where an intact chain's check ended (None when a problem was found)
    checkpoint: Checkpoint | None = None
    #: the records checked by an earlier call this one resumed after (0: checked from the start)
    resumed_after: int = 0

    @property
    def anchor(self) -> Anchor:
        return Anchor(self.records, self.head)


def verify(
    path: str | os.PathLike[str],
    *,
    anchor: Anchor | None = None,
    key: bytes | None = None,
    resume: Checkpoint | None = None,
) -> VerifyResult:
    """Check the whole chain in ``path`` (streamed); ``anchor`` also detects a cut-off tail;
    ``key`` (the audit key) also checks every record's ``mac``, which detects a forged record
    even appended at the end with a valid hash. ``resume``: the checkpoint of an earlier
    check of this file, whose prefix the caller has seen unchanged (``prefix_unchanged``):
    only the lines after it are checked, continuing its chain."""
    if resume is not None and (anchor is not None or resume.authenticated != (key is not None)):
        raise ValueError("resume a check with the same key and without an anchor")
    problems: list[Problem] = []
    notes: list[Problem] = []
    prev, expected_seq, count, number = GENESIS, 0, 0, 0
    offset, done, last = 0, 0, b""
    if resume is not None:
        prev, expected_seq, count = resume.head, resume.next_seq, resume.records
        offset, done = resume.offset, resume.lines
    anchored_seq = anchor.records - 1 if anchor is not None else -1
    anchored_hash: str | None = None
    with Path(path).open("rb") as lines:
        lines.seek(offset)
        for number, raw, following in _with_next(lines, done):
            if not raw.endswith(b"\n"):
                problems.append(
                    Problem(number, "torn", "the last line is incomplete (interrupted write)")
                )
                break
            offset, done, last = offset + len(raw), number, raw
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
    checkpoint = None
    if not problems:
        if not last and resume is not None:  # nothing appended: the same checkpoint
            checkpoint = resume
        elif last:
            digest = hashlib.sha256(last).hexdigest()
            authenticated = key is not None
            checkpoint = Checkpoint(
                offset, done, count, prev, expected_seq, len(last), digest, authenticated
            )
    return VerifyResult(
        not problems,
        count,
        prev,
        tuple(problems),
        tuple(notes),
        authenticated=key is not None,
        checkpoint=checkpoint,
        resumed_after=resume.records if resume is not None else 0,
    )


def prefix_unchanged(path: str | os.PathLike[str], checkpoint: Checkpoint) -> bool:
    """Whether ``path`` still holds at least the checkpoint's prefix, ending with the same
    last line (a cheap look: a change further back is found only by a check from the start)."""
    try:
        with Path(path).open("rb") as lines:
            lines.seek(checkpoint.offset - checkpoint.last_line_length)
            tail = lines.read(checkpoint.last_line_length)
    except OSError:
        return False
    return hmac.compare_digest(hashlib.sha256(tail).hexdigest(), checkpoint.last_line_sha256)


def _with_next(lines: Iterable[bytes], start: int = 0) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(line number, line, the line after it or None) for every line, numbered after
    ``start``."""
    number, previous = start, None
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
