"""The AWS JSON writer: canonical key order, one-or-many values, grouping, refusals."""

from __future__ import annotations

import json

import pytest

from kmspolicy.errors import PolicyError
from kmspolicy.lang import (
    Action,
    Condition,
    ConditionOperator,
    ConditionValue,
    Effect,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    Statement,
    read_json,
    write_json,
)

ROOT = Principal(PrincipalKind.AWS, "arn:aws:iam::111122223333:root")


def test_key_order_is_canonical() -> None:
    text = (
        '{"Statement": [{"Condition": {"Bool": {"aws:SecureTransport": true}}, "Resource": "*",'
        ' "Action": "kms:*", "Principal": "*", "Effect": "Deny", "Sid": "S"}],'
        ' "Id": "i", "Version": "2012-10-17"}'
    )
    out = json.loads(write_json(read_json(text)))
    assert list(out) == ["Version", "Id", "Statement"]
    assert list(out["Statement"][0]) == [
        "Sid",
        "Effect",
        "Principal",
        "Action",
        "Resource",
        "Condition",
    ]


def test_one_value_is_a_string_several_a_list() -> None:
    s = Statement(
        Effect.ALLOW,
        (Action("kms:Encrypt"), Action("kms:Decrypt")),
        principals=(ROOT,),
        resources=(Resource("*"),),
    )
    out = json.loads(write_json(Policy((s,), "2012-10-17")))["Statement"][0]
    assert out["Action"] == ["kms:Encrypt", "kms:Decrypt"]
    assert out["Resource"] == "*"
    assert out["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}


def test_negated_elements_and_absent_version() -> None:
    s = Statement(
        Effect.DENY,
        (Action("kms:Decrypt"),),
        principals=(ROOT,),
        not_principal=True,
        not_action=True,
        resources=(Resource("*"),),
        not_resource=True,
    )
    out = json.loads(write_json(Policy((s,))))
    assert "Version" not in out
    assert set(out["Statement"][0]) == {"Effect", "NotPrincipal", "NotAction", "NotResource"}


def test_principals_and_conditions_grouped_in_first_appearance_order() -> None:
    svc = Principal(PrincipalKind.SERVICE, "ec2.amazonaws.com")
    other = Principal(PrincipalKind.AWS, "444455556666")
    conditions = (
        Condition(ConditionOperator.STRING_EQUALS, "kms:CallerAccount", (ConditionValue("1"),)),
        Condition(ConditionOperator.BOOL, "aws:SecureTransport", (ConditionValue(True),)),
        Condition(
            ConditionOperator.STRING_EQUALS,
            "kms:ViaService",
            (ConditionValue("a"), ConditionValue("b")),
        ),
    )
    s = Statement(
        Effect.ALLOW, (Action("*"),), principals=(ROOT, svc, other), conditions=conditions
    )
    out = json.loads(write_json(Policy((s,))))["Statement"][0]
    assert out["Principal"] == {"AWS": [ROOT.value, "444455556666"], "Service": svc.value}
    assert out["Condition"] == {
        "StringEquals": {"kms:CallerAccount": "1", "kms:ViaService": ["a", "b"]},
        "Bool": {"aws:SecureTransport": True},
    }


def test_indent_none_is_compact() -> None:
    s = Statement(Effect.ALLOW, (Action("*"),))
    compact = '{"Statement": [{"Effect": "Allow", "Action": "*"}]}'
    assert write_json(Policy((s,)), indent=None) == compact


def test_non_ascii_is_written_as_is() -> None:
    s = Statement(Effect.ALLOW, (Action("*"),), sid="café")
    assert '"café"' in write_json(Policy((s,)))


def test_refuses_what_json_cannot_express() -> None:
    twice = Condition(ConditionOperator.BOOL, "aws:SecureTransport", (ConditionValue(True),))
    with pytest.raises(PolicyError, match="appears twice"):
        write_json(Policy((Statement(Effect.ALLOW, (Action("*"),), conditions=(twice, twice)),)))
    anyone = Principal(PrincipalKind.ANY, "*")
    with pytest.raises(PolicyError, match="cannot be combined"):
        write_json(Policy((Statement(Effect.ALLOW, (Action("*"),), principals=(anyone, ROOT)),)))


def test_refusals_name_the_statement_by_sid_or_position() -> None:
    empty = Condition(ConditionOperator.BOOL, "aws:SecureTransport", ())
    ok = Statement(Effect.ALLOW, (Action("*"),))
    with pytest.raises(PolicyError, match=r"^statement #2: condition `Bool` on .* has no values"):
        write_json(Policy((ok, Statement(Effect.ALLOW, (Action("*"),), conditions=(empty,)))))
    anyone = Principal(PrincipalKind.ANY, "*")
    with pytest.raises(PolicyError, match=r"^statement `S1`: the principal `\*`"):
        write_json(
            Policy((Statement(Effect.ALLOW, (Action("*"),), sid="S1", principals=(anyone, ROOT)),))
        )
