"""Wildcard matching: the compiled regexes agree with the simple reference matcher; variables."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Caller, Request
from kmspolicy.authz.matching import (
    action_matches,
    compile_arn,
    compile_arn_pieces,
    compile_glob,
    resource_matches,
    simple_arn_match,
    simple_glob,
)
from kmspolicy.authz.variables import parse_template

TEXT = st.text(alphabet="ab:/*?", max_size=12)
PATTERN = st.text(alphabet="ab:/*?", max_size=10)


@settings(max_examples=400, deadline=None)
@given(pattern=PATTERN, text=TEXT)
def test_glob_regex_equals_simple_glob(pattern: str, text: str) -> None:
    assert (compile_glob(pattern).fullmatch(text) is not None) == simple_glob(pattern, text)


@settings(max_examples=400, deadline=None)
@given(head=st.lists(PATTERN, min_size=5, max_size=5), tail=PATTERN, text=TEXT, arn=st.booleans())
def test_arn_regex_equals_simple_arn_match(
    head: list[str], tail: str, text: str, arn: bool
) -> None:
    pattern = ":".join(["arn", *head[1:], tail]) if arn else tail
    target = "arn:" + text if arn else text
    assert (compile_arn(pattern).fullmatch(target) is not None) == simple_arn_match(pattern, target)


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
    assert compile_arn_pieces(pieces).fullmatch("home/bob/dflt/*")
    assert not compile_arn_pieces(pieces).fullmatch("home/bob/dflt/x")


def test_unresolvable_variable_and_plain_text() -> None:
    template = parse_template("${aws:PrincipalTag/none}")
    assert template is not None and template.resolve(_req()) is None
    assert parse_template("no variables here") is None
    assert parse_template("${not a variable}") is None  # kept as literal text
