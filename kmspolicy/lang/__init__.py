"""The policy language: AST, DSL parser and printer, AWS JSON reader and writer, diagnostics.

Layer: lang (pure: no I/O beyond reading the packaged grammar, no crypto). Imports only
``kmspolicy.errors``.
"""

from kmspolicy.lang.ast import (
    Action,
    Condition,
    ConditionOperator,
    ConditionValue,
    Effect,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    ScalarValue,
    SetQualifier,
    Statement,
)
from kmspolicy.lang.span import Span

__all__ = [
    "Action",
    "Condition",
    "ConditionOperator",
    "ConditionValue",
    "Effect",
    "Policy",
    "Principal",
    "PrincipalKind",
    "Resource",
    "ScalarValue",
    "SetQualifier",
    "Span",
    "Statement",
]
