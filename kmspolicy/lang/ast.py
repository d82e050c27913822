"""The policy AST: one immutable, typed tree for both faces of the language (DSL and AWS JSON).

Layer: lang (pure). Every node carries a ``span`` (excluded from equality and repr) and DSL
comments ride along on policies and statements (also excluded from equality), so
``read_json(write_json(p)) == p`` and ``parse(format(p)) == p`` compare meaning, not layout.

Shape choices that keep JSON round trips lossless:
* ``"Principal": "*"`` is one ``Principal(PrincipalKind.ANY, "*")``; ``{"AWS": "*"}`` is
  ``Principal(PrincipalKind.AWS, "*")`` — the two are different documents.
* Whether a single value was written as a string or a one-element list is not kept (the writer
  emits a string for one value, a list for several).
* ``Resource`` may be absent (``resources is None``); ``Action`` may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kmspolicy.lang.span import Span


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class PrincipalKind(StrEnum):
    """The principal kinds of IAM (JSON key names), plus ANY for the bare ``"*"``."""

    ANY = "*"
    AWS = "AWS"
    SERVICE = "Service"
    FEDERATED = "Federated"
    CANONICAL_USER = "CanonicalUser"


class SetQualifier(StrEnum):
    FOR_ALL_VALUES = "ForAllValues"
    FOR_ANY_VALUE = "ForAnyValue"


class ConditionOperator(StrEnum):
    """Base condition operators (without qualifier or ``IfExists``)."""

    STRING_EQUALS = "StringEquals"
    STRING_NOT_EQUALS = "StringNotEquals"
    STRING_EQUALS_IGNORE_CASE = "StringEqualsIgnoreCase"
    STRING_NOT_EQUALS_IGNORE_CASE = "StringNotEqualsIgnoreCase"
    STRING_LIKE = "StringLike"
    STRING_NOT_LIKE = "StringNotLike"
    NUMERIC_EQUALS = "NumericEquals"
    NUMERIC_NOT_EQUALS = "NumericNotEquals"
    NUMERIC_LESS_THAN = "NumericLessThan"
    NUMERIC_LESS_THAN_EQUALS = "NumericLessThanEquals"
    NUMERIC_GREATER_THAN = "NumericGreaterThan"
    NUMERIC_GREATER_THAN_EQUALS = "NumericGreaterThanEquals"
    DATE_EQUALS = "DateEquals"
    DATE_NOT_EQUALS = "DateNotEquals"
    DATE_LESS_THAN = "DateLessThan"
    DATE_LESS_THAN_EQUALS = "DateLessThanEquals"
    DATE_GREATER_THAN = "DateGreaterThan"
    DATE_GREATER_THAN_EQUALS = "DateGreaterThanEquals"
    BOOL = "Bool"
    BINARY_EQUALS = "BinaryEquals"
    IP_ADDRESS = "IpAddress"
    NOT_IP_ADDRESS = "NotIpAddress"
    ARN_EQUALS = "ArnEquals"
    ARN_LIKE = "ArnLike"
    ARN_NOT_EQUALS = "ArnNotEquals"
    ARN_NOT_LIKE = "ArnNotLike"
    NULL = "Null"


#: A condition value as written: JSON allows strings, booleans and numbers.
ScalarValue = str | bool | int | float


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    value: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Action:
    """An action pattern such as ``kms:Decrypt`` or ``kms:GenerateDataKey*``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource pattern: an ARN (wildcards allowed) or ``*``."""

    arn: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ConditionValue:
    value: ScalarValue
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair of a Condition block with its values (OR'ed, or NOR'ed when
    the operator is negated)."""

    operator: ConditionOperator
    key: str
    values: tuple[ConditionValue, ...]
    qualifier: SetQualifier | None = None
    if_exists: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)

    @property
    def operator_text(self) -> str:
        """The operator as AWS JSON spells it: ``ForAnyValue:StringLikeIfExists``."""
        prefix = f"{self.qualifier.value}:" if self.qualifier else ""
        return f"{prefix}{self.operator.value}{'IfExists' if self.if_exists else ''}"


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    #: Action values, or NotAction values when ``not_action``
    actions: tuple[Action, ...]
    sid: str | None = None
    #: Principal values (NotPrincipal when ``not_principal``); None when the element is absent
    principals: tuple[Principal, ...] | None = None
    not_principal: bool = False
    not_action: bool = False
    #: Resource values (NotResource when ``not_resource``); None when the element is absent
    resources: tuple[Resource, ...] | None = None
    not_resource: bool = False
    conditions: tuple[Condition, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)
    #: DSL comment lines written just above the statement (without the leading ``#``)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)


def statement_label(index: int, statement: Statement) -> str:
    """How messages name a statement: by Sid, else by its 1-based position in the policy."""
    return f"statement `{statement.sid}`" if statement.sid else f"statement #{index + 1}"


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    #: "2012-10-17", "2008-10-17", or None when the document has no Version
    version: str | None = None
    #: the document's Id (the DSL writes it as the policy's name)
    id: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    comments: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def variables_enabled(self) -> bool:
        """Policy variables are substituted only in Version 2012-10-17 documents."""
        return self.version == "2012-10-17"
