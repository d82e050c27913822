"""The AWS JSON reader's fast path (orjson's tree, kmspolicy.lang.awsjson._vouched) gives exactly
what the exact path gives (the stdlib decoder with hooks, else the positional scanner): the same
policy with the same spans, or the same diagnostics with the same positions and excerpts. The
documents are valid policies written in several layouts, then changed where the two decoders
differ: a key repeated at any depth (spelt alike or only equal once decoded, ``"a"`` and
``"\\u0061"``), NaN and Infinity, integers past 64 bits, floats, over-long numbers, surrogate
escapes (paired or lone) and raw surrogates, deep nesting, quotes and colons inside strings,
whitespace before a colon, and random characters inserted or deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.lang import Policy, PolicySyntaxError, awsjson, read_json, write_json
from kmspolicy.lang.span import Span

from .json_members import Members, policy_members
from .strategies import policies

SOME = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Layout:
    indent: int | None
    colon: str  # what separates a key from its value: ":", ": ", " : ", "\n:\t"
    ascii_only: bool


@dataclass(frozen=True)
class Raw:
    """Text written as is in place of a value."""

    text: str


def _string(text: str, layout: Layout) -> str:
    return json.dumps(text, ensure_ascii=layout.ascii_only)


def write(value: Any, layout: Layout, depth: int = 0) -> str:
    pad = "" if layout.indent is None else "\n" + " " * (layout.indent * (depth + 1))
    end = "" if layout.indent is None else "\n" + " " * (layout.indent * depth)
    if isinstance(value, Members):
        if not value.pairs:
            return "{}"
        members = [
            f"{pad}{k if isinstance(k, Raw) else _string(k, layout)}{layout.colon}"
            f"{write(v, layout, depth + 1)}"
            for k, v in value.pairs
        ]
        return "{" + ",".join(members) + end + "}"
    if isinstance(value, list):
        return "[" + ", ".join(write(v, layout, depth + 1) for v in value) + "]"
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, str):
        return _string(value, layout)
    return json.dumps(value)


layouts = st.builds(
    Layout,
    st.sampled_from([None, 2]),
    st.sampled_from([":", ": ", " : ", "\n:\t"]),
    st.booleans(),
)

#: values the two decoders read differently, or that only the exact path reports exactly
odd_values = st.sampled_from(
    [
        Raw("NaN"),
        Raw("-Infinity"),
        Raw("1e400"),
        Raw("1.5"),
        Raw("-0.0"),
        Raw("2e-400"),
        Raw(str(2**64)),
        Raw(str(2**64 - 1)),
        Raw(str(-(2**63) - 1)),
        Raw(str(10**30)),
        Raw("9" * 120),
        Raw("0." + "0" * 120 + "1"),
        Raw('"\\ud800"'),
        Raw('"\\udc00x"'),
        Raw('"\\ud83d\\ude00"'),
        Raw('"\ud800"'),
        Raw('"a\\":b"'),
        Raw('"\\\\":'),
        Raw("[" * 70 + "]" * 70),
        Raw('{"a": 1, "\\u0061": 2}'),
        Raw("01"),
        Raw("1."),
        Raw(".5"),
        Raw("true"),
        Raw("null"),
        7,
        "kms:Decrypt",
        ["kms:Decrypt", "kms:Encrypt"],
    ]
)


def _escaped(name: str) -> Raw | str:
    """``name`` written with its first character as a \\u escape: equal once decoded."""
    if not name or ord(name[0]) > 0xFFFF:
        return name
    return Raw(f'"\\u{ord(name[0]):04x}{json.dumps(name[1:])[1:-1]}"')


def _objects(value: Any) -> Iterator[Members]:
    if isinstance(value, Members):
        yield value
        for _, v in value.pairs:
            yield from _objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from _objects(v)


def _slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """(container, index) of every value below ``value``: a list index or a member's index."""
    if isinstance(value, Members):
        for n, (_, v) in enumerate(value.pairs):
            yield value, n
            yield from _slots(v)
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield value, n
            yield from _slots(v)


@st.composite
def changed(draw: st.DrawFn, doc: Members) -> Members:
    """``doc`` with one to three changes where the fast and the exact decoder may differ."""
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.integers(0, 3))
        if change == 0:  # a key repeated in any object, spelt alike or only equal once decoded
            objects = [o for o in _objects(doc) if o.pairs]
            target = draw(st.sampled_from(objects))
            name, value = draw(st.sampled_from(target.pairs))
            spelt = draw(st.sampled_from([name, _escaped(name) if isinstance(name, str) else name]))
            target.pairs.insert(draw(st.integers(0, len(target.pairs))), (spelt, value))
        elif change == 1:  # a value replaced
            container, n = draw(st.sampled_from(list(_slots(doc))))
            odd = draw(odd_values)
            if isinstance(container, Members):
                container.pairs[n] = (container.pairs[n][0], odd)
            else:
                container[n] = odd
        elif change == 2:  # a Sid given to two statements (a problem the reader finds)
            statements = [o for o in _objects(doc) if any(k == "Effect" for k, _ in o.pairs)]
            for target in statements[:2]:
                target.pairs = [(k, v) for k, v in target.pairs if k != "Sid"] + [("Sid", "S")]
        else:  # a key only equal to another once decoded, in place of the original
            objects = [o for o in _objects(doc) if o.pairs]
            target = draw(st.sampled_from(objects))
            n = draw(st.integers(0, len(target.pairs) - 1))
            name, value = target.pairs[n]
            if isinstance(name, str):
                target.pairs[n] = (_escaped(name), value)
    return doc


@contextmanager
def _exact_path_only() -> Iterator[None]:
    """As installed without orjson (the toolkit alone): the reader of every text is the exact
    path."""
    with mock.patch.object(awsjson, "orjson", None):
        yield


def _spans(policy: Policy) -> list[Span | None]:
    out: list[Span | None] = [policy.span]
    for s in policy.statements:
        out.append(s.span)
        out += [a.span for a in s.actions]
        out += [r.span for r in s.resources or ()]
        out += [p.span for p in s.principals or ()]
        for c in s.conditions:
            out.append(c.span)
            out += [v.span for v in c.values]
    return out


def _outcome(text: str | bytes, key_policy: bool) -> tuple[Any, ...]:
    """What reading ``text`` gives, spans, diagnostics and the error's whole text included."""
    try:
        policy = read_json(text, "p.json", key_policy=key_policy)
    except PolicySyntaxError as exc:
        found = [
            (d.code, d.message, d.span, d.help, str(d.span) if d.span else None)
            for d in exc.diagnostics
        ]
        return "error", found, str(exc)
    return "read", policy, [(span, str(span)) for span in _spans(policy)]


def assert_paths_agree(text: str | bytes, key_policy: bool = False) -> None:
    fast = _outcome(text, key_policy)
    with _exact_path_only():
        exact = _outcome(text, key_policy)
    assert fast == exact


@SOME
@given(policies(), layouts, st.booleans())
def test_a_valid_document_reads_alike_on_both_paths(
    policy: Policy, layout: Layout, key_policy: bool
) -> None:
    text = write(policy_members(policy), layout)
    assert_paths_agree(text, key_policy)


@SOME
@given(st.data(), policies(), layouts)
def test_a_changed_document_reads_alike_on_both_paths(
    data: st.DataObject, policy: Policy, layout: Layout
) -> None:
    doc = data.draw(changed(policy_members(policy)))
    assert_paths_agree(write(doc, layout))


pieces = st.sampled_from(
    [*'{}[]",:-.eE0 \t\n\\', "NaN", "\\u0041", "\\ud800", "\ud800", "1e999", "9" * 30, "\x01"]
)


@SOME
@given(policies(), layouts, st.lists(st.tuples(st.integers(0, 10**5), pieces), max_size=3))
def test_a_mangled_text_reads_alike_on_both_paths(
    policy: Policy, layout: Layout, edits: list[tuple[int, str]]
) -> None:
    text = write(policy_members(policy), layout)
    for at, piece in edits:
        i = at % (len(text) + 1)
        text = text[:i] + piece + text[i + (at % 2) :]  # inserted, or in place of a character
    assert_paths_agree(text)


@SOME
@given(policies(), st.integers(0, 10**5), st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"]))
def test_a_text_that_is_not_utf8_reads_alike_on_both_paths(
    policy: Policy, at: int, bad: bytes
) -> None:
    data = write_json(policy).encode()
    i = at % (len(data) + 1)
    assert_paths_agree(data[:i] + bad + data[i:])


_DOC = (
    '{"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow",'
    ' "Principal": {"AWS": "111122223333"}, "Action": "kms:Decrypt", "Resource": "*",'
    ' "Condition": {"StringEquals": {"kms:CallerAccount": ["111122223333", 5]}}}]}'
)


def test_the_fast_path_vouches_for_a_plain_valid_document() -> None:
    # else every read would silently take the exact path, and all the above would agree
    policy = awsjson._vouched(_DOC, "p.json", False)
    assert policy is not None and policy == read_json(_DOC)
    with _exact_path_only():  # as installed without orjson: read all the same
        assert awsjson._vouched(_DOC, "p.json", False) is None
        assert read_json(_DOC) == policy


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('"Sid": "A",', '"Sid": "A", "Sid": "A",'),  # a repeated key
        ('"Sid": "A",', '"Sid": "A", "\\u0053id": "B",'),  # equal once decoded
        ('"kms:CallerAccount"', '"kms:CallerAccount": "x", "kms:CallerAccount"'),  # 4 deep
        ('{"StringEquals"', '{"Bool": {"aws:SecureTransport": "true"}, "Bool"'),
        ('["111122223333", 5]', '["111122223333", 5.0]'),  # a float
        ('["111122223333", 5]', f'["111122223333", {2**64}]'),  # orjson: a float
        ('"Sid": "A"', '"Sid" : "A"'),  # a key the spaced count finds: still vouched for
        ("[{", "[{}, {"),  # invalid: an empty statement
        ("}}}]", '}}}, {"Sid": "A", "Effect": "Deny", "Action": "*"}]'),  # a Sid twice
    ],
)
def test_the_fast_path_gives_way_where_its_tree_may_differ(before: str, after: str) -> None:
    text = _DOC.replace(before, after)
    assert text != _DOC
    vouched = awsjson._vouched(text, "p.json", False)
    if before == '"Sid": "A"':
        assert vouched is not None
    else:
        assert vouched is None
    assert_paths_agree(text)


def test_a_key_repeated_once_decoded_is_reported_where_it_is_written() -> None:
    text = _DOC.replace('"Effect": "Allow",', '"Effect": "Allow",\n  "Eff\\u0065ct": "Deny",')
    with pytest.raises(PolicySyntaxError) as caught:
        read_json(text, "p.json")
    assert str(caught.value).splitlines()[0] == (
        "p.json:2:3: error[duplicate-key]: duplicate JSON key `Effect`"
    )


json_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='a":\\ \n', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(st.tuples(st.text(alphabet='a":\\ \n', max_size=4), inner), max_size=3).map(
            Members
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(json_texts, layouts)
def test_the_member_bound_counts_every_key_written(value: Any, layout: Layout) -> None:
    text = write(value, layout)
    members = sum(len(o.pairs) for o in _objects(value))
    assert awsjson._member_bound(text) >= members
    # only a quote that is not a key's closing one can add a match: inside a string, or opening
    # one that starts with a colon
    if not any('"' in s or s.lstrip(" \t\n\r").startswith(":") for s in _strings(value)):
        assert awsjson._member_bound(text) == members


def _strings(value: Any) -> Iterator[str]:
    """Every key and string value of ``value``."""
    if isinstance(value, Members):
        for k, v in value.pairs:
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value
