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
from kmspolicy.lang.awsjson import read_json
from kmspolicy.lang.diagnostics import Diagnostic, PolicySyntaxError, Severity
from kmspolicy.lang.dsl import parse_dsl
from kmspolicy.lang.jsonwriter import write_json
from kmspolicy.lang.loader import load_policies, read_policies
from kmspolicy.lang.printer import format_dsl
from kmspolicy.lang.span import Span

__all__ = [
    "Action",
    "Condition",
    "ConditionOperator",
    "ConditionValue",
    "Diagnostic",
    "Effect",
    "Policy",
    "PolicySyntaxError",
    "Principal",
    "PrincipalKind",
    "Resource",
    "ScalarValue",
    "SetQualifier",
    "Severity",
    "Span",
    "Statement",
    "format_dsl",
    "load_policies",
    "parse_dsl",
    "read_json",
    "read_policies",
    "write_json",
]
