"""The file audit log and its verifier: chain, redaction, tamper detection, concurrent writers."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import stat
import threading
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.audit import GENESIS, Anchor, FileAuditLog, open_audit_log, verify
from kmspolicy.audit.chain import context_value_digest
from kmspolicy.kms.ports import AuditLog, AuditRecord
from tests.audit.records import T0, rec


def write(path: Path, n: int) -> list[bytes]:
    log = open_audit_log(path)
    for i in range(n):
        log.append(rec(i))
    log.close()
    return path.read_bytes().splitlines(keepends=True)


def kinds(path: Path, **kw: object) -> set[str]:
    return {p.kind for p in verify(path, **kw).problems}  # type: ignore[arg-type]


def test_file_log_implements_the_port(tmp_path: Path) -> None:
    log: AuditLog = FileAuditLog(tmp_path / "audit.log")
    log.append(rec(0))


def test_records_are_chained_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 5)
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    result = verify(path)
    assert result.ok and result.records == 5 and result.head == records[-1]["hash"]
    assert records[2]["matched"] == ["KeyPolicy:Enable IAM User Permissions"]
    assert records[2]["principal"].endswith("user/alice") and records[2]["request_id"] == "req-2"


def test_log_file_is_private(tmp_path: Path) -> None:
    write(tmp_path / "audit.log", 1)
    assert stat.S_IMODE((tmp_path / "audit.log").stat().st_mode) == 0o600


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write(path, 3)
    write(path, 2)
    result = verify(path)
    assert result.ok and result.records == 5


def test_empty_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.touch()
    assert verify(path).ok and verify(path).head == GENESIS


def test_modified_record_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 4)
    path.write_bytes(b"".join(lines).replace(b'"allowed":true', b'"allowed":false', 1))
    problems = verify(path).problems
    assert [(p.line, p.kind) for p in problems] == [(1, "modified")]


def test_modified_record_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    from kmspolicy.audit.chain import encode_line, record_hash

    path = tmp_path / "audit.log"
    lines = write(path, 4)
    forged = json.loads(lines[1])
    forged["principal"] = "arn:aws:iam::111122223333:user/mallory"
    forged["hash"] = record_hash(forged)
    lines[1] = encode_line(forged)
    path.write_bytes(b"".join(lines))
    problems = verify(path).problems
    assert [(p.line, p.kind) for p in problems] == [(3, "broken-link")]


def test_removed_record_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 4)
    path.write_bytes(b"".join(lines[:1] + lines[2:]))
    assert kinds(path) == {"out-of-sequence", "broken-link"}


def test_reordered_records_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 4)
    path.write_bytes(b"".join([lines[0], lines[2], lines[1], lines[3]]))
    result = verify(path)
    assert not result.ok
    assert {p.kind for p in result.problems} == {"out-of-sequence", "broken-link"}


def test_cut_tail_is_detected_only_with_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 4)
    anchor = verify(path).anchor
    assert anchor == Anchor(4, json.loads(lines[-1])["hash"])
    path.write_bytes(b"".join(lines[:3]))
    assert verify(path).ok  # a shorter chain is still a chain
    assert kinds(path, anchor=anchor) == {"truncated"}


def test_anchor_detects_a_rewritten_history(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    write(path, 3)
    anchor = verify(path).anchor
    path.unlink()
    log = open_audit_log(path)
    for i in range(4):
        log.append(rec(i, principal="arn:aws:iam::111122223333:user/mallory"))
    log.close()
    assert verify(path).ok
    assert kinds(path, anchor=anchor) == {"modified"}


def test_torn_last_line_is_reported_then_recovered_not_tampering(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 3)
    path.write_bytes(b"".join(lines) + lines[0][:20])  # a crash in the middle of a write
    assert kinds(path) == {"torn"}
    write(path, 1)
    result = verify(path)
    assert result.ok, result.problems  # not tampering forever after
    assert [(n.line, n.kind) for n in result.notes] == [(4, "recovered-torn-tail")]
    recovery = json.loads(path.read_bytes().splitlines()[4])
    assert recovery["event"] == "TornTailRecovered" and recovery["context"]["tornBytes"] == 20
    assert result.records == 5  # 3, the recovery record, the new one: one chain


def test_a_line_torn_just_before_its_newline_is_recovered_too(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 2)
    path.write_bytes(lines[0] + lines[1][:-1])  # the whole record but its newline
    write(path, 1)
    result = verify(path)
    assert result.ok and [n.kind for n in result.notes] == ["recovered-torn-tail"]


def test_a_garbage_line_is_not_excused_by_a_recovery_record_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 1)
    path.write_bytes(lines[0] + lines[0][:20])
    write(path, 1)  # recovery record for that fragment, then a record
    raw = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(raw[0] + b"garbage\n" + b"".join(raw[1:]))  # an inserted line before it
    assert "malformed" in kinds(path)


def test_foreign_line_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = write(path, 2)
    path.write_bytes(lines[0] + b'{"hello": "world"}\n' + lines[1])
    assert "malformed" in kinds(path)


# --- what is (not) written


def test_encryption_context_values_are_hashed_and_bytes_dropped(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_audit_log(path)
    log.append(
        rec(
            0,
            context={
                "kms:EncryptionContext:patient": "jane-doe-1975",
                "kms:EncryptionContextKeys": ["patient"],
                "aws:SourceIp": "10.0.0.1",
                "kms:Plaintext": b"top secret plaintext",
                "aws:CurrentTime": T0,
            },
        )
    )
    log.close()
    raw = path.read_bytes()
    assert b"jane-doe-1975" not in raw and b"top secret plaintext" not in raw
    stored = json.loads(raw)["context"]
    assert stored["kms:EncryptionContext:patient"] == context_value_digest(
        "kms:EncryptionContext:patient", "jane-doe-1975"
    )
    assert stored["kms:EncryptionContextKeys"] == ["patient"]
    assert stored["aws:SourceIp"] == "10.0.0.1"
    assert "kms:Plaintext" not in stored
    assert stored["aws:CurrentTime"] == T0.isoformat()


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=40), max_size=5),
    st.text(min_size=0, max_size=40),
)
def test_property_any_record_round_trips_through_the_verifier(
    tmp_path_factory: pytest.TempPathFactory, context: dict[str, str], principal: str
) -> None:
    path = tmp_path_factory.mktemp("prop") / "audit.log"
    log = open_audit_log(path)
    log.append(
        rec(
            0,
            principal=principal,
            context={f"kms:EncryptionContext:{k}": v for k, v in context.items()},
        )
    )
    log.append(rec(1, reason="denied: no statement allows kms:Encrypt", allowed=False))
    log.close()
    assert verify(path).ok
    # the context values as written (the rest of the line holds the keys and fixed words such
    # as the event name, which hypothesis may draw from the code's own string constants)
    written = json.dumps(list(json.loads(path.read_bytes().splitlines()[0])["context"].values()))
    for value in context.values():
        # shorter strings can occur by chance inside hex digests and the keys
        if len(value) >= 8 and value.strip("0"):
            assert json.dumps(value)[1:-1] not in written


# --- several writers


def test_threads_extend_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_audit_log(path)

    def work(t: int) -> None:
        for i in range(50):
            log.append(rec(t * 1000 + i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    result = verify(path)
    assert result.ok and result.records == 200


def _child(path: str, offset: int, start: object) -> None:
    log = open_audit_log(path)
    start.wait()  # type: ignore[attr-defined]  # all writers begin together
    for i in range(150):
        log.append(rec(offset + i))
    log.close()


def test_processes_extend_one_chain(tmp_path: Path) -> None:
    """Two server processes on one data directory: flock + tail re-read keep one chain."""
    path = tmp_path / "audit.log"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    procs = [ctx.Process(target=_child, args=(str(path), n * 1000, start)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    result = verify(path)
    assert result.ok, result.problems[:3]
    assert result.records == 450


def test_hot_path_line_equals_the_reference_encoding() -> None:
    from kmspolicy.audit.chain import encode_line, record_fields, sealed_line

    record = rec(3, context={"kms:EncryptionContext:a": "b", "aws:SourceIp": "10.0.0.1"})
    line, digest = sealed_line(record, 7, "ab" * 32)
    fields = record_fields(record, 7, "ab" * 32)
    assert line == encode_line(fields) and digest == fields["hash"]
    assert line.endswith(f',"hash":"{digest}"}}\n'.encode())


_TEXT = st.text(max_size=12)  # any Unicode: quotes, backslashes, control characters, emoji
# text with lone surrogates often (which orjson refuses and the reference scrubs)
_ODD_TEXT = st.text(alphabet=st.characters(categories=["Cs"]) | st.characters(), max_size=6)
# everything a context may hold: what orjson writes like the stdlib (text, integers of any
# size, booleans, null, lists and tuples of those) and what it does not (floats, nested
# mappings, sets, datetimes, byte strings, which the redaction drops)
_SCALAR = _TEXT | _ODD_TEXT | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
_SCALAR |= st.booleans() | st.none()
_CONTEXT_VALUE = (
    _SCALAR
    | st.floats()
    | st.lists(_SCALAR, max_size=3)
    | st.lists(_SCALAR, max_size=3).map(tuple)
    | st.lists(_SCALAR | st.floats() | st.binary(max_size=3), max_size=3)
    | st.dictionaries(_TEXT, _SCALAR, max_size=2)
    | st.frozensets(_TEXT, max_size=3)
    | st.datetimes(timezones=st.just(UTC))
    | st.binary(max_size=4)
)


@settings(max_examples=200, deadline=None)
@given(
    actions=st.lists(_TEXT, max_size=2),
    allowed=st.booleans(),
    decision=st.sampled_from(["allowed", "explicitDeny", "implicitDeny", ""]),
    reason=_TEXT,
    matched=st.lists(_TEXT, max_size=3),
    error_code=st.none() | _TEXT,
    context=st.dictionaries(
        st.sampled_from(["kms:EncryptionContext:", "aws:", "kms:"]).flatmap(
            lambda p: (_TEXT | _ODD_TEXT).map(lambda t: p + t)
        ),
        _CONTEXT_VALUE,
        max_size=4,
    ),
    seq=st.integers(min_value=0, max_value=2**40),
    # the clock's UTC (which orjson writes itself), and offsets it does not write alike
    time=st.datetimes(
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(seconds=37))]
        )
    )
    | st.datetimes(),
)
def test_the_fast_line_is_the_canonical_json_of_the_record(  # type: ignore[no-untyped-def]
    actions, allowed, decision, reason, matched, error_code, context, seq, time
) -> None:
    from kmspolicy.audit.chain import _body, canonical, canonical_body

    record = AuditRecord(
        time=time,
        request_id='r-\u00e9"1',
        operation="Encrypt",
        principal="arn:aws:iam::111122223333:user/al\\ice",
        actions=tuple(actions),
        resources=tuple(reversed(actions)),
        allowed=allowed,
        decision=decision,
        reason=reason,
        matched=tuple(matched),
        error_code=error_code,
        context=context,
    )
    prev = "ab" * 32
    assert canonical_body(record, seq, prev) == canonical(_body(record, seq, prev))


@settings(max_examples=200, deadline=None)
@given(
    odd=st.floats() | st.integers(min_value=2**63 - 2, max_value=2**64 + 1) | _ODD_TEXT,
    plain=st.dictionaries(st.text(max_size=4).map(lambda t: "kms:" + t), _TEXT, max_size=2),
)
def test_one_odd_context_value_among_plain_ones_is_written_canonically(
    odd: object, plain: dict[str, str]
) -> None:
    """What orjson writes differently (NaN and infinities as null) or refuses (lone
    surrogates, integers past 64 bits) in an otherwise plain record, whose other members
    would all take the orjson path."""
    from kmspolicy.audit.chain import _body, canonical, canonical_body

    for where in ("aws:Odd", "aws:Odd/\U0001f600"):
        for value in (odd, [odd], ("a", odd)):
            record = rec(5, context={**plain, where: value})
            assert canonical_body(record, 5, GENESIS) == canonical(_body(record, 5, GENESIS))


def test_a_plain_record_is_written_by_orjson_not_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usual record (text, booleans, lists of text in its context, non-ASCII text) takes
    the orjson path, so the property above compares two encoders, not one with itself."""
    from kmspolicy.audit import chain

    record = rec(
        3,
        principal="arn:aws:iam::111122223333:user/\u00e9l\u00e8ve\U0001f600",
        reason='a "quoted"\\ reason\n\x01',
        context={
            "kms:EncryptionContext:dept": "\u00e9t\u00e9",
            "kms:EncryptionContextKeys": ["dept"],
            "aws:SecureTransport": False,
            "kms:GrantOperations": ("Encrypt", "Decrypt"),
            "kms:Plaintext": b"dropped",
            "kms:Count": 2**63 - 1,
        },
    )
    reference = chain.canonical(chain._body(record, 9, GENESIS))

    def refused(*_: object) -> bytes:
        raise AssertionError("the reference encoder was used")

    monkeypatch.setattr(chain, "canonical", refused)
    assert chain.canonical_body(record, 9, GENESIS) == reference


def test_a_duplicate_member_prepended_to_a_record_is_not_canonical(tmp_path: Path) -> None:
    """The attack: JSON keeps the last of two equal members, so the hash still matched."""
    path = tmp_path / "audit.log"
    lines = write(path, 2)
    forged = b'{"operation":"Decrypt",' + lines[0][1:]
    path.write_bytes(forged + lines[1])
    result = verify(path)
    assert not result.ok
    assert [(p.line, p.kind) for p in result.problems] == [(1, "non-canonical")]


def test_spaces_or_another_escape_are_not_canonical(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    (line,) = write(path, 1)
    for variant in (line.replace(b'":', b'": ', 1), line.replace(b"Encrypt", b"\\u0045ncrypt")):
        path.write_bytes(variant)
        assert kinds(path) == {"non-canonical"}


# surrogates often (lone, or a high+low pair as two code points), and anything else
_ANY_TEXT = st.text(alphabet=st.characters(categories=["Cs"]) | st.characters(), max_size=8)


@settings(max_examples=100, deadline=None)
@given(principal=_ANY_TEXT, tag=_ANY_TEXT, key=_ANY_TEXT)
def test_property_any_string_a_caller_sends_is_written_and_verifies(
    tmp_path_factory: pytest.TempPathFactory, principal: str, tag: str, key: str
) -> None:
    path = tmp_path_factory.mktemp("surrogates") / "audit.log"
    log = open_audit_log(path)
    log.append(
        rec(
            0,
            principal=principal,
            context={f"aws:RequestTag/{key}": tag, f"kms:EncryptionContext:{key}": tag},
        )
    )
    log.append(rec(1))
    log.close()
    result = verify(path)
    assert result.ok and result.records == 2, result.problems
