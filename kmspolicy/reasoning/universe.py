"""What the policies under check talk about: condition keys, how each is compared, variables.

Layer: reasoning (pure). The symbolic request models only what some statement can observe; this
module collects that, and decides how each condition key is modelled (as text, a number, a time
or an IP address). A construct the encoding does not model raises :class:`Unsupported` — the
check then answers UNKNOWN, never PASS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from types import MappingProxyType

from kmspolicy.authz.lint.catalog import KEY_TYPES
from kmspolicy.authz.matching import has_wildcard
from kmspolicy.authz.operators import SPECS, Family, OpSpec, convert_policy, to_bool, to_text
from kmspolicy.authz.variables import Template, Variable, parse_template
from kmspolicy.lang.ast import Policy, PrincipalKind

EC_PREFIX = "kms:encryptioncontext:"
EC_KEYS = "kms:encryptioncontextkeys"
TAG_PREFIX = "aws:principaltag/"


class Unsupported(Exception):
    """A construct the encoding does not model; the message says which and where."""


class Kind(Enum):
    """How a condition key's value is modelled."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    IP = "ip"


_KIND_OF = MappingProxyType(
    {
        Family.STRING: Kind.TEXT,
        Family.ARN: Kind.TEXT,
        Family.BOOL: Kind.TEXT,
        Family.NUMERIC: Kind.NUMBER,
        Family.DATE: Kind.DATE,
        Family.IP: Kind.IP,
    }
)

#: the time keys: one instant, seen as a datetime (CurrentTime) and as epoch seconds (EpochTime)
TIME_KEYS = ("aws:currenttime", "aws:epochtime")


@dataclass
class Universe:
    """Everything the policies under check observe, gathered once before encoding."""

    #: condition key (lower-cased) → the kinds it is compared as (variables count as TEXT)
    kinds: dict[str, set[Kind]] = field(default_factory=dict)
    #: condition key → how many conditions name it (bounds the values a multi-valued key needs)
    uses: dict[str, int] = field(default_factory=dict)
    #: the spelling of each key as first written (for counterexamples)
    spelling: dict[str, str] = field(default_factory=dict)
    #: decimal places of the numeric policy values (numbers are modelled as scaled integers)
    places: int = 0
    #: key → the literals it is compared with for equality
    literals: dict[str, set[str]] = field(default_factory=dict)
    #: keys compared in some way other than equality with a literal (patterns, IgnoreCase,
    #: policy variables): their values are modelled as text, the others as a choice
    needs_text: set[str] = field(default_factory=set)
    #: Service/Federated/CanonicalUser principal values (the non-ARN callers' names)
    service_names: set[str] = field(default_factory=set)

    def compared_as_choice(self, key_lower: str) -> bool:
        return key_lower not in self.needs_text

    def add_key(self, key: str, kind: Kind | None, where: str) -> None:
        lower = key.lower()
        self.spelling.setdefault(lower, key)
        self.uses[lower] = self.uses.get(lower, 0) + 1
        kinds = self.kinds.setdefault(lower, set())
        if kind is not None:
            kinds.add(kind)
        if lower in TIME_KEYS:
            return
        if len(kinds) > 1:
            names = " and ".join(sorted(k.value for k in kinds))
            raise Unsupported(f"`{key}` is compared both as {names} ({where})")

    def kind(self, key_lower: str) -> Kind:
        kinds = self.kinds.get(key_lower) or set()
        if kinds:
            return next(iter(kinds))
        declared = KEY_TYPES.get(key_lower)
        return {"Numeric": Kind.NUMBER, "Date": Kind.DATE, "IP": Kind.IP}.get(
            declared or "", Kind.TEXT
        )

    @property
    def scale(self) -> int:
        return int(10 ** (self.places + 1))

    @property
    def ec_keys(self) -> list[str]:
        """The ``kms:EncryptionContext:<k>`` keys named (lower-cased, prefix included)."""
        return [k for k in self.kinds if k.startswith(EC_PREFIX)]

    @property
    def tag_keys(self) -> list[str]:
        return [k for k in self.kinds if k.startswith(TAG_PREFIX)]


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def gather(policies: Iterable[tuple[Policy, str]], extra_keys: Sequence[str] = ()) -> Universe:
    """The universe of ``(policy, label)`` pairs; raises :class:`Unsupported`."""
    universe = Universe()
    for key in extra_keys:
        universe.add_key(key, None, "check options")
    for policy, label in policies:
        variables = policy.variables_enabled
        for index, stmt in enumerate(policy.statements):
            where = f"{label} statement {stmt.sid or index + 1}"
            if variables:
                for resource in stmt.resources or ():
                    _variables(universe, parse_template(resource.arn), where)
            for p in stmt.principals or ():
                if p.kind not in (PrincipalKind.AWS, PrincipalKind.ANY):
                    universe.service_names.add(p.value)
            for cond in stmt.conditions:
                spec = SPECS[cond.operator]
                if spec.family is Family.BINARY:
                    raise Unsupported(f"BinaryEquals is not modelled ({where})")
                kind = _KIND_OF.get(spec.family)
                universe.add_key(cond.key, kind, where)
                lower = cond.key.lower()
                for cv in cond.values:
                    template = (
                        parse_template(cv.value)
                        if variables and spec.variables and isinstance(cv.value, str)
                        else None
                    )
                    if template is not None:
                        _variables(universe, template, where)
                        universe.needs_text.add(lower)
                    elif spec.family in (Family.STRING, Family.ARN, Family.BOOL):
                        _literal(universe, lower, spec, cv.value)
                    elif spec.family is Family.NUMERIC:
                        number = convert_policy(spec, cv.value)
                        if isinstance(number, Decimal):
                            universe.places = max(universe.places, _places(number))
    return universe


def _literal(universe: Universe, key: str, spec: OpSpec, value: object) -> None:
    """Record an equality literal, or that the key is compared otherwise."""
    text = to_text(value)
    if spec.family is Family.BOOL:
        text = to_bool(value)
        if KEY_TYPES.get(key) != "Bool":  # only then are its values exactly true/false
            universe.needs_text.add(key)
    elif spec.compare == "ieq" or (text is not None and has_wildcard(text)):
        universe.needs_text.add(key)
    if text is not None:
        universe.literals.setdefault(key, set()).add(text)


def _variables(universe: Universe, template: Template | None, where: str) -> None:
    if template is None:
        return
    for part in template.parts:
        if isinstance(part, Variable) and part.key:
            universe.add_key(part.key, Kind.TEXT, f"a policy variable in {where}")
            universe.needs_text.add(part.key_lower)
            if part.key_lower in TIME_KEYS:
                raise Unsupported(
                    f"the policy variable `${{{part.key}}}` is not modelled ({where})"
                )
