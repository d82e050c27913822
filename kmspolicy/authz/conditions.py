"""Condition evaluation: one (operator, key, values) triple against a request.

Layer: authz (pure). Rules (IAM User Guide, condition operators and multivalued keys):
values of one key are OR'ed (NOR'ed for negated operators); a missing key makes positive
operators false and negated ones true; ``IfExists`` makes a missing key true; ``ForAllValues``
is true for a missing or empty set, ``ForAnyValue`` false; ``Null: true`` means "absent".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmspolicy.authz.matching import compile_arn_pieces, compile_glob_pieces
from kmspolicy.authz.operators import (
    SPECS,
    Family,
    OpSpec,
    compare,
    convert_policy,
    convert_request,
)
from kmspolicy.authz.variables import Template, parse_template
from kmspolicy.lang.ast import Condition, SetQualifier

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request

_FOR_ALL = SetQualifier.FOR_ALL_VALUES
_FOR_ANY = SetQualifier.FOR_ANY_VALUE


def resolved_policy_value(spec: OpSpec, template: Template, request: Request) -> Any:
    """A templated policy value after substitution, converted; None if unresolvable."""
    pieces = template.resolve(request)
    if pieces is None:
        return None
    if spec.compare == "like":
        return compile_glob_pieces(pieces)
    if spec.compare == "arn":
        return compile_arn_pieces(pieces)
    text = "".join(t for t, _ in pieces)
    return text.casefold() if spec.compare == "ieq" else text


class CompiledCondition:
    """A condition with its policy values converted once; templates resolved per request."""

    __slots__ = (
        "_convert",
        "if_exists",
        "key",
        "key_lower",
        "qualifier",
        "source",
        "spec",
        "templates",
        "values",
    )

    def __init__(self, cond: Condition, *, variables: bool) -> None:
        self.source = cond
        self.key = cond.key
        self.key_lower = cond.key.lower()
        self.spec = SPECS[cond.operator]
        self.qualifier = cond.qualifier
        self.if_exists = cond.if_exists
        values: list[Any] = []
        templates: list[Template] = []
        for cv in cond.values:
            template = (
                parse_template(cv.value)
                if (variables and self.spec.variables and isinstance(cv.value, str))
                else None
            )
            if template is not None:
                templates.append(template)
                continue
            converted = convert_policy(self.spec, cv.value)
            if converted is not None:
                values.append(converted)
        self.values: tuple[Any, ...] = tuple(values)
        self.templates: tuple[Template, ...] = tuple(templates)
        fam = self.spec.family
        self._convert: Callable[[Any], Any] = (
            (lambda v: v) if fam is Family.NULL else (lambda v: convert_request(fam, v))
        )

    def _policy_values(self, request: Request, missing: list[str]) -> tuple[Any, ...]:
        if not self.templates:
            return self.values
        extra = []
        for template in self.templates:
            value = resolved_policy_value(self.spec, template, request)
            if value is None:
                missing.extend(k for k in template.keys if request.get(k) is None)
            else:
                extra.append(value)
        return self.values + tuple(extra)

    def evaluate(self, request: Request, missing: list[str]) -> bool:
        spec = self.spec
        found = request.lookup(self.key_lower)
        if spec.family is Family.NULL:
            present = bool(found)
            return any((v == "true") != present for v in self.values)
        if not found:
            if found is None:
                missing.append(self.key)
            if self.qualifier is _FOR_ALL or self.if_exists:
                return True
            if self.qualifier is _FOR_ANY:
                return False
            return spec.negated
        pvals = self._policy_values(request, missing)
        convert = self._convert

        def positive(raw: Any) -> bool:
            rv = convert(raw)
            if rv is None:
                return False
            return any(compare(spec, rv, pv) for pv in pvals)

        if self.qualifier is None:
            hit = any(positive(v) for v in found)
            return not hit if spec.negated else hit
        if self.qualifier is _FOR_ALL:
            return all(positive(v) != spec.negated for v in found)
        return any(positive(v) != spec.negated for v in found)


def describe(cond: Condition) -> str:
    """``StringEquals kms:CallerAccount`` — operator and key, never the values."""
    return f"{cond.operator_text} {cond.key}"
