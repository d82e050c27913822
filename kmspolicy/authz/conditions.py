"""Condition evaluation: one (operator, key, values) triple against a request.

Layer: authz (pure). Rules (IAM User Guide, condition operators and multivalued keys):
values of one key are OR'ed (NOR'ed for negated operators); a missing key makes positive
operators false and negated ones true; ``IfExists`` makes a missing key true; ``ForAllValues``
is true for a missing or empty set, ``ForAnyValue`` false; ``Null: true`` means "absent".
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from kmspolicy._cache import BoundedCache
from kmspolicy.authz.limits import COMPILE_COST, TEST_COST
from kmspolicy.authz.matching import (
    ArnGlob,
    Glob,
    Piece,
    compile_arn_pieces,
    compile_glob_pieces,
    has_wildcard,
    memoised,
    resolved_memo,
)
from kmspolicy.authz.operators import (
    SPECS,
    Family,
    OpSpec,
    compare,
    convert_policy,
    convert_request,
    to_text,
)
from kmspolicy.authz.variables import Template, parse_template
from kmspolicy.lang.ast import Condition, SetQualifier

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request

_FOR_ALL = SetQualifier.FOR_ALL_VALUES
_FOR_ANY = SetQualifier.FOR_ANY_VALUE


def resolved_policy_value(
    spec: OpSpec,
    template: Template,
    request: Request,
    resolved: BoundedCache[tuple[Piece, ...], Any] | None = None,
) -> Any:
    """A templated policy value after substitution, converted; None if unresolvable.
    ``resolved`` keeps the patterns compiled from substituted pieces (its owner's, bounded)."""
    pieces = template.resolve(request)
    if pieces is None:
        return None
    if spec.compare in ("like", "arn"):
        compile_pieces: Callable[[tuple[Piece, ...]], Glob | ArnGlob] = (
            compile_glob_pieces if spec.compare == "like" else compile_arn_pieces
        )
        pattern = (
            compile_pieces(pieces)
            if resolved is None
            else memoised(resolved, pieces, compile_pieces)
        )
        if pattern.compile_chars:  # charged memoised or not: the same decision every time
            request.charge(COMPILE_COST * pattern.compile_chars)
        return pattern
    text = "".join(t for t, _ in pieces)
    return text.casefold() if spec.compare == "ieq" else text


def _test_eq(raw: Any, pvals: Collection[Any]) -> bool:
    text = raw if type(raw) is str else to_text(raw)
    return text is not None and text in pvals


def _test_ieq(raw: Any, pvals: Collection[Any]) -> bool:
    text = raw if type(raw) is str else to_text(raw)
    return text is not None and text.casefold() in pvals


def _test_pattern(raw: Any, pvals: Any) -> bool:
    """``pvals``: see :func:`_patterns` (wildcard-free values first, as a set)."""
    text = raw if type(raw) is str else to_text(raw)
    if text is None:
        return False
    if text in pvals[0]:
        return True
    for pattern in pvals[1]:  # noqa: SIM110 - a plain loop beats any(<generator>) on this hot path
        if pattern.matches(text):
            return True
    return False


#: a pattern operator's policy values: (wildcard-free texts, compiled patterns, what one
#: request value's tests are charged, what each of its characters is charged; limits.py)
Patterns = tuple[frozenset[str], tuple[Any, ...], int, int]


def _patterns(exact: frozenset[str], globs: tuple[Any, ...]) -> Patterns:
    return exact, globs, TEST_COST * len(globs), sum(g.weight for g in globs)


def _charge(request: Request, found: tuple[Any, ...], pvals: Patterns) -> None:
    """Charge the decision the worst case of testing ``found`` against the patterns."""
    try:
        chars = sum(map(len, found))
    except TypeError:  # a number, a date…: its text is short
        chars = sum(len(v) if isinstance(v, str) else 32 for v in found)
    request.charge(len(found) * pvals[2] + chars * pvals[3])


def _generic_test(spec: OpSpec) -> Callable[[Any, Collection[Any]], bool]:
    family = spec.family

    def test(raw: Any, pvals: Collection[Any]) -> bool:
        rv = convert_request(family, raw)
        return rv is not None and any(compare(spec, rv, pv) for pv in pvals)

    return test


class CompiledCondition:
    """A condition with its policy values converted once; templates resolved per request.

    String equality tests are set lookups; pattern operators look wildcard-free values up in a
    set too, and run pre-compiled globs, charged to the decision first (``limits.py``).
    """

    __slots__ = (
        "_resolved",
        "_test",
        "if_exists",
        "is_null",
        "is_pattern",
        "key",
        "key_lower",
        "negated",
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
        spec = self.spec = SPECS[cond.operator]
        self.negated = spec.negated
        self.is_null = spec.family is Family.NULL
        self.qualifier = cond.qualifier
        self.if_exists = cond.if_exists
        self.is_pattern = spec.compare in ("like", "arn")
        values: list[Any] = []
        exact: set[str] = set()
        templates: list[Template] = []
        for cv in cond.values:
            template = (
                parse_template(cv.value)
                if (variables and spec.variables and isinstance(cv.value, str))
                else None
            )
            if template is not None:
                templates.append(template)
                continue
            if self.is_pattern:
                text = to_text(cv.value)
                if text is not None and not has_wildcard(text):
                    exact.add(text)  # matched as StringEquals matches: one set lookup
                    continue
            converted = convert_policy(spec, cv.value)
            if converted is not None:
                values.append(converted)
        self.templates: tuple[Template, ...] = tuple(templates)
        #: patterns compiled from the templates' substituted pieces, bounded
        self._resolved: BoundedCache[tuple[Piece, ...], Any] | None = (
            resolved_memo() if templates and self.is_pattern else None
        )
        string_eq = spec.family is Family.STRING and spec.compare in ("eq", "ieq")
        self.values: Any
        if self.is_pattern:
            self.values = _patterns(frozenset(exact), tuple(values))
        else:
            self.values = frozenset(values) if string_eq else tuple(values)
        self._test: Callable[[Any, Any], bool]
        if string_eq:
            self._test = _test_eq if spec.compare == "eq" else _test_ieq
        elif self.is_pattern:
            self._test = _test_pattern
        else:
            self._test = _generic_test(spec)

    def _policy_values(self, request: Request, missing: list[str]) -> Any:
        if not self.templates:
            return self.values
        extra = []
        for template in self.templates:
            value = resolved_policy_value(self.spec, template, request, self._resolved)
            if value is None:
                missing.extend(k for k in template.keys if request.get(k) is None)
            else:
                extra.append(value)
        if self.is_pattern:
            exact, globs = self.values[0], self.values[1]
            return _patterns(exact, (*globs, *extra)) if extra else self.values
        return (*self.values, *extra)

    def evaluate(self, request: Request, missing: list[str]) -> bool:
        # inlined Request.lookup: this runs once per condition of every candidate statement
        found = request._values.get(self.key_lower)
        if found is None:
            found = request.caller.derived.get(self.key_lower)
        if self.is_null:
            present = bool(found)
            return any((v == "true") != present for v in self.values)
        if not found:
            if found is None:
                missing.append(self.key)
            if self.qualifier is _FOR_ALL or self.if_exists:
                return True
            if self.qualifier is _FOR_ANY:
                return False
            return self.negated
        pvals = self._policy_values(request, missing) if self.templates else self.values
        if self.is_pattern and pvals[2]:
            _charge(request, found, pvals)
        test = self._test
        negated = self.negated
        qualifier = self.qualifier
        if qualifier is None:
            for raw in found:
                if test(raw, pvals):
                    return not negated
            return negated
        if qualifier is _FOR_ALL:
            return all(test(raw, pvals) != negated for raw in found)
        return any(test(raw, pvals) != negated for raw in found)


def describe(cond: Condition) -> str:
    """``StringEquals kms:CallerAccount`` — operator and key, never the values."""
    return f"{cond.operator_text} {cond.key}"
