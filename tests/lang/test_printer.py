"""The DSL printer: one canonical layout, quoting only where a bareword would not parse."""

from __future__ import annotations

import pytest

from kmspolicy.errors import PolicyError
from kmspolicy.lang import (
    Action,
    Condition,
    ConditionOperator,
    ConditionValue,
    Effect,
    Policy,
    Statement,
    format_dsl,
    parse_dsl,
)

MESSY = """\
#header
policy   "k"   version 2012-10-17
allow "A" principal aws "arn:aws:iam::111122223333:root" action kms:* resource *
# second
deny principal * action kms:Decrypt when Bool aws:SecureTransport false and
  StringEquals kms:CallerAccount ["1", "2"]
"""

CANONICAL = """\
# header
policy "k" version 2012-10-17

allow "A"
  principal aws "arn:aws:iam::111122223333:root"
  action kms:*
  resource *

# second
deny
  principal *
  action kms:Decrypt
  when Bool aws:SecureTransport false
   and StringEquals kms:CallerAccount ["1", "2"]
"""


def test_canonical_layout() -> None:
    assert format_dsl(parse_dsl(MESSY)) == CANONICAL


def test_canonical_text_is_a_fixed_point() -> None:
    assert format_dsl(parse_dsl(CANONICAL)) == CANONICAL


def test_several_policies_separated_by_a_blank_line() -> None:
    text = "policy\n\nallow\n  action *\n\npolicy\n\ndeny\n  action *\n"
    assert format_dsl(parse_dsl(text)) == text


def test_long_lists_wrap_one_item_per_line_aligned() -> None:
    actions = ", ".join(f"kms:Operation{i:02d}" for i in range(8))
    out = format_dsl(parse_dsl(f"policy allow action {actions}"))
    lines = out.splitlines()[2:]
    assert lines[0] == "allow"
    assert lines[1] == "  action kms:Operation00,"
    assert lines[2] == "         kms:Operation01,"
    assert lines[-1] == "         kms:Operation07"


def test_quotes_only_what_a_bareword_cannot_say() -> None:
    s = Statement(
        Effect.ALLOW,
        (Action("kms:Decrypt"), Action("KMS:Odd Name")),
        conditions=(
            Condition(ConditionOperator.STRING_EQUALS, "s3:with space", (ConditionValue("v"),)),
            Condition(ConditionOperator.NUMERIC_EQUALS, "aws:EpochTime", (ConditionValue(1.5),)),
        ),
    )
    out = format_dsl(Policy((s,)))
    assert 'action kms:Decrypt, "KMS:Odd Name"' in out
    assert 'when StringEquals "s3:with space" "v"' in out
    assert "and NumericEquals aws:EpochTime 1.5" in out


def test_format_accepts_one_policy() -> None:
    (p,) = parse_dsl(CANONICAL)
    assert format_dsl(p) == CANONICAL


@pytest.mark.parametrize(
    "policy",
    [
        Policy(()),
        Policy((Statement(Effect.ALLOW, ()),)),
        Policy(
            (
                Statement(
                    Effect.ALLOW,
                    (Action("*"),),
                    conditions=(Condition(ConditionOperator.BOOL, "aws:SecureTransport", ()),),
                ),
            )
        ),
    ],
)
def test_refuses_policies_the_dsl_cannot_express(policy: Policy) -> None:
    with pytest.raises(PolicyError):
        format_dsl(policy)


def test_refusals_name_the_statement_by_sid_or_position() -> None:
    empty = Condition(ConditionOperator.BOOL, "aws:SecureTransport", ())
    ok = Statement(Effect.ALLOW, (Action("*"),))
    bad = Statement(Effect.ALLOW, (Action("*"),), conditions=(empty,))
    with pytest.raises(PolicyError, match=r"^statement #2: condition `Bool` on "):
        format_dsl(Policy((ok, bad)))
    with pytest.raises(PolicyError, match=r"^statement `S1`: "):
        format_dsl(Policy((Statement(Effect.ALLOW, (), sid="S1"),)))
