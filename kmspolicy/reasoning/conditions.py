"""Condition blocks as z3 formulas over the symbolic request, rule for rule as ``authz.conditions``.

Layer: reasoning (pure; z3). Values of one key are OR'ed (NOR'ed when negated); a missing key
makes positive operators false and negated ones true, ``IfExists`` and ``ForAllValues`` true,
``ForAnyValue`` false; ``Null`` tests presence. Policy values are converted with the evaluator's
own conversions, so a value the evaluator drops is dropped here too.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import z3

from kmspolicy.authz.operators import SPECS, Family, OpSpec, convert_policy, to_text
from kmspolicy.authz.variables import Template, Variable, parse_template
from kmspolicy.lang.ast import Condition, SetQualifier
from kmspolicy.reasoning.request import EPOCH, KeyVar, Slot, SymbolicRequest
from kmspolicy.reasoning.strings import (
    arn_pattern_regex,
    lit,
    mapped_regex,
    plain_glob_regex,
)
from kmspolicy.reasoning.terms import all_of, any_of
from kmspolicy.reasoning.universe import Kind, Unsupported

_MASK = (1 << 128) - 1


def template_text(
    template: Template, request: SymbolicRequest, where: str
) -> tuple[z3.BoolRef, z3.SeqRef, bool]:
    """(resolvable, the substituted text, whether the literal parts hold wildcards)."""
    parts: list[z3.SeqRef] = []
    resolvable: list[z3.BoolRef] = []
    wild = False
    for part in template.parts:
        if isinstance(part, str):
            wild = wild or "*" in part or "?" in part
            parts.append(lit(part))
            continue
        value, present = _variable(part, request, where)
        if part.default is not None:
            parts.append(
                z3.If(present, value, lit(part.default)) if part.key else lit(part.default)
            )
        else:
            resolvable.append(present)
            parts.append(value)
    text = parts[0] if len(parts) == 1 else z3.Concat(*parts)
    return all_of(*resolvable) if resolvable else z3.BoolVal(True), text, wild


def _variable(part: Variable, request: SymbolicRequest, where: str) -> tuple[z3.SeqRef, z3.BoolRef]:
    if not part.key:  # an escape such as ${*}: never resolves, its default is the literal
        return lit(""), z3.BoolVal(False)
    var = request.keys.get(part.key_lower)
    if var is None or var.kind is not Kind.TEXT or var.multi:
        raise Unsupported(f"the policy variable `${{{part.key}}}` is not modelled ({where})")
    slot = var.slots[0]
    return slot.value, slot.used


class ConditionEncoder:
    """Encodes the conditions of policies over one symbolic request."""

    def __init__(self, request: SymbolicRequest) -> None:
        self.request = request
        self.universe = request.universe
        #: a condition written again (same operator, key, values) is encoded once
        self._seen: dict[tuple[Any, ...], z3.BoolRef] = {}

    def encode(self, cond: Condition, *, variables: bool, where: str) -> z3.BoolRef:
        key = (
            cond.operator_text,
            cond.key.lower(),
            tuple((type(v.value).__name__, v.value) for v in cond.values),
            variables,
        )
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._encode(cond, variables=variables, where=where)
        return found

    def _encode(self, cond: Condition, *, variables: bool, where: str) -> z3.BoolRef:
        spec = SPECS[cond.operator]
        var = self.request.keys[cond.key.lower()]
        if spec.family is Family.NULL:
            wanted = [convert_policy(spec, cv.value) for cv in cond.values]
            tests = [z3.BoolVal(w == "true") != var.present for w in wanted if w is not None]
            return any_of(*tests) if tests else z3.BoolVal(False)
        tests = self._value_tests(cond, spec, var, variables, where)

        def test(index: int) -> z3.BoolRef:
            slot = var.slots[index]
            hits = [t(slot, index) for t in tests]
            return all_of(slot.valid, any_of(*hits)) if hits else z3.BoolVal(False)

        absent = (
            z3.BoolVal(True)
            if cond.qualifier is SetQualifier.FOR_ALL_VALUES or cond.if_exists
            else z3.BoolVal(False)
            if cond.qualifier is SetQualifier.FOR_ANY_VALUE
            else z3.BoolVal(spec.negated)
        )
        slots = range(len(var.slots))
        if cond.qualifier is None:
            some = any_of(*[all_of(var.slots[i].used, test(i)) for i in slots])
            found = z3.Not(some) if spec.negated else some
        elif cond.qualifier is SetQualifier.FOR_ALL_VALUES:
            found = all_of(*[z3.Implies(var.slots[i].used, test(i) != spec.negated) for i in slots])
        else:
            found = any_of(*[all_of(var.slots[i].used, test(i) != spec.negated) for i in slots])
        return z3.If(var.present, found, absent)

    def _value_tests(
        self, cond: Condition, spec: OpSpec, var: KeyVar, variables: bool, where: str
    ) -> list[Any]:
        """One function per policy value: (slot, index) → the positive comparison."""
        tests: list[Any] = []
        for cv in cond.values:
            template = (
                parse_template(cv.value)
                if variables and spec.variables and isinstance(cv.value, str)
                else None
            )
            if template is not None:
                tests.append(self._template_test(spec, template, where))
                continue
            converted = convert_policy(spec, cv.value)
            if converted is None:
                continue  # the evaluator drops a value that does not convert
            tests.append(self._static_test(spec, cv.value, converted, var))
        return tests

    def _template_test(self, spec: OpSpec, template: Template, where: str) -> Any:
        resolvable, text, wild = template_text(template, self.request, where)
        if spec.compare == "ieq" or (spec.compare in ("like", "arn") and wild):
            raise Unsupported(
                f"a policy variable inside a pattern or an IgnoreCase value is not modelled "
                f"({where})"
            )
        return lambda slot, _i: all_of(resolvable, slot.value == text)

    def _static_test(self, spec: OpSpec, raw: Any, converted: Any, var: KeyVar) -> Any:
        family = spec.family
        if family in (Family.STRING, Family.ARN, Family.BOOL):
            text = to_text(raw) if family is not Family.BOOL else converted
            assert text is not None  # converted is not None
            op = {Family.ARN: "arn", Family.BOOL: "bool"}.get(family, spec.compare)
            fallback = self._text_test(spec, family, text)

            def structural(slot: Slot, index: int) -> z3.BoolRef:
                if slot.matcher is not None and op in ("eq", "arn", "like", "bool"):
                    decided = slot.matcher(op, text)
                    if decided is not None:
                        return decided
                return fallback(slot, index)

            return structural
        return self._typed_test(spec, converted, var)

    def _text_test(self, spec: OpSpec, family: Family, text: str) -> Any:
        """A comparison on the value's text."""
        if family is Family.BOOL:
            regex = mapped_regex(text, "lower")
        elif family is Family.ARN:
            regex = arn_pattern_regex(((text, False),))
        elif spec.compare == "ieq":
            regex = mapped_regex(text, "casefold")
        elif spec.compare == "like":
            regex = plain_glob_regex(text)
        else:
            value = lit(text)
            return lambda slot, _i: slot.value == value
        return lambda slot, _i: z3.InRe(slot.value, regex)

    def _typed_test(self, spec: OpSpec, converted: Any, var: KeyVar) -> Any:
        family = spec.family
        if family is Family.NUMERIC:
            scaled = _scaled(converted, self.universe.scale)
            return _ordered(spec.compare, scaled)
        if family is Family.DATE:
            return _ordered(spec.compare, _microseconds(converted))
        if family is Family.IP:
            network = converted
            mask = int(network.netmask)
            prefix = int(network.network_address)
            version = network.version

            def inside(slot: Slot, index: int) -> z3.BoolRef:
                address = slot.value
                assert isinstance(address, z3.BitVecRef)
                return all_of(
                    var.versions[index] == version,
                    (address & z3.BitVecVal(mask & _MASK, 128)) == z3.BitVecVal(prefix, 128),
                )

            return inside
        raise Unsupported(f"operator family {family.value} is not modelled")


def _ordered(compare: str, bound: int) -> Any:
    def test(slot: Slot, _index: int) -> z3.BoolRef:
        value = slot.value
        assert isinstance(value, z3.ArithRef)
        return {
            "eq": value == bound,
            "lt": value < bound,
            "le": value <= bound,
            "gt": value > bound,
            "ge": value >= bound,
        }[compare]

    return test


def _scaled(number: Decimal, scale: int) -> int:
    scaled = number * scale
    if scaled != scaled.to_integral_value():
        raise AssertionError("the scale covers every policy value's decimal places")
    return int(scaled)


def _microseconds(when: datetime) -> int:
    delta = when - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
