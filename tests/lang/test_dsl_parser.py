"""The DSL parser: every JSON construct, comments, several policies, and positioned errors."""

from __future__ import annotations

import pytest

from kmspolicy.lang import (
    ConditionOperator,
    Effect,
    PolicySyntaxError,
    PrincipalKind,
    SetQualifier,
    parse_dsl,
    read_json,
)
from kmspolicy.lang.grammar import build_parser, grammar_text

FULL = """\
# file comment
policy "finance-key" version 2012-10-17

# enable IAM
allow "EnableIAM"
  principal aws "arn:aws:iam::111122223333:root"
  action kms:*
  resource *

deny "RequireDeptContext"
  not principal aws "111122223333", service "ec2.amazonaws.com",
                federated "cognito-identity.amazonaws.com", canonical-user "%s"
  not action kms:Decrypt, "kms:GenerateDataKey*"
  not resource "arn:aws:kms:us-east-1:111122223333:key/*"
  when ForAnyValue:StringNotEqualsIfExists kms:EncryptionContext:dept ["finance", "hr"]
   and Bool aws:SecureTransport false
   and NumericLessThan "kms:ScheduleKeyDeletionPendingWindowInDays" 7
   and NumericEquals aws:MultiFactorAuthAge -1.5e3

policy
allow action *
""" % ("a" * 64)


def test_grammar_is_lalr_and_strict() -> None:
    parser = build_parser(strict=True)  # raises on any conflict or terminal collision
    assert parser.options.parser == "lalr"


def test_strict_build_would_catch_a_terminal_collision() -> None:
    from lark import Lark
    from lark.exceptions import LexError

    with pytest.raises(LexError, match="Collision"):  # the check above is not a no-op
        Lark("start: A | B\nA: /a+/\nB: /a+b?/", parser="lalr", strict=True)


def test_grammar_loads_from_the_checkout() -> None:
    assert "policy:" in grammar_text()


def test_every_construct_parses() -> None:
    first, second = parse_dsl(FULL, "f.kmsp")
    assert (first.id, first.version) == ("finance-key", "2012-10-17")
    assert (second.id, second.version) == (None, None)
    allow, deny = first.statements
    assert allow.effect is Effect.ALLOW and allow.sid == "EnableIAM"
    assert deny.not_principal and deny.not_action and deny.not_resource
    assert [p.kind for p in deny.principals or ()] == [
        PrincipalKind.AWS,
        PrincipalKind.SERVICE,
        PrincipalKind.FEDERATED,
        PrincipalKind.CANONICAL_USER,
    ]
    assert [a.name for a in deny.actions] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    c0, c1, c2, c3 = deny.conditions
    assert c0.qualifier is SetQualifier.FOR_ANY_VALUE and c0.if_exists
    assert c0.operator is ConditionOperator.STRING_NOT_EQUALS
    assert [v.value for v in c0.values] == ["finance", "hr"]
    assert c1.values[0].value is False
    assert c2.key == "kms:ScheduleKeyDeletionPendingWindowInDays" and c2.values[0].value == 7
    assert c3.values[0].value == -1500.0
    (bare,) = second.statements
    assert bare.principals is None and bare.resources is None and bare.sid is None


def test_comments_attach_to_the_policy_and_statement_below() -> None:
    first, _ = parse_dsl(FULL)
    assert first.comments == ("file comment",)
    assert first.statements[0].comments == ("enable IAM",)
    assert first.statements[1].comments == ()


def test_comment_inside_a_statement_stays_with_it() -> None:
    (p,) = parse_dsl("policy\nallow\n  # why\n  action * # trailing\n# end\n")
    assert p.statements[0].comments == ("why", "trailing", "end")


def test_principal_star_and_aws_star() -> None:
    (p,) = parse_dsl("policy allow principal * action * deny principal aws * action *")
    assert p.statements[0].principals is not None
    assert p.statements[0].principals[0].kind is PrincipalKind.ANY
    assert p.statements[1].principals is not None
    assert p.statements[1].principals[0].kind is PrincipalKind.AWS


def test_version_2008() -> None:
    assert parse_dsl("policy version 2008-10-17 allow action *")[0].version == "2008-10-17"


def test_strings_use_json_escapes() -> None:
    (p,) = parse_dsl(r'policy "a\"b\u00e9\n" allow action * when StringEquals "s3:odd key" "x\\y"')
    assert p.id == 'a"bé\n'
    assert p.statements[0].conditions[0].key == "s3:odd key"
    assert p.statements[0].conditions[0].values[0].value == "x\\y"


def test_string_true_differs_from_bool_true() -> None:
    (p,) = parse_dsl('policy allow action * when Bool aws:SecureTransport ["true", true]')
    assert [type(v.value) for v in p.statements[0].conditions[0].values] == [str, bool]


def test_dsl_equals_json() -> None:
    json_text = """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Principal": {"AWS": ["111122223333"]}, "Action": ["kms:Encrypt"], "Resource": "*",
      "Condition": {"StringEquals": {"kms:ViaService": ["s3.us-east-1.amazonaws.com"]}}}]}"""
    dsl = """policy version 2012-10-17 allow principal aws "111122223333" action kms:Encrypt
             resource * when StringEquals kms:ViaService "s3.us-east-1.amazonaws.com" """
    assert parse_dsl(dsl) == [read_json(json_text)]


def test_positions() -> None:
    (p,) = parse_dsl("policy\n\nallow\n  action kms:Decrypt\n", "f.kmsp")
    s = p.statements[0]
    assert s.span is not None and (s.span.source, s.span.line, s.span.column) == ("f.kmsp", 3, 1)
    a = s.actions[0].span
    assert a is not None and (a.line, a.column, a.end_column) == (4, 10, 21)


def test_empty_and_comment_only_files_hold_no_policies() -> None:
    assert parse_dsl("") == []
    assert parse_dsl("# nothing yet\n") == []


def diagnostic(text: str) -> tuple[str, str, str | None, int, int]:
    with pytest.raises(PolicySyntaxError) as info:
        parse_dsl(text, "f.kmsp")
    d = info.value.diagnostics[0]
    assert d.span is not None
    assert str(info.value).startswith(f"f.kmsp:{d.span.line}:{d.span.column}: error[")
    return d.code, d.message, d.help, d.span.line, d.span.column


def test_misspelt_keyword_suggests() -> None:
    code, message, help, line, col = diagnostic("policy\nallow acton *")
    assert (code, help, line, col) == ("syntax", "did you mean `action`?", 2, 7)
    assert "expected `action`" in message


def test_misspelt_effect_suggests() -> None:
    assert diagnostic("policy alow action *")[2] == "did you mean `allow`?"


def test_misspelt_operator_suggests() -> None:
    text = 'policy allow action * when StringEqual kms:CallerAccount "1"'
    code, _, help, _, col = diagnostic(text)
    assert (code, help, col) == ("unknown-operator", "did you mean `StringEquals`?", 28)


def test_misspelt_qualifier_suggests() -> None:
    help = diagnostic('policy allow action * when ForAnyValues:StringLike aws:TagKeys "a"')[2]
    assert help == "did you mean `ForAnyValue:StringLike`?"


def test_misspelt_condition_key_suggests() -> None:
    code, _, help, _, _ = diagnostic(
        'policy allow action * when StringEquals kms:EncryptionContxt:dept "x"'
    )
    assert code == "unknown-condition-key"
    assert help == "did you mean `kms:EncryptionContext:dept`?"


def test_misspelt_global_key_suggests() -> None:
    assert (
        diagnostic("policy allow action * when Bool aws:SecureTransprt true")[2]
        == "did you mean `aws:SecureTransport`?"
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("allow action *", "missing-policy-header"),
        ("policy allow principal * resource *", "missing-action"),
        ("policy allow action * principal *", "clause-order"),
        ("policy allow principal aws arn:aws:iam::111122223333:root action *", "unquoted-value"),
        (
            "policy allow action * when StringEquals kms:CallerAccount resource *",
            "missing-condition-value",
        ),
        (
            'policy allow action * when aws:PrincipalArn ArnLike "arn:aws:iam::1:role/x"',
            "condition-shape",
        ),
    ],
)
def test_common_mistakes_are_named_by_example(text: str, code: str) -> None:
    assert diagnostic(text)[0] == code


def test_unexpected_end_of_input_points_past_the_text() -> None:
    _, message, _, line, col = diagnostic("policy\nallow")
    assert (line, col) == (2, 6) and "end of input" in message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('policy allow "a" action * allow "a" action *', "duplicate-sid"),
        (
            "policy allow action * when Bool aws:SecureTransport true"
            " and Bool aws:SecureTransport false",
            "duplicate-condition",
        ),
        ('policy allow principal *, aws "111122223333" action *', "any-principal-mixed"),
        ('policy allow principal aws "root" action *', "malformed-arn"),
        ('policy allow principal service "not a service" action *', "malformed-principal"),
        ('policy allow action * resource "key/1"', "malformed-arn"),
        ('policy allow action "kms Decrypt"', "malformed-action"),
        ("policy allow action * when NullIfExists aws:TagKeys true", "unknown-operator"),
        ("policy allow action * when NumericEquals aws:EpochTime " + "9" * 200, "syntax"),
        ("policy version 2013-10-17 allow action *", "syntax"),
        ('policy "\\ud800" allow action *', "syntax"),
    ],
)
def test_invalid_policies(text: str, code: str) -> None:
    assert diagnostic(text)[0] == code


def test_all_semantic_errors_reported_together() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_dsl('policy allow action * resource "x" when Bol aws:x 1')
    assert [d.code for d in info.value.diagnostics] == [
        "malformed-arn",
        "unknown-operator",
        "unknown-condition-key",
    ]


def test_non_utf8_bytes() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_dsl(b"policy \xff", "f.kmsp")
    assert info.value.diagnostics[0].code == "not-utf8"


def test_a_string_with_an_unpaired_surrogate_is_quoted_printably() -> None:
    # the principal is reported twice (the escape, the ARN check); the second message quotes the
    # value, which must still encode as UTF-8 or `kmspolicy lint` crashed printing it
    text = 'policy allow principal aws "arn:aws:iam::44445555\\ud8006666:root" action *'
    with pytest.raises(PolicySyntaxError) as info:
        parse_dsl(text, "p.kmsp")
    assert [d.code for d in info.value.diagnostics] == ["syntax", "malformed-arn"]
    assert "44445555\ufffd6666" in info.value.diagnostics[1].message
    str(info.value).encode("utf-8")
