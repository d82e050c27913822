"""Wildcard matching: the linear-time globs agree with fnmatch and with the reference's own
two-pointer glob; the backtracking attack of issue 12 costs bounded work; variables."""

from __future__ import annotations

import fnmatch
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Caller, KmsPolicies, Request, authorize_kms
from kmspolicy.authz.matching import (
    Glob,
    action_matches,
    compile_arn,
    compile_arn_pieces,
    compile_glob,
    resource_matches,
)
from kmspolicy.authz.reference.glob import Steps, arn_match, glob_match
from kmspolicy.authz.variables import parse_template
from kmspolicy.lang import read_json

TEXT = st.text(alphabet="ab:/*?", max_size=12)
PATTERN = st.text(alphabet="ab:/*?", max_size=10)
# no ``[``: fnmatch reads it as a character class, IAM globs do not
FN_TEXT = st.text(alphabet="aAbB:/.\\é", max_size=14)
FN_PATTERN = st.text(alphabet="aAbB:/.\\é*?", max_size=10)
PIECES = st.lists(st.tuples(st.text(alphabet="ab*?", max_size=4), st.booleans()), max_size=4)


@settings(max_examples=500, deadline=None)
@given(pattern=FN_PATTERN, text=FN_TEXT)
def test_glob_equals_fnmatch(pattern: str, text: str) -> None:
    expected = fnmatch.fnmatchcase(text, pattern)
    assert compile_glob(pattern).matches(text) == expected
    assert glob_match(pattern, text) == expected


@settings(max_examples=300, deadline=None)
@given(pattern=FN_PATTERN, text=FN_TEXT)
def test_folded_glob_equals_fnmatch_of_lowered(pattern: str, text: str) -> None:
    expected = fnmatch.fnmatchcase(text.lower(), pattern.lower())
    assert compile_glob(pattern, ignore_case=True).matches(text) == expected
    assert glob_match(pattern, text, fold=True) == expected


@settings(max_examples=300, deadline=None)
@given(pieces=PIECES, text=st.text(alphabet="ab*?", max_size=10))
def test_literal_pieces_keep_wildcards_plain(pieces: list[tuple[str, bool]], text: str) -> None:
    assert Glob(pieces).matches(text) == glob_match(tuple(pieces), text)


@settings(max_examples=400, deadline=None)
@given(head=st.lists(PATTERN, min_size=5, max_size=5), tail=PATTERN, text=TEXT, arn=st.booleans())
def test_arn_glob_equals_reference_arn_match(
    head: list[str], tail: str, text: str, arn: bool
) -> None:
    pattern = ":".join(["arn", *head[1:], tail]) if arn else tail
    target = "arn:" + text if arn else text
    assert compile_arn(pattern).matches(target) == arn_match(pattern, target)


# --- issue 12 item 2: a few stars and a 60 KB value used to backtrack for seconds ---

ATTACK_PATTERN = "*a*a*a*b"
ATTACK_VALUE = "a" * 60_000


class _CountingText(str):
    """A text that counts the scans the fast matcher makes over it."""

    scans = 0

    def find(self, *args: object) -> int:  # type: ignore[override]
        type(self).scans += 1
        return super().find(*args)  # type: ignore[arg-type]

    def startswith(self, *args: object) -> bool:  # type: ignore[override]
        type(self).scans += 1
        return super().startswith(*args)  # type: ignore[arg-type]


@contextmanager
def _backstop(seconds: int) -> Iterator[None]:
    """Fail instead of hanging the suite if matching ever backtracks again (not a timing
    assertion: the bound is orders of magnitude above the expected milliseconds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise AssertionError(f"matching ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_fast_glob_scans_each_chunk_once() -> None:
    glob = compile_glob(ATTACK_PATTERN)
    _CountingText.scans = 0
    assert not glob.matches(_CountingText(ATTACK_VALUE))
    # head + tail checks, then one leftmost search per middle chunk: no backtracking
    assert 0 < _CountingText.scans <= glob.chunk_count
    _CountingText.scans = 0
    assert glob.matches(_CountingText(ATTACK_VALUE + "b"))
    assert _CountingText.scans <= glob.chunk_count


def test_reference_glob_work_is_bounded_by_text_times_pattern() -> None:
    steps = Steps()
    assert not glob_match(ATTACK_PATTERN, ATTACK_VALUE, steps=steps)
    assert steps.count <= (len(ATTACK_VALUE) + 1) * (len(ATTACK_PATTERN) + 1)
    arn_steps = Steps()
    arn = "arn:aws:s3:::" + ATTACK_VALUE
    assert not arn_match("arn:aws:s3:::*a*a*a*b", arn, steps=arn_steps)
    assert arn_steps.count <= (len(arn) + 1) * 30


def test_attack_replayed_through_a_decision() -> None:
    """The reported request: a denied caller, a StringLike with three stars, a 60 KB value."""
    key = "arn:aws:kms:us-east-1:111122223333:key/k1"
    policy = read_json(
        """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:Decrypt",
        "Resource": "*", "Condition": {"StringLike": {"kms:EncryptionContext:x": "*a*a*a*b"},
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*a*a*a*b"}}}]}"""
    )
    caller = Caller.from_arn("arn:aws:iam::111122223333:user/" + "a" * 60)
    request = Request(caller, "kms:Decrypt", key, {"kms:EncryptionContext:x": ATTACK_VALUE})
    with _backstop(20):
        decision = authorize_kms(request, KmsPolicies(policy))
        assert not decision.allowed
        assert decision.nearest_miss is not None  # the explanation ran the matchers too


def test_arn_wildcard_stays_in_its_segment() -> None:
    assert resource_matches(
        "arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:key/a/b"
    )
    assert not resource_matches(
        "arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us:east:111122223333:key/a"
    )
    assert not resource_matches("arn:aws:kms:*", "arn:aws:kms:us-east-1:111122223333:key/a")


def test_action_glob_is_case_insensitive() -> None:
    assert action_matches("KMS:generatedatakey*", "kms:GenerateDataKeyPairWithoutPlaintext")
    assert not action_matches("kms:?crypt", "kms:Decrypt")


def _req(**tags: str) -> Request:
    return Request(Caller.from_arn("arn:aws:iam::111122223333:user/bob", tags=tags), "s3:GetObject")


def test_template_substitutes_literally() -> None:
    template = parse_template("home/${aws:username}/${aws:PrincipalTag/x, 'dflt'}/${*}")
    assert template is not None
    assert template.resolve(_req(x="a*b")) == (
        ("home/", False),
        ("bob", True),
        ("/", False),
        ("a*b", True),
        ("/", False),
        ("*", True),
    )
    pieces = template.resolve(_req())
    assert pieces is not None and "".join(t for t, _ in pieces) == "home/bob/dflt/*"
    assert compile_arn_pieces(pieces).matches("home/bob/dflt/*")
    assert not compile_arn_pieces(pieces).matches("home/bob/dflt/x")


def test_unresolvable_variable_and_plain_text() -> None:
    template = parse_template("${aws:PrincipalTag/none}")
    assert template is not None and template.resolve(_req()) is None
    assert parse_template("no variables here") is None
    assert parse_template("${not a variable}") is None  # kept as literal text
