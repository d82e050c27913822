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
# __init__ sets every field through ``object.__setattr__`` (≈100 ns a field), and so would any
# store into a frozen node: its class's own __setattr__ refuses stores. A builder therefore fills
# the node's *draft* — a class with the node's layout (the same base and slots, in the same
# order) and the plain __setattr__, whose stores the interpreter specialises to a slot write —
# and then makes it a node by assigning ``__class__`` (Python allows that between classes of
# one layout, and checks it). About half the time of setting the slots through their
# descriptors, which was itself about half the constructor's. Each builder takes every field
# positionally, in declaration order, then optionally the locator and step of a span left to
# be made on first read (``span`` is then its key); tests/lang/test_ast_builders.py checks they
# make exactly what the constructors make.

#: the key of a span left to be made on first read (``_LazySpan``)
SpanKey = tuple[object, ...]


def _draft(cls: type) -> Any:
    """The draft class of node class ``cls``; installs ``_LazySpan`` as its ``span`` (so a
    draft's span slot holds a key as is, and the node makes the Span on first read)."""
    names = cls.__slots__  # type: ignore[attr-defined]  # slots=True: the fields, in order
    draft = type(f"{cls.__name__}Draft", (_Node,), {"__slots__": names})
    cls.span = _LazySpan(cls.__dict__["span"])  # type: ignore[attr-defined]  # a dataclass
    return draft


_ActionDraft = _draft(Action)
_ResourceDraft = _draft(Resource)
_PrincipalDraft = _draft(Principal)
_ValueDraft = _draft(ConditionValue)
_ConditionDraft = _draft(Condition)
_StatementDraft = _draft(Statement)
_PolicyDraft = _draft(Policy)


def new_action(
    name: str, span: Span | SpanKey | None, locator: Locator | None = None, step: object = None
) -> Action:
    node = _ActionDraft()
    node.name = name
    node.span = span
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = Action
    return node  # type: ignore[no-any-return]


def new_resource(
    arn: str, span: Span | SpanKey | None, locator: Locator | None = None, step: object = None
) -> Resource:
    node = _ResourceDraft()
    node.arn = arn
    node.span = span
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = Resource
    return node  # type: ignore[no-any-return]


def new_principal(
    kind: PrincipalKind,
    value: str,
    span: Span | SpanKey | None,
    locator: Locator | None = None,
    step: object = None,
) -> Principal:
    node = _PrincipalDraft()
    node.kind = kind
    node.value = value
    node.span = span
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = Principal
    return node  # type: ignore[no-any-return]


def new_condition_value(
    value: ScalarValue,
    span: Span | SpanKey | None,
    locator: Locator | None = None,
    step: object = None,
) -> ConditionValue:
    node = _ValueDraft()
    node.value = value
    node.span = span
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = ConditionValue
    return node  # type: ignore[no-any-return]


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
    node = _ConditionDraft()
    node.operator = operator
    node.key = key
    node.values = values
    node.qualifier = qualifier
    node.if_exists = if_exists
    node.span = span
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = Condition
    return node  # type: ignore[no-any-return]


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
    node = _StatementDraft()
    node.effect = effect
    node.actions = actions
    node.sid = sid
    node.principals = principals
    node.not_principal = not_principal
    node.not_action = not_action
    node.resources = resources
    node.not_resource = not_resource
    node.conditions = conditions
    node.span = span
    node.comments = comments
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = Statement
    return node  # type: ignore[no-any-return]


def new_policy(
    statements: tuple[Statement, ...],
    version: str | None,
    id: str | None,
    span: Span | SpanKey | None,
    comments: tuple[str, ...],
    locator: Locator | None = None,
    step: object = None,
) -> Policy:
    node = _PolicyDraft()
    node.statements = statements
    node.version = version
    node.id = id
    node.span = span
    node.comments = comments
    if locator is not None:
        node._span_locator = locator
        node._span_step = step
    node.__class__ = Policy
    return node  # type: ignore[no-any-return]
