"""The AWS JSON reader: every shape IAM accepts, and Access-Analyzer-like positioned errors."""

from __future__ import annotations

import json

import pytest

from kmspolicy.lang import (
    ConditionOperator,
    Effect,
    PolicySyntaxError,
    PrincipalKind,
    SetQualifier,
    read_json,
)
from kmspolicy.lang.awsjson import KEY_POLICY_MAX_BYTES

ROOT = "arn:aws:iam::111122223333:root"


def doc(*statements: dict[str, object], **top: object) -> str:
    return json.dumps(
        {"Version": "2012-10-17", **top, "Statement": list(statements)},
        indent=2,
        ensure_ascii=False,
    )


def stmt(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def errors(text: str | bytes, **kw: bool) -> list[tuple[str, str | None]]:
    with pytest.raises(PolicySyntaxError) as info:
        read_json(text, "p.json", **kw)
    for d in info.value.diagnostics:
        assert d.span is not None and d.span.source == "p.json" and d.span.line >= 1
    return [(d.code, d.span.path if d.span else None) for d in info.value.diagnostics]


def test_single_statement_object_and_string_values() -> None:
    text = json.dumps(
        {
            "Statement": {
                "Effect": "Deny",
                "NotAction": "kms:Decrypt",
                "NotResource": "arn:aws:kms:us-east-1:111122223333:key/k",
            }
        }
    )
    policy = read_json(text)
    (s,) = policy.statements
    assert policy.version is None and policy.id is None
    assert s.effect is Effect.DENY and s.not_action and s.not_resource
    assert [a.name for a in s.actions] == ["kms:Decrypt"]
    assert s.principals is None


def test_versions_2008_and_2012_accepted() -> None:
    assert read_json(doc(stmt(), Version="2008-10-17")).version == "2008-10-17"
    assert read_json(doc(stmt())).variables_enabled


def test_principal_star_differs_from_aws_star() -> None:
    bare = read_json(doc(stmt(Principal="*"))).statements[0].principals
    aws = read_json(doc(stmt(Principal={"AWS": "*"}))).statements[0].principals
    assert bare is not None and bare[0].kind is PrincipalKind.ANY
    assert aws is not None and aws[0].kind is PrincipalKind.AWS
    assert bare != aws


def test_every_principal_kind() -> None:
    principal = {
        "AWS": ["111122223333", "arn:aws:sts::111122223333:assumed-role/R/s"],
        "Service": "ec2.amazonaws.com",
        "Federated": "cognito-identity.amazonaws.com",
        "CanonicalUser": "7" * 64,
    }
    s = read_json(doc(stmt(NotPrincipal=principal, Principal=None, Effect="Deny"))).statements[0]
    assert s.not_principal
    assert [p.kind for p in s.principals or ()] == [
        PrincipalKind.AWS,
        PrincipalKind.AWS,
        PrincipalKind.SERVICE,
        PrincipalKind.FEDERATED,
        PrincipalKind.CANONICAL_USER,
    ]


def test_condition_values_keep_their_json_types() -> None:
    cond = {
        "ForAnyValue:StringLikeIfExists": {"kms:EncryptionContextKeys": ["a*", "b"]},
        "Bool": {"aws:SecureTransport": True},
        "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": 30},
        "NumericGreaterThan": {"aws:MultiFactorAuthAge": 1.5},
        "StringEquals": {"kms:CallerAccount": "111122223333", "s3:prefix": "home/"},
    }
    conditions = read_json(doc(stmt(Condition=cond))).statements[0].conditions
    first = conditions[0]
    assert first.qualifier is SetQualifier.FOR_ANY_VALUE and first.if_exists
    assert first.operator is ConditionOperator.STRING_LIKE
    assert first.operator_text == "ForAnyValue:StringLikeIfExists"
    assert [v.value for v in first.values] == ["a*", "b"]
    values = [c.values[0].value for c in conditions[1:4]]
    assert values == [True, 30, 1.5]
    assert isinstance(values[0], bool) and isinstance(values[1], int)
    assert [c.key for c in conditions] == [
        "kms:EncryptionContextKeys",
        "aws:SecureTransport",
        "kms:ScheduleKeyDeletionPendingWindowInDays",
        "aws:MultiFactorAuthAge",
        "kms:CallerAccount",
        "s3:prefix",
    ]


def test_operator_names_are_spelt_exactly() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        read_json(doc(stmt(Condition={"stringequals": {"kms:CallerAccount": "1"}})))
    assert info.value.diagnostics[0].help == "did you mean `StringEquals`?"


def test_every_node_has_a_position_and_path() -> None:
    policy = read_json(doc(stmt(Condition={"Bool": {"aws:SecureTransport": "true"}})), "p.json")
    s = policy.statements[0]
    assert s.span is not None and (s.span.line, s.span.path) == (4, "Statement[0]")
    assert s.actions[0].span is not None and s.actions[0].span.path == "Statement[0].Action"
    assert s.conditions[0].span is not None
    assert s.conditions[0].span.path == "Statement[0].Condition.Bool.aws:SecureTransport"
    assert s.conditions[0].values[0].span is not None


def test_both_action_and_notaction() -> None:
    assert errors(doc(stmt(NotAction="kms:Decrypt"))) == [
        ("action-and-notaction", "Statement[0].NotAction")
    ]


def test_neither_action_nor_notaction() -> None:
    assert errors(doc(stmt(Action=None))) == [("missing-action", "Statement[0]")]


def test_missing_effect() -> None:
    assert errors(doc(stmt(Effect=None))) == [("missing-effect", "Statement[0]")]


def test_invalid_effect_suggests() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        read_json(doc(stmt(Effect="allow")))
    assert info.value.diagnostics[0].help == "did you mean `Allow`?"


def test_unknown_condition_operator_suggests() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        read_json(doc(stmt(Condition={"StringEqual": {"kms:CallerAccount": "1"}})), "p.json")
    (d,) = info.value.diagnostics
    assert d.code == "unknown-operator" and d.help == "did you mean `StringEquals`?"
    assert d.span is not None and d.span.path == "Statement[0].Condition.StringEqual"
    assert "p.json:" in str(info.value) and "^" in str(info.value)


@pytest.mark.parametrize("op", ["NullIfExists", "ForSomeValues:StringEquals", "IfExists", "Bool:X"])
def test_invalid_operator_spellings(op: str) -> None:
    got = errors(doc(stmt(Condition={op: {"aws:SecureTransport": "1"}})))
    assert got[0][0] == "unknown-operator"


def test_misspelt_kms_condition_key_suggests_the_prefix() -> None:
    cond = {"StringEquals": {"kms:EncryptionContxt:dept": "x"}}
    with pytest.raises(PolicySyntaxError) as info:
        read_json(doc(stmt(Condition=cond)))
    assert info.value.diagnostics[0].help == "did you mean `kms:EncryptionContext:dept`?"


def test_other_services_condition_keys_pass() -> None:
    read_json(doc(stmt(Condition={"StringEquals": {"s3:x-amz-acl": "private"}})))


@pytest.mark.parametrize("resource", ["arn:aws:kms", "key/1234", "", "arn:aws:kms:us-east-1:1"])
def test_malformed_resource_arn(resource: str) -> None:
    assert errors(doc(stmt(Resource=resource))) == [("malformed-arn", "Statement[0].Resource")]


@pytest.mark.parametrize(
    "resource",
    [
        # the IAM User Guide's example of a default value ("Specifying default values")
        "arn:aws:s3:::amzn-s3-demo-bucket-${aws:PrincipalTag/team, 'company-wide'}",
        "arn:aws:kms:*:${aws:PrincipalAccount}:key/*",
    ],
)
def test_resource_arn_with_variables(resource: str) -> None:
    read_json(doc(stmt(Resource=resource)))


def test_a_space_outside_a_variable_is_still_malformed() -> None:
    resource = "arn:aws:s3:::bucket ${aws:username}"
    assert errors(doc(stmt(Resource=resource))) == [("malformed-arn", "Statement[0].Resource")]


@pytest.mark.parametrize(
    "principal",
    [
        "arn:aws:iam:111122223333:root",
        "1234",
        "root",
        "",
        "arn:aws:iam::*:root",
        "arn:aws:iam::111122223333:role/app-*",
    ],
)
def test_malformed_principal_arn(principal: str) -> None:
    assert errors(doc(stmt(Principal={"AWS": [ROOT, principal]}))) == [
        ("malformed-arn", "Statement[0].Principal.AWS[1]")
    ]


def test_unknown_principal_kind() -> None:
    assert errors(doc(stmt(Principal={"Aws": ROOT}))) == [
        ("unknown-element", "Statement[0].Principal.Aws")
    ]


def test_key_policy_statement_needs_a_principal() -> None:
    read_json(doc(stmt(Principal=None)))  # fine for an identity policy
    assert errors(doc(stmt(Principal=None)), key_policy=True) == [
        ("missing-principal", "Statement[0]")
    ]


def test_duplicate_sid() -> None:
    assert errors(doc(stmt(Sid="A"), stmt(Sid="A"))) == [("duplicate-sid", "Statement[1].Sid")]


def test_duplicate_json_key() -> None:
    text = '{"Statement": {"Effect": "Allow", "Effect": "Deny", "Action": "kms:*"}}'
    with pytest.raises(PolicySyntaxError) as info:
        read_json(text)
    (d,) = info.value.diagnostics
    assert d.code == "duplicate-key" and d.span is not None and d.span.column == 35


def test_non_utf8_bytes_position() -> None:
    data = b'{\n  "Id": "caf\xe9"}'
    with pytest.raises(PolicySyntaxError) as info:
        read_json(data, "p.json")
    (d,) = info.value.diagnostics
    assert d.code == "not-utf8" and d.span is not None and (d.span.line, d.span.column) == (2, 13)


def test_key_policy_size_limit() -> None:
    padding = "x" * KEY_POLICY_MAX_BYTES
    text = doc(stmt(), Id=padding)
    read_json(text)  # no limit unless a key policy is expected
    assert ("policy-too-large", None) in errors(text, key_policy=True)


def test_key_policy_size_limit_counts_bytes_not_characters() -> None:
    text = doc(stmt(), Id="é" * 16_300)  # < 32768 characters, > 32768 UTF-8 bytes
    assert len(text) < KEY_POLICY_MAX_BYTES < len(text.encode())
    assert errors(text, key_policy=True)[0][0] == "policy-too-large"


def test_key_policy_character_set() -> None:
    assert errors(doc(stmt(Sid="snow ☃")), key_policy=True)[0][0] == "invalid-character"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("Effect", 1, "Statement[0].Effect"),
        ("Action", {"a": 1}, "Statement[0].Action"),
        ("Resource", ["*", 2], "Statement[0].Resource[1]"),
        ("Sid", ["a"], "Statement[0].Sid"),
        ("Condition", [], "Statement[0].Condition"),
        ("Principal", 7, "Statement[0].Principal"),
    ],
)
def test_wrong_types(field: str, value: object, path: str) -> None:
    assert errors(doc(stmt(**{field: value}))) == [("wrong-type", path)]


def test_wrong_type_condition_value() -> None:
    cond = {"StringEquals": {"kms:CallerAccount": [None]}}
    assert errors(doc(stmt(Condition=cond))) == [
        ("wrong-type", "Statement[0].Condition.StringEquals.kms:CallerAccount[0]")
    ]


def test_unknown_top_level_and_statement_elements() -> None:
    got = errors(json.dumps({"Versoin": "2012-10-17", "Statement": [stmt(Actions="x")]}))
    assert got == [("unknown-element", "Versoin"), ("unknown-element", "Statement[0].Actions")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"Statement": [}', "expected a JSON value"),
        ('{"Statement": []', "expected `,` or `}`"),
        ('{"Statement": [],}', "expected a quoted key"),
        ("{'Statement': 1}", "expected a quoted key"),
        ('{"Id": "a\nb"}', "malformed JSON string"),
        ("[" * 100, "nested deeper"),
        ('{"Id": 1e999}', "out of range"),
        ('{"a": 1} x', "after the JSON document"),
        ("", "expected a JSON value"),
    ],
)
def test_json_syntax_errors_are_positioned(text: str, message: str) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        read_json(text)
    (d,) = info.value.diagnostics
    assert d.code == "json-syntax" and message in d.message and d.span is not None


def test_every_problem_is_reported_at_once() -> None:
    text = doc(stmt(Effect=None), stmt(Resource="nope", NotAction="kms:x"))
    assert sorted(c for c, _ in errors(text)) == [
        "action-and-notaction",
        "malformed-arn",
        "missing-effect",
    ]


def test_invalid_version_and_missing_statement() -> None:
    assert errors(doc(stmt(), Version="2012-10-18")) == [("invalid-version", "Version")]
    assert errors('{"Version": "2012-10-17"}') == [("missing-statement", None)]
    assert errors('{"Statement": []}') == [("empty-list", "Statement")]
