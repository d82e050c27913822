"""The policy AST: one immutable, typed tree for both faces of the language (DSL and AWS JSON).

Layer: lang (pure). Every node carries a ``span`` (excluded from equality and repr) and DSL
comments ride along on policies and statements (also excluded from equality), so
``read_json(write_json(p)) == p`` and ``parse(format(p)) == p`` compare meaning, not layout.

A reader may leave a node's span unmade: the slot then holds the span's key in its document and
the Span is made when ``span`` is first read (``_LazySpan``). The AWS JSON reader makes its
tens of thousands of nodes that way; most reads of a policy never look at a span.

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

from kmspolicy.lang.span import Locator, Span


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


class _Node:
    """Base of the nodes: where a span left to be made on first read is found (``_LazySpan``).

    Not dataclass fields: they hold how to make the span, not what the node is."""

    __slots__ = ("_span_locator", "_span_step")


@dataclass(frozen=True, slots=True)
class Principal(_Node):
    kind: PrincipalKind
    value: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Action(_Node):
    """An action pattern such as ``kms:Decrypt`` or ``kms:GenerateDataKey*``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Resource(_Node):
    """A resource pattern: an ARN (wildcards allowed) or ``*``."""

    arn: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ConditionValue(_Node):
    value: ScalarValue
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Condition(_Node):
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
class Statement(_Node):
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
class Policy(_Node):
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


# --- spans made on first read ----------------------------------------------------------------


class _LazySpan:
    """A node's ``span``: the Span in the slot, or made from the key a reader left there.

    A reader that leaves a span unmade stores its key (a tuple, e.g. the JSON steps to the
    value) in the slot and the locator and step in the node's ``_Node`` slots; the first read
    makes ``Span.deferred(locator.source, locator, key, step)`` and keeps it in the slot, so a
    node's span is made once and reads the same as one made by the reader (the node stays
    frozen to callers: the slot's only change is from a key to the span that key stands for).
    """

    __slots__ = ("_slot",)

    def __init__(self, slot: Any) -> None:
        self._slot = slot  # the slot's own descriptor, which dataclass(slots=True) made

    def __get__(self, node: Any, owner: type | None = None) -> Any:
        if node is None:
            return self
        value = self._slot.__get__(node, owner)
        if value.__class__ is tuple:
            locator = node._span_locator
            value = Span.deferred(locator.source, locator, value, node._span_step)
            self._slot.__set__(node, value)
        return value

    def __set__(self, node: Any, value: Span | None) -> None:
        self._slot.__set__(node, value)


# --- fast construction for the readers ---------------------------------------------------------
# The readers make tens of thousands of nodes per megabyte of policy text. A frozen dataclass's
# __init__ sets every field through ``object.__setattr__`` (≈100 ns a field); setting the slots
# through their descriptors skips that detour and makes the same node in about half the time.
# Each builder takes every field positionally, in declaration order, then optionally the
# locator and step of a span left to be made on first read (``span`` is then its key);
# tests/lang/test_ast_builders.py checks they make exactly what the constructors make.

#: the key of a span left to be made on first read (``_LazySpan``)
SpanKey = tuple[object, ...]


def _setters(cls: type, count: int) -> tuple[Any, ...]:
    """The slots' own setters of every field of ``cls``, in order; installs ``_LazySpan`` as
    its ``span`` (so a builder's span setter stores a key as is)."""
    names = cls.__slots__  # type: ignore[attr-defined]  # slots=True: the fields, in order
    assert len(names) == count  # INVARIANT: a builder sets every field of its node
    slots = tuple(cls.__dict__[name] for name in names)
    cls.span = _LazySpan(cls.__dict__["span"])  # type: ignore[attr-defined]  # a dataclass
    return tuple(slot.__set__ for slot in slots)


_new = object.__new__
_SET_LOCATOR = _Node.__dict__["_span_locator"].__set__
_SET_STEP = _Node.__dict__["_span_step"].__set__
_ACTION = _setters(Action, 2)
_RESOURCE = _setters(Resource, 2)
_PRINCIPAL = _setters(Principal, 3)
_VALUE = _setters(ConditionValue, 2)
_CONDITION = _setters(Condition, 6)
_STATEMENT = _setters(Statement, 11)
_POLICY = _setters(Policy, 5)


def new_action(
    name: str, span: Span | SpanKey | None, locator: Locator | None = None, step: object = None
) -> Action:
    node = _new(Action)
    _ACTION[0](node, name)
    _ACTION[1](node, span)
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
    return node


def new_resource(
    arn: str, span: Span | SpanKey | None, locator: Locator | None = None, step: object = None
) -> Resource:
    node = _new(Resource)
    _RESOURCE[0](node, arn)
    _RESOURCE[1](node, span)
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
    return node


def new_principal(
    kind: PrincipalKind,
    value: str,
    span: Span | SpanKey | None,
    locator: Locator | None = None,
    step: object = None,
) -> Principal:
    node = _new(Principal)
    _PRINCIPAL[0](node, kind)
    _PRINCIPAL[1](node, value)
    _PRINCIPAL[2](node, span)
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
    return node


def new_condition_value(
    value: ScalarValue,
    span: Span | SpanKey | None,
    locator: Locator | None = None,
    step: object = None,
) -> ConditionValue:
    node = _new(ConditionValue)
    _VALUE[0](node, value)
    _VALUE[1](node, span)
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
    return node


def new_condition(
    operator: ConditionOperator,
    key: str,
    values: tuple[ConditionValue, ...],
    qualifier: SetQualifier | None,
    if_exists: bool,
    span: Span | SpanKey | None,
    locator: Locator | None = None,
    step: object = None,
) -> Condition:
    node = _new(Condition)
    set_operator, set_key, set_values, set_qualifier, set_if_exists, set_span = _CONDITION
    set_operator(node, operator)
    set_key(node, key)
    set_values(node, values)
    set_qualifier(node, qualifier)
    set_if_exists(node, if_exists)
    set_span(node, span)
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
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
    span: Span | SpanKey | None,
    comments: tuple[str, ...],
    locator: Locator | None = None,
    step: object = None,
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
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
    return node


def new_policy(
    statements: tuple[Statement, ...],
    version: str | None,
    id: str | None,
    span: Span | SpanKey | None,
    comments: tuple[str, ...],
    locator: Locator | None = None,
    step: object = None,
) -> Policy:
    node = _new(Policy)
    set_statements, set_version, set_id, set_span, set_comments = _POLICY
    set_statements(node, statements)
    set_version(node, version)
    set_id(node, id)
    set_span(node, span)
    set_comments(node, comments)
    if locator is not None:
        _SET_LOCATOR(node, locator)
        _SET_STEP(node, step)
    return node
