"""The ``Arn`` value type: a strict, lossless parse of an ARN's six fields."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.authz import Arn
from kmspolicy.errors import InvalidArnException

partitions = st.sampled_from(["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"])
services = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,15}", fullmatch=True)
regions = st.one_of(st.just(""), st.from_regex(r"[a-z]{2}(-[a-z]+)+-[0-9]", fullmatch=True))
accounts = st.one_of(st.just(""), st.just("aws"), st.from_regex(r"[0-9]{12}", fullmatch=True))
# any text without control characters, ':' and '/' included (S3 keys, KMS aliases, IAM paths)
resources = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
arns = st.builds(Arn, partitions, services, regions, accounts, resources)


@given(arns)
def test_an_arn_round_trips_through_its_text(arn: Arn) -> None:
    text = str(arn)
    assert Arn.parse(text) == arn
    assert str(Arn.parse(text)) == text
    # the fields are what splitting at the first five colons gives (the reference's reading)
    assert list(arn) == text.split(":", 5)[1:]


#: the strict reading as first written (the resource's class negated): Arn.of must accept exactly
#: what it accepts, with the same fields, whatever the pattern in arn.py is rewritten to
STRICT = re.compile(
    r"arn:(aws(?:-[a-z]+)*):([a-z0-9][a-z0-9.-]*):([a-z0-9-]*):(\d{12}|aws|):([^\x00-\x1f\x7f]+)"
)
# near misses in every field: other cases, Unicode digits, control characters, DEL and the
# characters around the class boundaries, separators, surrogates
odd = st.sampled_from(
    ["", "A", "-", ".", ":", "/", "*", "\x00", "\x1f", " ", "~", "\x7f", "\x80", "\xa0",
     "\u0663", "\ud800", "\U0001f600", "\n", "aws", "0", "9"]
)  # fmt: skip
#: text made of the characters at the edges of the resource's class
edges = st.text(
    st.sampled_from(["a", "/", "\x00", "\x1f", " ", "~", "\x7f", "\x80", "\xff", "\u0100",
                     "\ud800", "\uffff", "\U00010000", "\U0010ffff"]),
    min_size=1, max_size=6,
)  # fmt: skip
fields = st.one_of(
    partitions, services, regions, accounts, resources, odd, edges,
    st.text(max_size=14), st.from_regex(r"[0-9\u0660-\u0669]{12}", fullmatch=True),
)  # fmt: skip


@st.composite
def near_arns(draw: st.DrawFn) -> str:
    """Five to seven fields after a prefix, joined by colons or by something else."""
    text = draw(st.sampled_from(["arn", "arn", "arn", "ARN", "urn", ""]))
    for _ in range(draw(st.integers(5, 7))):
        text += draw(st.sampled_from([":", ":", ":", ":", ";", ""])) + draw(fields)
    return text


@st.composite
def mutated_arns(draw: st.DrawFn) -> str:
    """A valid ARN with a near miss written over (or into) it somewhere."""
    text = str(draw(arns))
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.one_of(odd, edges)) + text[at + draw(st.integers(0, 2)) :]


@settings(max_examples=1000)
@given(st.one_of(mutated_arns(), near_arns(), st.text(max_size=60)))
def test_the_parser_accepts_exactly_what_the_strict_pattern_accepts(text: str) -> None:
    m = STRICT.fullmatch(text)
    assert Arn.of(text) == (None if m is None else m.groups())


@given(st.text(max_size=60))
def test_parsing_never_loses_or_invents_text(text: str) -> None:
    arn = Arn.of(text)
    assert arn is None or str(arn) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "*",
        "111122223333",
        "kms.amazonaws.com",
        "arn:aws:iam::111122223333",  # five fields
        "arn:aws:iam:::",  # no resource
        "urn:aws:iam::111122223333:root",
        "arn::iam::111122223333:root",  # no partition
        "arn:azure:iam::111122223333:root",
        "arn:AWS:iam::111122223333:root",
        "arn:aws::us-east-1:111122223333:key/k",  # no service
        "arn:aws:iam::11112222333:root",  # 11 digits
        "arn:aws:iam::*:root",
        "arn:aws:kms:US-EAST-1:111122223333:key/k",
        "arn:aws:iam::111122223333:root\n",
        "arn:aws:iam::111122223333:ro\x00ot",
    ],
)
def test_what_is_not_an_arn_is_refused(text: str) -> None:
    assert Arn.of(text) is None
    with pytest.raises(InvalidArnException):
        Arn.parse(text)


def test_fields_and_resource_type() -> None:
    arn = Arn.parse("arn:aws:kms:us-east-1:111122223333:alias/app:x")
    assert arn == ("aws", "kms", "us-east-1", "111122223333", "alias/app:x")
    assert arn.account == "111122223333" and arn.resource_type == "alias"
    assert str(arn._replace(region="")) == "arn:aws:kms::111122223333:alias/app:x"
    s3 = Arn.parse("arn:aws:s3:::bucket/key")
    assert (s3.region, s3.account, s3.resource_type) == ("", "", "bucket")
