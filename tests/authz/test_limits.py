"""The work one decision may do matching patterns (authz/limits.py): the reviewer's attacks on
``*Like`` conditions replayed, counted in glob tests (never timed), and the decision failing
closed — a request past a bound is denied, whatever its Deny or Allow statements would say."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kmspolicy import KMS
from kmspolicy.authz import (
    Caller,
    DecisionKind,
    KmsPolicies,
    PolicyCache,
    PolicyType,
    Request,
    authorize_kms,
)
from kmspolicy.authz.limits import MAX_PATTERN_WORK, TEST_COST
from kmspolicy.authz.matching import RESOLVED_MEMO_CHARS, Glob, compile_glob
from kmspolicy.errors import AccessDeniedException
from kmspolicy.kms.clock import FakeClock
from kmspolicy.lang import read_json
from tests.kms.audit_log import RecordedAudit

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"


def _key_policy(effect: str, condition: dict[str, Any]) -> str:
    """The root may do anything, except what the conditioned statement says (or, for an
    Allow, the conditioned statement is the only one)."""
    conditioned = {
        "Effect": effect,
        "Principal": "*",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "Condition": condition,
    }
    admin = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
    statements = [admin, conditioned] if effect == "Deny" else [conditioned]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _decide(policy: str, context: dict[str, Any]) -> Any:
    request = Request(Caller.from_arn(ROOT), "kms:Encrypt", KEY, context)
    return authorize_kms(request, KmsPolicies(read_json(policy)))


def _keys(count: int) -> dict[str, str]:
    return {f"kms:EncryptionContext:{i:03x}": "v" for i in range(count)}


@pytest.fixture
def glob_tests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many glob tests (``Glob.matches``) ran: the work the attacks multiply."""
    count = [0]
    matches = Glob.matches

    def counted(self: Glob, text: str) -> bool:
        count[0] += 1
        return matches(self, text)

    monkeypatch.setattr(Glob, "matches", counted)
    return count


def test_wildcard_free_like_values_are_one_set_lookup(glob_tests: list[int]) -> None:
    """review-glob4: 2,500 wildcard-free StringLike values against 1,300 context keys were
    3.25 million glob tests per Encrypt; now one set lookup per key, as StringEquals does."""
    values = [f"xz{i}" for i in range(2500)]
    policy = _key_policy("Deny", {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": values}})
    assert _decide(policy, _keys(1300)).allowed
    assert glob_tests[0] == 0
    denied = _decide(policy, {**_keys(1300), "kms:EncryptionContext:xz7": "v"})
    assert denied.kind is DecisionKind.EXPLICIT_DENY
    assert glob_tests[0] == 0


def test_a_deny_past_the_work_limit_denies_the_request(glob_tests: list[int]) -> None:
    """review-glob2: 2,500 ``?*z<i>`` patterns against 1,500 keys (none matching). Taking the
    Deny as "not matching" would fail open: the request is denied, before any glob test."""
    values = [f"?*z{i}" for i in range(2500)]
    policy = _key_policy("Deny", {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": values}})
    decision = _decide(policy, _keys(1500))
    assert not decision.allowed
    assert decision.decided_by is PolicyType.KEY_POLICY
    assert "limit on the work of matching condition patterns" in decision.reason
    assert decision.reason in decision.explain()
    assert decision.matched_statements == ()
    assert glob_tests[0] == 0


def test_an_allow_past_the_work_limit_does_not_allow() -> None:
    """The same patterns in the only Allow, one of them matching: still denied."""
    values = [f"?*z{i}" for i in range(2500)]
    policy = _key_policy("Allow", {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": values}})
    context = {**_keys(1500), "kms:EncryptionContext:az1": "v"}
    assert not _decide(policy, context).allowed
    assert _decide(policy, {"kms:EncryptionContext:az1": "v"}).allowed  # within the limit


def test_the_limit_is_per_decision() -> None:
    """A request charged most of the limit is decided the same way every time it is asked."""
    patterns = 400
    per_key = patterns * (TEST_COST + 4 * 3)  # ``?*z<i>``: three chunks' weight, 3-4 chars
    keys = MAX_PATTERN_WORK // per_key * 3 // 4
    policy = read_json(
        _key_policy(
            "Deny",
            {
                "ForAnyValue:StringLike": {
                    "kms:EncryptionContextKeys": [f"?*z{i}" for i in range(patterns)]
                }
            },
        )
    )
    request = Request(Caller.from_arn(ROOT), "kms:Encrypt", KEY, _keys(keys))
    for _ in range(3):
        assert authorize_kms(request, KmsPolicies(policy)).allowed


def test_question_marks_at_a_chunk_s_ends_are_not_charged() -> None:
    """200 ``*????????b*`` patterns against an 8 KB value: each test looks for ``b`` (the
    ``?`` before it are never compared), about 1.6 M characters scanned. They were charged as
    a nine-wide regex tried at every place (18 M: denied)."""
    policy = _key_policy("Deny", {"StringLike": {"kms:EncryptionContext:x": ["*????????b*"] * 200}})
    assert _decide(policy, {"kms:EncryptionContext:x": "a" * 8192}).allowed
    denied = _decide(policy, {"kms:EncryptionContext:x": "a" * 8191 + "b"})
    assert denied.kind is DecisionKind.EXPLICIT_DENY


def _common_prefix(text: str, at: int, needle: str, limit: int) -> int:
    """How many of the first ``limit`` characters of ``needle`` stand in ``text`` at ``at``."""
    lo, hi = 0, limit
    while lo < hi:  # by halves: a model of a C loop over 8 KB must not be a Python loop
        mid = (lo + hi + 1) // 2
        if text.startswith(needle[:mid], at):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _find_work(text: str, needle: str, start: int, end: int) -> tuple[int, int]:
    """``text.find(needle, start, end)`` and the characters CPython 3.11 compares doing it
    (Objects/stringlib/fastsearch.h: FASTSEARCH and default_find, whose loop adaptive_find
    runs too until it switches to the linear two-way search, which this does not model)."""
    n, m = end - start, len(needle)
    if n < m:
        return -1, 0
    if m <= 1:  # memchr, or nothing to look for
        return text.find(needle, start, end), n if m else 0
    if n == m:  # memcmp
        return (start if text.startswith(needle, start) else -1), m
    default = n < 2500 or (m < 100 and n < 30000) or m < 6
    assert default or n - m <= 2000, "two-way search: not modelled"
    mlast, last, work = m - 1, needle[-1], 0
    gap = mlast
    for i in range(mlast):
        if needle[i] == last:
            gap = mlast - i - 1
    bloom = {ord(c) % 64 for c in needle}  # a 64-bit word; a character past the slice is read
    i = 0
    while i <= n - m:
        work += 1
        after = start + i + m
        skip = (ord(text[after]) if after < len(text) else 0) % 64 not in bloom
        if text[start + i + mlast] == last:
            same = _common_prefix(text, start + i, needle, mlast)
            work += min(same + 1, mlast)
            if same == mlast:
                return start + i, work
            i += m if skip else gap
        elif skip:
            i += m
        i += 1
    return -1, work


def _counted_match(pattern: str, text: str) -> tuple[bool, int]:
    """``Glob.matches`` done as authz/matching.py does it, counting its work in the unit of
    limits.py (characters compared): a run between two ``*`` is looked for by its core (the
    ``?`` at its ends are never compared); tried at one place, a core costs the characters
    compared there (``?`` included) until one differs; a core without ``?`` is found by
    ``str.find``, counted as CPython does it (:func:`_find_work`)."""
    runs = pattern.split("*")
    chunks = [runs[0], *[r for r in runs[1:-1] if r], runs[-1]] if len(runs) > 1 else runs
    work = 0

    def compare(run: str, pos: int) -> bool:
        nonlocal work
        core = run.strip("?")
        lead = len(run) - len(run.lstrip("?"))
        for i, char in enumerate(core):
            work += 1
            if char != "?" and text[pos + lead + i] != char:
                return False
        return True

    def find(run: str, start: int, end: int) -> int:
        nonlocal work
        core = run.strip("?")
        if "?" not in core:
            lead = len(run) - len(run.lstrip("?"))
            trail = len(run) - lead - len(core)
            found, spent = _find_work(text, core, start + lead, end - trail)
            work += spent
            return found - lead if found >= 0 else -1
        for pos in range(start, end - len(run) + 1):
            if compare(run, pos):
                return pos
        return -1

    if len(chunks) == 1:
        return len(text) == len(pattern) and compare(pattern, 0), work
    head, tail = chunks[0], chunks[-1]
    end = len(text) - len(tail)
    if len(text) < sum(map(len, chunks)) or not compare(head, 0) or not compare(tail, end):
        return False, work
    pos = len(head)
    for run in chunks[1:-1]:
        found = find(run, pos, end)
        if found < 0:
            return False, work
        pos = found + len(run)
    return True, work


#: texts that repeat a short unit: the near misses on which a core is compared furthest
_TEXTS = st.one_of(
    st.text(alphabet="ab", max_size=48),
    st.builds(lambda size: "a" * size, st.integers(0, 64)),
    st.builds(
        lambda unit, times, end: unit * times + end,
        st.text("ab", min_size=1, max_size=3),
        st.integers(0, 24),
        st.text("ab", max_size=2),
    ),
)


#: patterns whose run between two ``*`` nearly matches a text of ``a``s (``aaaabaa``): a
#: candidate at every place, where ``str.find`` compares up to the ``b``
_PATTERNS = st.one_of(
    st.text(alphabet="ab?*", max_size=14),
    st.builds(
        lambda head, deep, miss, after, tail: f"{head}*{'a' * deep}{miss}{'a' * after}*{tail}",
        st.text("a?", max_size=2),
        st.integers(1, 10),
        st.sampled_from(["b", "?b", "?"]),
        st.integers(1, 3),
        st.text("a?", max_size=2),
    ),
)


@given(pattern=_PATTERNS, text=_TEXTS)
@example(pattern="*a?a?a?b*", text="a" * 48)  # each place compared seven deep
@example(pattern="??a?a?b??*", text="a" * 48)  # the head tried once, its core only
@example(pattern="*??????b", text="a" * 48)
@example(pattern="*aaaaaaaaabaa*", text="a" * 48)  # str.find compares ten deep at each place
@example(pattern="*?aaaaaaaaabaa?*", text="a" * 48)
def test_a_glob_test_is_charged_at_least_its_work(pattern: str, text: str) -> None:
    """The charge per character of text (``Glob.weight``) bounds what a test compares."""
    glob = compile_glob(pattern)
    matched, work = _counted_match(pattern, text)
    assert matched == glob.matches(text)
    assert work <= len(text) * glob.weight


@pytest.mark.parametrize(
    ("size", "needle"),
    [
        (8000, "a" * 97 + "ba"),  # review-globstall3: default_find, every other place
        (8000, "a" * 96 + "baa"),  # every place, 97 deep
        (2499, "a" * 1247 + "baa"),  # under 2,500 characters default_find takes any needle
        (3000, "a" * 997 + "baa"),  # adaptive_find never switches within 2,000 of the end
    ],
    ids=["m99", "m99-gap0", "short-text", "adaptive"],
)
def test_a_search_for_a_long_needle_is_charged_at_least_its_work(size: int, needle: str) -> None:
    """review-globstall3/4: ``str.find`` compares up to the needle's length at each place; the
    charge was 1 per character of text, whatever the needle."""
    text = "a" * size
    for pattern in (f"*{needle}*", f"*?{needle}?*", f"*{needle}*b*"):
        glob = compile_glob(pattern)
        matched, work = _counted_match(pattern, text)
        assert not matched and not glob.matches(text)
        assert work > 20 * size
        assert work <= size * glob.weight


def _needle_patterns(shape: str) -> list[str]:
    """Distinct patterns ``shape`` (holding the needle's variable) fitting a 30 KB policy."""
    patterns, size = [], 0
    while size < 30_000:
        j = len(patterns)
        patterns.append("*" * (1 + j % 40) + shape + "*" * (1 + j // 40))
        size += len(patterns[-1]) + 4
    return patterns


@pytest.mark.parametrize("shape", ["${kms:EncryptionContext:n}", "?${kms:EncryptionContext:n}?"])
def test_a_request_supplied_needle_is_charged_its_length(shape: str, glob_tests: list[int]) -> None:
    """review-globstall3/4: ~520 patterns searching an 8 KB value for a 99-character needle the
    request supplies were charged 4.4 M of the 16.7 M and ran ~300 ms per Encrypt (each
    ``str.find`` compares up to 99 characters at each place); now denied before any test. A
    short needle under the same policy is decided as before."""
    policy = _key_policy(
        "Deny", {"StringLike": {"kms:EncryptionContext:k": _needle_patterns(shape)}}
    )
    value = {"kms:EncryptionContext:k": "a" * 8000}
    decision = _decide(policy, {**value, "kms:EncryptionContext:n": "a" * 97 + "ba"})
    assert not decision.allowed
    assert "limit on the work of matching condition patterns" in decision.reason
    assert glob_tests[0] == 0
    assert _decide(policy, {**value, "kms:EncryptionContext:n": "ab"}).allowed
    denied = _decide(policy, {**value, "kms:EncryptionContext:n": "aa"})
    assert denied.kind is DecisionKind.EXPLICIT_DENY


def test_an_encrypt_past_the_limit_is_refused_and_audited_with_the_reason() -> None:
    """review-glob: 1,600 ``*????????b<i>*`` patterns on one 8 KB encryption context value,
    set by the key's administrator; the Encrypt is refused with a typed error, and the audit
    record says why."""
    audit = RecordedAudit()
    service = KMS(clock=FakeClock(), account=ACCOUNT, audit=audit)
    key = service.create_key()["KeyMetadata"]["Arn"]
    values = [f"*{'?' * 8}b{i}*" for i in range(1600)]
    policy = _key_policy("Deny", {"StringLike": {"kms:EncryptionContext:x": values}})
    service.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
    with pytest.raises(AccessDeniedException, match="limit on the work of matching"):
        service.encrypt(KeyId=key, Plaintext=b"p", EncryptionContext={"x": "a" * 8000})
    last = audit.records[-1]
    assert (last.operation, last.allowed) == ("Encrypt", False)
    assert "limit on the work of matching condition patterns" in last.reason
    # an ordinary context under the same policy is decided as before
    service.encrypt(KeyId=key, Plaintext=b"p", EncryptionContext={"x": "a" * 80})


# --- policy variables resolved from request values (review-template) ---


def test_a_variable_repeated_past_the_length_limit_denies_the_request(
    glob_tests: list[int],
) -> None:
    """``${kms:EncryptionContext:a}`` 1,000 times in a Deny's StringLike value (a 26 KB policy)
    resolved, per request, to a 4 MB pattern, built a character at a time and memoised. Past
    8 KiB the request is denied, the Deny never taken as not matching."""
    value = "${kms:EncryptionContext:a}" * 1000
    policy = _key_policy("Deny", {"StringLike": {"kms:EncryptionContext:b": value}})
    context = {"kms:EncryptionContext:a": "x" * 4000, "kms:EncryptionContext:b": "y" * 4000}
    decision = _decide(policy, context)
    assert not decision.allowed
    assert "limit on the length of a policy value after substitution" in decision.reason
    assert glob_tests[0] == 0
    assert _decide(policy, {"kms:EncryptionContext:a": "x", "kms:EncryptionContext:b": "y"}).allowed


def test_a_resource_template_past_the_length_limit_denies_the_request() -> None:
    """The same through a Deny's Resource (the statements' own memo of resolved ARNs)."""
    policy = json.loads(_key_policy("Deny", {}))
    del policy["Statement"][1]["Condition"]
    policy["Statement"][1]["Resource"] = KEY[:-2] + "${kms:EncryptionContext:a}" * 3
    decision = _decide(json.dumps(policy), {"kms:EncryptionContext:a": "x" * 4000})
    assert not decision.allowed
    assert "limit on the length of a policy value after substitution" in decision.reason


def test_the_resolved_pattern_memo_keeps_no_long_pattern() -> None:
    """Each request's 4 KB value made a pattern the condition kept (256 of them per condition
    of every cached policy); long ones are now compiled per request, and the memo is bounded
    by its characters."""
    policy = read_json(
        _key_policy(
            "Deny", {"StringLike": {"kms:EncryptionContext:b": "${kms:EncryptionContext:a}*"}}
        )
    )
    cache = PolicyCache()

    def decide(a: str) -> bool:
        context = {"kms:EncryptionContext:a": a, "kms:EncryptionContext:b": "y"}
        request = Request(Caller.from_arn(ROOT), "kms:Encrypt", KEY, context)
        return authorize_kms(request, KmsPolicies(policy), matcher=cache.match).allowed

    assert all(decide(f"{i:04d}" + "x" * 3996) for i in range(40))
    compiled = cache.compile(policy, PolicyType.KEY_POLICY, name="default")
    memo = compiled.statements[1].conditions[0]._resolved
    assert memo is not None
    assert len(memo) == 0
    assert all(decide(f"u{i}") for i in range(600))
    assert 0 < memo.weight <= RESOLVED_MEMO_CHARS
    assert not decide("y")  # the Deny still applies


@pytest.fixture
def long_compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many regexes of over 1,000 characters were compiled (``re.compile`` parses them in
    Python: ~1 us a character)."""
    count = [0]
    compile_ = re.compile

    def counted(pattern: Any, flags: int = 0) -> Any:
        count[0] += len(pattern) > 1000
        return compile_(pattern, flags)

    monkeypatch.setattr(re, "compile", counted)
    return count


def test_a_resolved_pattern_s_regex_is_charged_before_it_is_compiled(
    long_compiles: list[int],
) -> None:
    """500 patterns ``*${kms:EncryptionContext:n}?<i>*`` (a 30 KB policy) with a 4 KB value for
    ``n``: each resolved pattern's run holds a ``?``, so each compiled a 4 KB regex, uncharged,
    before any glob test was charged: 1.8 s per Encrypt. Now each is charged its compile when
    resolved, and the request is denied before any is compiled."""
    shape = "${kms:EncryptionContext:n}?"
    patterns = [p.replace("?", f"?{i}") for i, p in enumerate(_needle_patterns(shape))]
    policy = _key_policy("Deny", {"StringLike": {"kms:EncryptionContext:k": patterns}})
    decision = _decide(
        policy, {"kms:EncryptionContext:k": "a", "kms:EncryptionContext:n": "a" * 4000}
    )
    assert not decision.allowed
    assert "limit on the work of matching condition patterns" in decision.reason
    assert long_compiles[0] == 0
    few = _key_policy("Deny", {"StringLike": {"kms:EncryptionContext:k": patterns[:10]}})
    context = {"kms:EncryptionContext:n": "ab"}
    assert _decide(few, {**context, "kms:EncryptionContext:k": "ab0"}).allowed
    denied = _decide(few, {**context, "kms:EncryptionContext:k": "xaby7z"})
    assert denied.kind is DecisionKind.EXPLICIT_DENY


def test_a_resolved_resource_s_regex_is_charged_before_it_is_compiled(
    long_compiles: list[int],
) -> None:
    """The same through a Deny's Resource (``key/${kms:EncryptionContext:a}?<i>``): resource
    templates were not charged at all."""
    policy = json.loads(_key_policy("Deny", {}))
    del policy["Statement"][1]["Condition"]
    policy["Statement"][1]["Resource"] = [
        f"{KEY[:-2]}${{kms:EncryptionContext:a}}?{i}" for i in range(20)
    ]
    policies = KmsPolicies(read_json(json.dumps(policy)))

    def decide(a: str) -> Any:
        context = {"kms:EncryptionContext:a": a}
        request = Request(Caller.from_arn(ROOT), "kms:Encrypt", KEY[:-2] + "k-1", context)
        return authorize_kms(request, policies)

    decision = decide("k" * 4000)
    assert not decision.allowed
    assert "limit on the work of matching condition patterns" in decision.reason
    assert long_compiles[0] == 0
    assert decide("x").allowed
    assert decide("k").kind is DecisionKind.EXPLICIT_DENY
