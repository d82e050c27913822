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
from typing import Any

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


# --- fast construction for the readers ---------------------------------------------------------
# The readers make tens of thousands of nodes per megabyte of policy text. A frozen dataclass's
# __init__ sets every field through ``object.__setattr__`` (≈100 ns a field); setting the slots
# through their descriptors skips that detour and makes the same node in about half the time.
# Each builder takes every field positionally, in declaration order;
# tests/lang/test_ast_builders.py checks they make exactly what the constructors make.


def _setters(cls: type, count: int) -> tuple[Any, ...]:
    names = cls.__slots__  # type: ignore[attr-defined]  # slots=True: the fields, in order
    assert len(names) == count  # INVARIANT: a builder sets every field of its node
    return tuple(cls.__dict__[name].__set__ for name in names)


_new = object.__new__
_ACTION = _setters(Action, 2)
_RESOURCE = _setters(Resource, 2)
_PRINCIPAL = _setters(Principal, 3)
_VALUE = _setters(ConditionValue, 2)
_CONDITION = _setters(Condition, 6)
_STATEMENT = _setters(Statement, 11)


def new_action(name: str, span: Span | None) -> Action:
    node = _new(Action)
    _ACTION[0](node, name)
    _ACTION[1](node, span)
    return node


def new_resource(arn: str, span: Span | None) -> Resource:
    node = _new(Resource)
    _RESOURCE[0](node, arn)
    _RESOURCE[1](node, span)
    return node


def new_principal(kind: PrincipalKind, value: str, span: Span | None) -> Principal:
    node = _new(Principal)
    _PRINCIPAL[0](node, kind)
    _PRINCIPAL[1](node, value)
    _PRINCIPAL[2](node, span)
    return node


def new_condition_value(value: ScalarValue, span: Span | None) -> ConditionValue:
    node = _new(ConditionValue)
    _VALUE[0](node, value)
    _VALUE[1](node, span)
    return node


def new_condition(
    operator: ConditionOperator,
    key: str,
    values: tuple[ConditionValue, ...],
    qualifier: SetQualifier | None,
    if_exists: bool,
    span: Span | None,
) -> Condition:
    node = _new(Condition)
    set_operator, set_key, set_values, set_qualifier, set_if_exists, set_span = _CONDITION
    set_operator(node, operator)
    set_key(node, key)
    set_values(node, values)
    set_qualifier(node, qualifier)
    set_if_exists(node, if_exists)
    set_span(node, span)
    return node


def new_statement(
    effect: Effect,
    actions: tuple[Action, ...],
    sid: str | None,
    principals: tuple[Principal, ...] | None,
    not_principal: bool,
    not_action: bool,
    resources: tuple[Resource, ...] | None,
    not_resource: bool,
    conditions: tuple[Condition, ...],
    span: Span | None,
    comments: tuple[str, ...],
) -> Statement:
    node = _new(Statement)
    (
        set_effect,
        set_actions,
        set_sid,
        set_principals,
        set_not_principal,
        set_not_action,
        set_resources,
        set_not_resource,
        set_conditions,
        set_span,
        set_comments,
    ) = _STATEMENT
    set_effect(node, effect)
    set_actions(node, actions)
    set_sid(node, sid)
    set_principals(node, principals)
    set_not_principal(node, not_principal)
    set_not_action(node, not_action)
    set_resources(node, resources)
    set_not_resource(node, not_resource)
    set_conditions(node, conditions)
    set_span(node, span)
    set_comments(node, comments)
    return node
