"""The symbolic request: a caller, an action, a resource and a context, as z3 terms.

Layer: reasoning (pure; z3). Only *real* requests are modelled (docs/check.md): the keys AWS
derives from the caller agree with it, single-valued keys hold one value, organization paths
start with the caller's organization, ``kms:EncryptionContextKeys`` are the keys of the
``kms:EncryptionContext:`` pairs, operation-specific ``kms:`` keys appear only on their
operations, and actions that are not about a key target ``*``. :meth:`SymbolicRequest.concrete`
turns a model back into an ``authz.Request`` that the evaluator replays.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from types import MappingProxyType
from typing import Any

import z3

from kmspolicy.authz import Caller, Request
from kmspolicy.authz.lint.catalog import KEY_TYPES, KMS_ACTIONS, MULTI_VALUED, key_applies_to
from kmspolicy.authz.matching import has_wildcard
from kmspolicy.authz.operators import to_text
from kmspolicy.reasoning.strings import (
    chars,
    decode,
    glob_regex,
    lit,
    mapped_regex,
    plus,
    re_lit,
)
from kmspolicy.reasoning.terms import all_of, any_of
from kmspolicy.reasoning.universe import (
    EC_KEYS,
    EC_PREFIX,
    TAG_PREFIX,
    TIME_KEYS,
    Kind,
    Universe,
    Unsupported,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: the last microsecond a datetime can hold (9999-12-31T23:59:59.999999Z)
MAX_TIME_US = 253402300799999999
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
_NAME = plus(chars("A-Za-z0-9+=,.@_-"))
#: the key id shown when no statement constrains it
EXAMPLE_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
# the same shapes as Python regexes, to decide principal values without string equations
_NAME_PY = r"[A-Za-z0-9+=,.@_-]{1,64}"
_ACCOUNT = re.compile(r"[0-9]{12}")
_SERVICE = re.compile(r"[a-z0-9.-]+\.amazonaws\.com")
_USER = re.compile(rf"user/((?:[A-Za-z0-9+=,.@_-]+/)*)({_NAME_PY})")
_SESSION = re.compile(rf"assumed-role/({_NAME_PY})/({_NAME_PY})")
_FEDERATED = re.compile(rf"federated-user/({_NAME_PY})")
_ORG = re.compile(r"o-[a-z0-9]+")
_ROLE = re.compile(rf"arn:([a-z-]+):iam::([0-9]{{12}}):role/({_NAME_PY})")


def _segment_regex(glob: str) -> re.Pattern[str]:
    """One of the first five segments of an ARN pattern (wildcards never cross ``:``), as
    ``authz.matching`` compiles it."""
    body = "".join("[^:]*" if c == "*" else "[^:]" if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.DOTALL)


def _in_segment(term: z3.SeqRef, glob: str) -> z3.BoolRef:
    if glob.strip("*") == "" and glob:
        return z3.BoolVal(True)
    if not has_wildcard(glob):
        return term == lit(glob)
    return z3.InRe(term, glob_regex(((glob, False),), arn=True))


class CallerType(IntEnum):
    """The callers a real request can come from (a bare role ARN cannot call; its sessions do)."""

    ACCOUNT = 0
    USER = 1
    ASSUMED_ROLE = 2
    FEDERATED_USER = 3
    SERVICE = 4
    ANONYMOUS = 5


ALL_CALLERS = tuple(CallerType)
_PRINCIPAL_TYPE = MappingProxyType(
    {
        CallerType.ACCOUNT: "Account",
        CallerType.USER: "User",
        CallerType.ASSUMED_ROLE: "AssumedRole",
        CallerType.FEDERATED_USER: "FederatedUser",
        CallerType.SERVICE: "Service",
        CallerType.ANONYMOUS: "Anonymous",
    }
)
_WITH_ACCOUNT = (
    CallerType.ACCOUNT,
    CallerType.USER,
    CallerType.ASSUMED_ROLE,
    CallerType.FEDERATED_USER,
)
_TAGGED = (CallerType.USER, CallerType.ASSUMED_ROLE, CallerType.FEDERATED_USER)
#: actions KMS authorizes against an alias as well as a key
ALIAS_ACTIONS = frozenset({"kms:createalias", "kms:deletealias", "kms:updatealias"})


class Slot:
    """One value of a condition key: whether it is there, and (when it converts) what it is.

    ``valid``: the value converts in its kind (a number that parses, an address…); always true
    for text. ``matcher``: for values derived from the caller's parts (account ids, the
    principal ARN), decides "equals this literal" (``eq``) or "matches this ARN pattern"
    (``arn``) on the parts, or returns None; the text itself (a costlier word term) is built
    only when a comparison needs it."""

    __slots__ = ("_make", "_value", "matcher", "used", "valid")

    def __init__(
        self,
        used: z3.BoolRef,
        value: z3.ExprRef | Callable[[], z3.ExprRef],
        valid: z3.BoolRef | None = None,
        matcher: Callable[[str, str], z3.BoolRef | None] | None = None,
    ) -> None:
        self.used = used
        self.valid = valid if valid is not None else z3.BoolVal(True)
        self.matcher = matcher
        self._value: z3.ExprRef | None = None if callable(value) else value
        self._make = value if callable(value) else None

    @property
    def value(self) -> z3.ExprRef:
        if self._value is None:
            assert self._make is not None
            self._value = self._make()
        return self._value


@dataclass
class KeyVar:
    name: str
    kind: Kind
    slots: list[Slot]
    multi: bool
    #: for an IP key: the address family (4 or 6) of each slot
    versions: list[z3.ArithRef] = field(default_factory=list)
    #: for a key compared only for equality: each slot's choice among the literals
    choices: list[Choice] = field(default_factory=list)

    @property
    def present(self) -> z3.BoolRef:
        return any_of(*[s.used for s in self.slots]) if self.multi else self.slots[0].used


class Choice:
    """A text that only ever meets equality with literals: one of those literals, or one other
    value standing for every text that equals none of them (all such texts decide alike)."""

    def __init__(self, name: str, literals: Sequence[str], other: str) -> None:
        while other in literals:
            other = f"{other}-x"
        self.options = [*dict.fromkeys(literals), other]
        self.index = z3.Int(name)
        self.constraints = [self.index >= 0, self.index < len(self.options)]
        #: option → its index, and lower-cased option → indexes (``Bool`` compares lower-cased)
        self._position = {o: i for i, o in enumerate(self.options)}
        self._lowered: dict[str, list[int]] = {}
        for i, o in enumerate(self.options):
            self._lowered.setdefault(o.lower(), []).append(i)
        #: (op, text) → the formula: policies repeat their literals, each is encoded once
        self._decided: dict[tuple[str, str], z3.BoolRef | None] = {}

    @functools.cached_property
    def term(self) -> z3.ExprRef:
        """The chosen text (built only when a comparison needs the text itself)."""
        term: z3.ExprRef = lit(self.options[-1])
        for i in range(len(self.options) - 2, -1, -1):
            term = z3.If(self.index == i, lit(self.options[i]), term)
        return term

    def where(self, test: Callable[[str], bool]) -> z3.BoolRef:
        return self._among([i for i, option in enumerate(self.options) if test(option)])

    def _among(self, hits: Sequence[int]) -> z3.BoolRef:
        return any_of(*[self.index == i for i in hits]) if hits else z3.BoolVal(False)

    def matcher(self, op: str, text: str) -> z3.BoolRef | None:
        key = (op, text)
        if key not in self._decided:
            self._decided[key] = self._match(op, text)
        return self._decided[key]

    def _match(self, op: str, text: str) -> z3.BoolRef | None:
        if op == "bool":
            return self._among(self._lowered.get(text, ()))
        if op == "eq" or (op in ("arn", "like") and not has_wildcard(text)):
            position = self._position.get(text)
            return self._among(() if position is None else (position,))
        return None


@dataclass(frozen=True)
class Space:
    """Which requests a check ranges over (set by the policy type; docs/check.md)."""

    #: lower-cased KMS actions in scope; ``other_services``: also other services' actions
    kms_actions: frozenset[str]
    other_services: bool
    callers: tuple[CallerType, ...] = ALL_CALLERS
    #: key and alias requests: the owner account, when known
    resource_account: str | None = None
    #: the caller's account, when fixed
    caller_account: str | None = None


def kms_action_names() -> dict[str, str]:
    """lower-cased ``kms:`` action → its spelling."""
    return {f"kms:{a}".lower(): f"kms:{a}" for a in KMS_ACTIONS}


class SymbolicRequest:
    """The request variables and the constraints that keep them real."""

    def __init__(
        self,
        universe: Universe,
        space: Space,
        caller: Caller | None = None,
        known: Mapping[str, tuple[Any, ...]] | None = None,
    ) -> None:
        """``caller``: a known caller (``who-can``): the keys derived from it (its ARN, account,
        type, user id, tags…) are then the constants the evaluator derives from that very
        ``Caller``, not terms over the symbolic caller's parts. ``known``: context keys
        (lower-cased) whose values are known, such as a key's properties; ``()`` is absent."""
        self.universe = universe
        self.space = space
        self.fixed_caller = caller
        self.known = dict(known or {})
        self.constraints: list[z3.BoolRef] = []
        self._counter = 0
        #: whether the resource's parts carry their shape constraints (added on first use)
        self._parts_constrained: bool = False
        self._caller()
        self._action()
        self._resource()
        self._time()
        self.keys: dict[str, KeyVar] = {}
        self._derived()
        self._context()

    # --- helpers ---

    def _fresh(self, prefix: str, sort: str = "str") -> Any:
        self._counter += 1
        name = f"{prefix}!{self._counter}"
        return {
            "str": z3.String,
            "int": z3.Int,
            "bool": z3.Bool,
            "bv": lambda n: z3.BitVec(n, 128),
        }[sort](name)

    def _add(self, *constraints: z3.BoolRef) -> None:
        self.constraints.extend(constraints)

    def is_type(self, *types: CallerType) -> z3.BoolRef:
        return any_of(*[self.ctype == int(t) for t in types])

    # --- the caller ---

    def _caller(self) -> None:
        self.ctype = z3.Int("caller_type")
        self._add(self.is_type(*self.space.callers))
        self.partition_n = z3.Int("partition")
        self._add(self.partition_n >= 0, self.partition_n < len(PARTITIONS))
        self.partition = z3.If(
            self.partition_n == 0,
            lit(PARTITIONS[0]),
            z3.If(self.partition_n == 1, lit(PARTITIONS[1]), lit(PARTITIONS[2])),
        )
        # accounts are integers (12 digits with leading zeros): comparing two of them is then
        # arithmetic, not a word equation; their text is built only when a condition reads it
        self.account_n = z3.Int("account")
        self._add(self.account_n >= 0, self.account_n < 10**12)
        if self.space.caller_account is not None:
            self._add(self.account_n == int(self.space.caller_account))
        self._account_text: z3.SeqRef | None = None
        self.name = z3.String("name")
        self._add(z3.InRe(self.name, _NAME))
        self.path = z3.String("path")
        self._add(z3.InRe(self.path, z3.Star(z3.Concat(_NAME, re_lit("/")))))
        self.session = z3.String("session")
        self._add(z3.InRe(self.session, _NAME))
        service_literals = sorted(
            v
            for v in self.universe.service_names
            | self.universe.literals.get("aws:principalservicename", set())
            if _SERVICE.fullmatch(v)
        )
        if "aws:principalservicename" in self.universe.needs_text:
            self.service_choice = None
            self.service: z3.ExprRef = z3.String("service")
            self._add(
                z3.InRe(self.service, z3.Concat(plus(chars("a-z0-9.-")), re_lit(".amazonaws.com")))
            )
        else:
            self.service_choice = Choice("service", service_literals, "example.amazonaws.com")
            self._add(*self.service_choice.constraints)
            self.service = self.service_choice.term
        self.unique_id = z3.String("unique_id")
        self._add(z3.InRe(self.unique_id, plus(chars("A-Z0-9"))))
        self.has_account = self.is_type(*_WITH_ACCOUNT)
        self.arn = z3.String("caller_arn")
        self.principal_arn = z3.String("principal_arn")
        self.user_id = z3.String("user_id")
        self._strings_defined = False
        # the caller's organization (aws:PrincipalOrgID / OrgPaths): only accounts belong to one
        self.in_org = z3.Bool("in_org")
        self._add(z3.Implies(self.in_org, self.has_account))
        org_literals = sorted(
            v for v in self.universe.literals.get("aws:principalorgid", set()) if _ORG.fullmatch(v)
        )
        if (
            "aws:principalorgid" in self.universe.needs_text
            or "aws:principalorgpaths" in self.universe.kinds
        ):
            self.org_choice = None
            self.org: z3.ExprRef = z3.String("org")
            self._add(z3.InRe(self.org, z3.Concat(re_lit("o-"), plus(chars("a-z0-9")))))
        else:
            self.org_choice = Choice("org", org_literals, "o-exampleorg")
            self._add(*self.org_choice.constraints)
            self.org = self.org_choice.term

    def define_caller_strings(self) -> None:
        """Tie ``arn``/``principal_arn``/``user_id`` to the caller's parts (only when a condition
        reads them: word equations are what the solver finds hardest)."""
        if self._strings_defined:
            return
        self._strings_defined = True
        account = self.account
        head = [lit("arn:"), self.partition]
        root_arn = z3.Concat(*head, lit(":iam::"), account, lit(":root"))
        role_arn = z3.Concat(*head, lit(":iam::"), account, lit(":role/"), self.name)
        t = CallerType
        shapes = {
            t.ACCOUNT: (root_arn, root_arn, account),
            t.USER: (
                z3.Concat(*head, lit(":iam::"), account, lit(":user/"), self.path, self.name),
                None,
                z3.Concat(lit("AIDA"), self.unique_id),
            ),
            t.ASSUMED_ROLE: (
                z3.Concat(
                    *head,
                    lit(":sts::"),
                    account,
                    lit(":assumed-role/"),
                    self.name,
                    lit("/"),
                    self.session,
                ),
                role_arn,
                z3.Concat(lit("AROA"), self.unique_id, lit(":"), self.session),
            ),
            t.FEDERATED_USER: (
                z3.Concat(*head, lit(":sts::"), account, lit(":federated-user/"), self.name),
                None,
                z3.Concat(account, lit(":"), self.name),
            ),
            t.SERVICE: (self.service, None, None),
            t.ANONYMOUS: (lit("*"), None, None),
        }
        for ctype, (arn, principal, user_id) in shapes.items():
            facts = [
                self.arn == arn,
                self.principal_arn == (arn if principal is None else principal),
            ]
            if user_id is not None:
                facts.append(self.user_id == user_id)
            self._add(z3.Implies(self.ctype == int(ctype), all_of(*facts)))

    def digits_text(self, number: z3.ArithRef, name: str) -> z3.SeqRef:
        """A 12-character decimal text for an account number (added on first use)."""
        text = z3.String(name)
        self._add(
            z3.Length(text) == 12,
            z3.InRe(text, z3.Star(chars("0-9"))),
            z3.StrToInt(text) == number,
        )
        return text

    @property
    def account(self) -> z3.SeqRef:
        if self._account_text is None:
            self._account_text = self.digits_text(self.account_n, "account_text")
        return self._account_text

    def partition_is(self, partition: str) -> z3.BoolRef:
        if partition not in PARTITIONS:
            return z3.BoolVal(False)
        return self.partition_n == PARTITIONS.index(partition)

    def account_is(self, account: str) -> z3.BoolRef:
        if not _ACCOUNT.fullmatch(account):
            return z3.BoolVal(False)
        return self.account_n == int(account)

    # --- structural matching: ARN literals and patterns decided on the parts ---

    def account_segment(
        self, glob: str, number: z3.ArithRef, text: Callable[[], z3.SeqRef]
    ) -> z3.BoolRef:
        """A pattern's account segment against a 12-digit account (never empty here)."""
        if not has_wildcard(glob):
            return number == int(glob) if _ACCOUNT.fullmatch(glob) else z3.BoolVal(False)
        if glob.strip("*") == "":
            return z3.BoolVal(True)
        return z3.InRe(text(), glob_regex(((glob, False),), arn=True))

    def partition_segment(self, glob: str) -> z3.BoolRef:
        regex = _segment_regex(glob)
        hits = [i for i, p in enumerate(PARTITIONS) if regex.fullmatch(p)]
        return any_of(*[self.partition_n == i for i in hits]) if hits else z3.BoolVal(False)

    def _account_matcher(self, op: str, pattern: str) -> z3.BoolRef | None:
        if op not in ("eq", "arn", "like"):
            return None
        if op == "eq" or (op == "arn" and not has_wildcard(pattern)):
            return self.account_is(pattern)
        if pattern.strip("*") == "" and pattern:
            return z3.BoolVal(True)
        return None

    def _principal_arn_text(self) -> z3.SeqRef:
        self.define_caller_strings()
        return self.principal_arn

    def _principal_arn_matcher(self, op: str, pattern: str) -> z3.BoolRef | None:
        """``aws:PrincipalArn`` (the role ARN, without its path, for a session) on the parts."""
        if op not in ("eq", "arn") or (op == "arn" and not pattern.startswith("arn:")):
            return None
        if op == "eq" or not has_wildcard(pattern):
            return self.principal_arn_is(pattern)
        segments = pattern.split(":", 5)
        if len(segments) != 6:
            return z3.BoolVal(False)
        _, part, service, region, account, rest = segments
        if _segment_regex(region).fullmatch("") is None:
            return z3.BoolVal(False)
        t = CallerType
        tail = glob_regex(((rest, False),), arn=False)
        shapes: dict[CallerType, tuple[str, Callable[[], z3.BoolRef]]] = {
            t.ACCOUNT: ("iam", lambda: z3.InRe(lit("root"), tail)),
            t.USER: ("iam", lambda: z3.InRe(z3.Concat(lit("user/"), self.path, self.name), tail)),
            t.ASSUMED_ROLE: ("iam", lambda: z3.InRe(z3.Concat(lit("role/"), self.name), tail)),
            t.FEDERATED_USER: (
                "sts",
                lambda: z3.InRe(z3.Concat(lit("federated-user/"), self.name), tail),
            ),
        }
        options = []
        for ctype, (svc, rest_ok) in shapes.items():
            if _segment_regex(service).fullmatch(svc) is None:
                continue
            options.append(
                all_of(
                    self.ctype == int(ctype),
                    self.partition_segment(part),
                    self.account_segment(account, self.account_n, lambda: self.account),
                    rest_ok(),
                )
            )
        return any_of(*options) if options else z3.BoolVal(False)

    def principal_arn_is(self, value: str) -> z3.BoolRef:
        """``aws:PrincipalArn == value``: the caller's ARN, or its role's for a session."""
        t = CallerType
        role = _ROLE.fullmatch(value)
        if role:
            partition, account, name = role.groups()
            return all_of(
                self.ctype == int(t.ASSUMED_ROLE),
                self.partition_is(partition),
                self.account_is(account),
                self.name == lit(name),
            )
        return all_of(z3.Not(self.ctype == int(t.ASSUMED_ROLE)), self.caller_is(value))

    def resource_matches(self, pattern: str) -> z3.BoolRef:
        """``authz.matching.resource_matches(pattern, resource)`` on the resource's parts when
        the pattern is an ARN pattern, on its text otherwise."""
        segments = pattern.split(":", 5)
        if not pattern.startswith("arn:") or len(segments) != 6:
            if not pattern.startswith("arn:"):
                return z3.InRe(self.resource, glob_regex(((pattern, False),), arn=False))
            return z3.BoolVal(False)  # fewer segments than an ARN: matches none, nor `*`
        _, part, service, region, account, rest = segments
        tail = glob_regex(((rest, False),), arn=False)
        common = [
            z3.Not(self.is_star),
            self.partition_segment(part),
            _in_segment(self.region, region),
        ]
        acct = self.account_segment(account, self.resource_account_n, lambda: self.resource_account)
        kms_ok = _segment_regex(service).fullmatch("kms") is not None
        key_side = (
            all_of(
                any_of(
                    all_of(self.is_key, z3.InRe(z3.Concat(lit("key/"), self.key_id), tail)),
                    all_of(self.is_alias, z3.InRe(z3.Concat(lit("alias/"), self.key_id), tail)),
                ),
                acct,
            )
            if kms_ok
            else z3.BoolVal(False)
        )
        empty_account = _segment_regex(account).fullmatch("") is not None
        other_side = all_of(
            self.is_other_service,
            _in_segment(self.resource_service, service),
            z3.If(self.has_resource_account, acct, z3.BoolVal(empty_account)),
            z3.InRe(self.resource_rest, tail),
        )
        self._resource_parts_constrained()
        return all_of(*common, any_of(key_side, other_side))

    def _resource_parts_constrained(self) -> None:
        if self._parts_constrained:
            return
        self._parts_constrained = True
        self._add(
            z3.InRe(self.region, plus(chars("a-z0-9-"))),
            z3.InRe(self.key_id, plus(chars("A-Za-z0-9-"))),
            z3.InRe(self.resource_service, plus(chars("a-z0-9-"))),
            z3.Not(self.resource_service == lit("kms")),
        )

    def caller_is(self, value: str) -> z3.BoolRef:
        """``caller.arn == value``, decided on the caller's parts (no string equations)."""
        t = CallerType
        if value == "*":
            return self.ctype == int(t.ANONYMOUS)
        if not value.startswith("arn:"):
            if _SERVICE.fullmatch(value):
                same = (
                    self.service_choice.where(lambda o: o == value)
                    if self.service_choice is not None
                    else self.service == lit(value)
                )
                return all_of(self.ctype == int(t.SERVICE), same)
            return z3.BoolVal(False)
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[1] not in PARTITIONS or not _ACCOUNT.fullmatch(parts[4]):
            return z3.BoolVal(False)
        _, partition, service, region, account, rest = parts
        if region:
            return z3.BoolVal(False)
        common = [self.partition_is(partition), self.account_is(account)]
        if service == "iam" and rest == "root":
            return all_of(self.ctype == int(t.ACCOUNT), *common)
        m = _USER.fullmatch(rest) if service == "iam" else None
        if m:
            return all_of(
                self.ctype == int(t.USER),
                *common,
                self.path == lit(m.group(1) or ""),
                self.name == lit(m.group(2)),
            )
        m = _SESSION.fullmatch(rest) if service == "sts" else None
        if m:
            return all_of(
                self.ctype == int(t.ASSUMED_ROLE),
                *common,
                self.name == lit(m.group(1)),
                self.session == lit(m.group(2)),
            )
        m = _FEDERATED.fullmatch(rest) if service == "sts" else None
        if m:
            return all_of(
                self.ctype == int(t.FEDERATED_USER), *common, self.name == lit(m.group(1))
            )
        return z3.BoolVal(False)

    def root_is(self, value: str) -> z3.BoolRef:
        """``caller.root_arn == value`` for a caller with an account."""
        parts = value.split(":", 5)
        if (
            len(parts) != 6
            or parts[1] not in PARTITIONS
            or parts[2:4] != ["iam", ""]
            or parts[5] != "root"
            or not _ACCOUNT.fullmatch(parts[4])
        ):
            return z3.BoolVal(False)
        return all_of(self.has_account, self.partition_is(parts[1]), self.account_is(parts[4]))

    def arn_text(self, model: z3.ModelRef) -> str:
        """The caller's ARN in a model, built from its parts."""

        def text(term: z3.ExprRef) -> str:
            return decode(model.eval(term, model_completion=True))

        ctype = CallerType(model.eval(self.ctype, model_completion=True).as_long())
        t = CallerType
        head = f"arn:{PARTITIONS[model.eval(self.partition_n, model_completion=True).as_long()]}"
        account = str(model.eval(self.account_n, model_completion=True).as_long()).zfill(12)
        shapes: dict[CallerType, Callable[[], str]] = {
            t.ACCOUNT: lambda: f"{head}:iam::{account}:root",
            t.USER: lambda: f"{head}:iam::{account}:user/{text(self.path)}{text(self.name)}",
            t.ASSUMED_ROLE: lambda: (
                f"{head}:sts::{account}:assumed-role/{text(self.name)}/{text(self.session)}"
            ),
            t.FEDERATED_USER: lambda: f"{head}:sts::{account}:federated-user/{text(self.name)}",
            t.SERVICE: lambda: text(self.service),
            t.ANONYMOUS: lambda: "*",
        }
        return shapes[ctype]()

    # --- action and resource ---

    def _action(self) -> None:
        """A KMS action is an index into the sorted action names; another service's action is a
        string (its name, lower-cased: action names match case-insensitively)."""
        names = sorted(self.space.kms_actions)
        self.kms_action_names = names
        #: sets of actions → "the action is one of them" (statements repeat their actions)
        self._action_sets: dict[frozenset[str], z3.BoolRef] = {}
        self.act = z3.Int("action_index")
        self.action = z3.String("other_action")
        other_index = len(names)
        self.is_other_service = self.act == other_index
        if self.space.other_services:
            self._add(self.act >= 0, self.act <= other_index)
            shape = z3.Concat(plus(chars("a-z0-9-")), re_lit(":"), plus(chars("a-z0-9")))
            self._add(
                z3.Implies(
                    self.is_other_service,
                    all_of(
                        z3.InRe(self.action, shape),
                        z3.Not(z3.PrefixOf(lit("kms:"), self.action)),
                    ),
                )
            )
        else:
            self._add(self.act >= 0, self.act < other_index)

    def action_in(self, actions: frozenset[str] | set[str]) -> z3.BoolRef:
        key = frozenset(actions)
        found = self._action_sets.get(key)
        if found is None:
            hits = [self.act == i for i, a in enumerate(self.kms_action_names) if a in key]
            found = self._action_sets[key] = any_of(*hits) if hits else z3.BoolVal(False)
        return found

    def action_text(self, model: z3.ModelRef) -> str:
        index = model.eval(self.act, model_completion=True).as_long()
        if index < len(self.kms_action_names):
            return kms_action_names()[self.kms_action_names[index]]
        return decode(model.eval(self.action, model_completion=True))

    def _resource(self) -> None:
        """Key actions target a key ARN (alias actions: a key or an alias ARN), account-level
        actions ``*``, other services' actions an ARN with an account or none, or ``*``.

        The resource's parts (account, whether it is a key) are what decisions read; the ARN
        text is a word term built only when a Resource pattern needs it (:attr:`resource`)."""
        self.resource_account_n = z3.Int("resource_account")
        self._add(self.resource_account_n >= 0, self.resource_account_n < 10**12)
        if self.space.resource_account is not None:
            self._add(self.resource_account_n == int(self.space.resource_account))
        self.is_key = z3.Bool("resource_is_key")
        self.is_alias = z3.Bool("resource_is_alias")
        self.is_star = z3.Bool("resource_is_star")
        self.has_resource_account = z3.Bool("resource_has_account")
        key_scoped = frozenset(kms_action_names()) - _account_level()
        on_key = self.action_in(key_scoped)
        other = self.is_other_service
        self._add(
            z3.Not(all_of(self.is_key, self.is_alias)),
            z3.Implies(self.is_alias, self.action_in(ALIAS_ACTIONS)),
            z3.Implies(
                on_key, all_of(any_of(self.is_key, self.is_alias), self.has_resource_account)
            ),
            z3.Implies(z3.Not(on_key), all_of(z3.Not(self.is_key), z3.Not(self.is_alias))),
            self.is_star == all_of(z3.Not(on_key), z3.Not(self.has_resource_account)),
            z3.Implies(z3.Not(any_of(on_key, other)), self.is_star),
        )
        self._resource_text: z3.SeqRef | None = None
        self._resource_account_text: z3.SeqRef | None = None
        self.region: z3.SeqRef = z3.String("region")
        self.key_id: z3.SeqRef = z3.String("key_id")
        self.resource_service: z3.SeqRef = z3.String("resource_service")
        self.resource_rest: z3.SeqRef = z3.String("resource_rest")

    @property
    def resource_account(self) -> z3.SeqRef:
        if self._resource_account_text is None:
            self._resource_account_text = self.digits_text(
                self.resource_account_n, "resource_account_text"
            )
        return self._resource_account_text

    @property
    def resource(self) -> z3.SeqRef:
        """The resource ARN as text (its constraints are added on first use)."""
        if self._resource_text is not None:
            return self._resource_text
        text = self._resource_text = z3.String("resource")
        account = self.resource_account
        region = [lit(":"), self.region, lit(":")]
        self._resource_parts_constrained()
        kms = [lit("arn:"), self.partition, lit(":kms"), *region, account]
        generic = [lit("arn:"), self.partition, lit(":"), self.resource_service, *region]
        self._add(
            z3.Implies(self.is_key, text == z3.Concat(*kms, lit(":key/"), self.key_id)),
            z3.Implies(self.is_alias, text == z3.Concat(*kms, lit(":alias/"), self.key_id)),
            z3.Implies(self.is_star, text == lit("*")),
            z3.Implies(
                all_of(self.is_other_service, z3.Not(self.is_star)),
                text
                == z3.Concat(
                    *generic,
                    z3.If(self.has_resource_account, account, lit("")),
                    lit(":"),
                    self.resource_rest,
                ),
            ),
        )
        return text

    def resource_text(self, model: z3.ModelRef) -> str:
        """The resource in a model (parts the solver did not need get readable defaults)."""

        def get(term: z3.ExprRef) -> Any:
            return model.eval(term, model_completion=True)

        if self._resource_text is not None:
            return decode(get(self._resource_text))
        if z3.is_true(get(self.is_star)):
            return "*"
        partition = PARTITIONS[get(self.partition_n).as_long()]
        account = str(get(self.resource_account_n).as_long()).zfill(12)
        parts = self._parts_constrained
        region = decode(get(self.region)) if parts else "us-east-1"
        if z3.is_true(get(self.is_key)) or z3.is_true(get(self.is_alias)):
            kind = "key" if z3.is_true(get(self.is_key)) else "alias"
            name = (
                decode(get(self.key_id))
                if parts
                else (EXAMPLE_KEY_ID if kind == "key" else "example")
            )
            return f"arn:{partition}:kms:{region}:{account}:{kind}/{name}"
        service = (
            decode(get(self.resource_service))
            if parts
            else self.action_text(model).split(":", 1)[0]
        )
        rest = decode(get(self.resource_rest)) if parts else "example"
        owner = account if z3.is_true(get(self.has_resource_account)) else ""
        return f"arn:{partition}:{service}:{region}:{owner}:{rest}"

    # --- time ---

    def _time(self) -> None:
        self.now_us = z3.Int("now_us")
        self._add(self.now_us >= 0, self.now_us <= MAX_TIME_US)

    # --- condition keys ---

    def _var(
        self,
        name: str,
        kind: Kind,
        multi: bool,
        *,
        extra_slots: int = 0,
        extra_options: Sequence[str] = (),
        other: str = "example",
    ) -> KeyVar:
        count = (self.universe.uses.get(name, 1) + 1 + extra_slots) if multi else 1
        slots: list[Slot] = []
        versions: list[z3.ArithRef] = []
        choices: list[Choice] = []
        for _ in range(count):
            used = self._fresh(f"{name}.used", "bool")
            valid: z3.BoolRef = z3.BoolVal(True)
            matcher = None
            if kind is Kind.TEXT and self.universe.compared_as_choice(name):
                self._counter += 1
                choice = Choice(
                    f"{name}!{self._counter}",
                    [*sorted(self.universe.literals.get(name, ())), *extra_options],
                    "true" if KEY_TYPES.get(name) == "Bool" else other,
                )
                choices.append(choice)
                self._add(*choice.constraints)
                value = functools.partial(getattr, choice, "term")  # the text, when needed
                matcher = choice.matcher
            elif kind is Kind.TEXT:
                value = self._fresh(name)
            elif kind is Kind.IP:
                value = self._fresh(name, "bv")
                version = self._fresh(f"{name}.v", "int")
                versions.append(version)
                valid = self._fresh(f"{name}.valid", "bool")
                self._add(
                    any_of(version == 4, version == 6),
                    z3.Implies(version == 4, z3.ULT(value, z3.BitVecVal(2**32, 128))),
                )
            else:
                value = self._fresh(name, "int")
                valid = self._fresh(f"{name}.valid", "bool")
                if kind is Kind.DATE:
                    self._add(value >= -62135596800000000, value <= MAX_TIME_US)
            slots.append(Slot(used, value, valid, matcher))
        return KeyVar(name, kind, slots, multi, versions, choices)

    def _derived(self) -> None:
        """The keys AWS derives from the caller and the clock, defined from them."""
        t = CallerType
        not_anonymous = z3.Not(self.ctype == int(t.ANONYMOUS))
        is_service = self.ctype == int(t.SERVICE)
        principal_type = z3.String("principal_type")
        for ctype, text in _PRINCIPAL_TYPE.items():
            self._add(z3.Implies(self.ctype == int(ctype), principal_type == lit(text)))
        bool_text = z3.If(is_service, lit("true"), lit("false"))
        derived: dict[str, tuple[z3.BoolRef, z3.ExprRef | None]] = {
            "aws:principaltype": (z3.BoolVal(True), principal_type),
            "aws:principalarn": (not_anonymous, self._principal_arn_text),
            "aws:principalaccount": (self.has_account, None),
            "kms:calleraccount": (self.has_account, None),
            "aws:username": (self.ctype == int(t.USER), self.name),
            "aws:userid": (
                self.is_type(t.ACCOUNT, t.USER, t.ASSUMED_ROLE, t.FEDERATED_USER),
                self.user_id,
            ),
            "aws:principalisawsservice": (not_anonymous, bool_text),
            "aws:principalservicename": (is_service, self.service),
            "aws:principalorgid": (self.in_org, self.org),
        }
        choices = {
            "aws:principalservicename": self.service_choice,
            "aws:principalorgid": self.org_choice,
        }
        for name, (present, value) in derived.items():
            if name not in self.universe.kinds:
                continue
            self._require_text(name)
            if self.fixed_caller is not None and name in _CALLER_KEYS:
                self.keys[name] = _constant(name, self.fixed_caller)
                continue
            if name == "aws:userid":
                self.define_caller_strings()
            if value is None:
                slot = Slot(present, lambda: self.account, matcher=self._account_matcher)
            elif (choice := choices.get(name)) is not None:
                slot = Slot(present, value, matcher=choice.matcher)
            elif name == "aws:principalarn":
                slot = Slot(present, value, matcher=self._principal_arn_matcher)
            else:
                slot = Slot(present, value)
            self.keys[name] = KeyVar(name, Kind.TEXT, [slot], False)
        for name in self.universe.tag_keys:
            self._require_text(name)
            if self.fixed_caller is not None:
                self.keys[name] = _constant(name, self.fixed_caller)
                continue
            var = self._var(name, Kind.TEXT, False)
            self._add(z3.Implies(var.present, self.is_type(*_TAGGED)))
            self.keys[name] = var
        if "aws:principalorgpaths" in self.universe.kinds:
            self._require_text("aws:principalorgpaths")
            var = self._var("aws:principalorgpaths", Kind.TEXT, True)
            for s in var.slots:
                self._add(
                    z3.Implies(
                        s.used,
                        all_of(self.in_org, z3.PrefixOf(z3.Concat(self.org, lit("/")), s.value)),
                    )
                )
            self.keys[var.name] = var
        self._time_keys()

    def _require_text(self, name: str) -> None:
        kinds = self.universe.kinds.get(name, set())
        if kinds - {Kind.TEXT}:
            raise Unsupported(
                f"`{self.universe.spelling.get(name, name)}` is derived from the caller as text "
                "but compared as " + " and ".join(sorted(k.value for k in kinds))
            )

    def _time_keys(self) -> None:
        seconds = self.now_us / 1_000_000
        for name in TIME_KEYS:
            kinds = self.universe.kinds.get(name)
            if kinds is None:
                continue
            if Kind.TEXT in kinds or Kind.IP in kinds or len(kinds) > 1:
                raise Unsupported(
                    f"`{self.universe.spelling[name]}` is modelled as a time and a number only, "
                    "each with one operator family"
                )
            kind = next(iter(kinds), Kind.DATE if name == "aws:currenttime" else Kind.NUMBER)
            true = z3.BoolVal(True)
            if name == "aws:currenttime":
                # a datetime: DATE compares it; NUMERIC cannot convert it (never matches)
                value = self.now_us if kind is Kind.DATE else z3.IntVal(0)
                valid = true if kind is Kind.DATE else z3.BoolVal(False)
            else:
                # whole epoch seconds: NUMERIC compares them, DATE reads them as seconds
                value = (
                    seconds * self.universe.scale if kind is Kind.NUMBER else seconds * 1_000_000
                )
                valid = true
            self.keys[name] = KeyVar(name, kind, [Slot(true, value, valid)], False)

    def _context(self) -> None:
        """Every other key the policies name: free, within what a real request can carry."""
        ec_keys = self.universe.ec_keys
        for name in self.universe.kinds:
            if name in self.keys or name in TIME_KEYS:
                continue
            multi = name in MULTI_VALUED
            kind = self.universe.kind(name)
            if name in self.known:
                self.keys[name] = self._known_var(name, kind, multi)
                continue
            if multi and kind is not Kind.TEXT:
                raise Unsupported(
                    f"`{self.universe.spelling[name]}` is multi-valued and compared as {kind.value}"
                )
            var = self._ec_keys_var(ec_keys) if name == EC_KEYS else self._var(name, kind, multi)
            if KEY_TYPES.get(name) == "Bool" and kind is Kind.TEXT:
                for s in var.slots:
                    is_bool = s.matcher("eq", "true") if s.matcher else None
                    if is_bool is not None:
                        self._add(any_of(is_bool, s.matcher("eq", "false")))  # type: ignore[misc]
                    else:
                        self._add(any_of(s.value == lit("true"), s.value == lit("false")))
            self._applicability(var)
            self.keys[name] = var
        if ec_keys and EC_KEYS not in self.keys:
            var = self._ec_keys_var(ec_keys)
            self._applicability(var)
            self.keys[EC_KEYS] = var
        if EC_KEYS in self.keys:
            self._encryption_context(ec_keys)

    def _known_var(self, name: str, kind: Kind, multi: bool) -> KeyVar:
        """A key whose values are given: constants (text only), absent when none are."""
        values = self.known[name]
        spelled = self.universe.spelling.get(name, name)
        if kind is not Kind.TEXT:
            raise Unsupported(f"`{spelled}` has a known value but is compared as {kind.value}")
        if len(values) > 1 and not multi:
            raise Unsupported(f"`{spelled}` is single-valued but has {len(values)} known values")
        texts = [to_text(v) for v in values]
        if any(t is None for t in texts):
            raise Unsupported(f"a known value of `{spelled}` is not text, a number or a Boolean")
        slots = [Slot(z3.BoolVal(True), lit(t or "")) for t in texts]
        return KeyVar(name, Kind.TEXT, slots or [Slot(z3.BoolVal(False), lit(""))], multi)

    def _applicability(self, var: KeyVar) -> None:
        applies = key_applies_to(var.name)
        if applies is not None:
            self._add(
                z3.Implies(var.present, self.action_in({f"kms:{a}".lower() for a in applies}))
            )
        elif var.name.startswith("kms:"):
            self._add(z3.Implies(var.present, z3.Not(self.is_other_service)))

    def _ec_keys_var(self, ec_keys: Sequence[str]) -> KeyVar:
        """``kms:EncryptionContextKeys``, with a slot more per named pair (so each can be listed
        besides the values conditions need). Compared only for equality, its values are a
        choice among the literals, one spelling per named key, and one other key."""
        reps = []
        literals = self.universe.literals.get(EC_KEYS, set())
        for name in ec_keys:
            spelled = self.universe.spelling.get(name, name)[len(EC_PREFIX) :]
            bare = name[len(EC_PREFIX) :]
            for candidate in (spelled, bare, bare.upper(), spelled.swapcase()):
                if candidate not in literals and candidate.lower() == bare.lower():
                    reps.append(candidate)
                    break
        other = "other-key"
        named = {name[len(EC_PREFIX) :].lower() for name in ec_keys}
        while other.lower() in named or other in literals:
            other += "-x"  # the other key must name none of the pairs
        return self._var(
            EC_KEYS,
            Kind.TEXT,
            True,
            extra_slots=len(ec_keys),
            extra_options=reps,
            other=other,
        )

    def _encryption_context(self, ec_keys: Sequence[str]) -> None:
        """``kms:EncryptionContextKeys`` is exactly the set of the context's keys: a named pair
        is present when some key of the context spells its name in any case."""
        keys_var = self.keys[EC_KEYS]
        slots = keys_var.slots
        self.ec_names = list(ec_keys)
        for name in ec_keys:
            bare = name[len(EC_PREFIX) :].lower()
            if keys_var.choices:
                spells_it = functools.partial(_lower_is, bare)
                inside = [
                    all_of(s.used, c.where(spells_it))
                    for s, c in zip(slots, keys_var.choices, strict=True)
                ]
                same = [c.index for c in keys_var.choices]
            else:
                cls = lower_regex(bare)
                inside = [all_of(s.used, z3.InRe(s.value, cls)) for s in slots]
                same = [s.value for s in slots]
            self._add(self.keys[name].present == any_of(*inside))
            # a context never names one key twice in different cases (authz refuses it)
            for i in range(len(slots)):
                for j in range(i + 1, len(slots)):
                    self._add(z3.Implies(all_of(inside[i], inside[j]), same[i] == same[j]))

    # --- from a model back to a request ---

    def concrete(self, model: z3.ModelRef) -> tuple[Request, dict[str, Any]]:
        """The request a model describes, and its JSON-ready description."""

        def text(term: z3.ExprRef) -> str:
            return decode(model.eval(term, model_completion=True))

        ctype = CallerType(model.eval(self.ctype, model_completion=True).as_long())
        tags: dict[str, str] = {}
        context: dict[str, Any] = {}
        shown: dict[str, Any] = {}
        for name, var in self.keys.items():
            if name in _CALLER_KEYS or name in TIME_KEYS or name in self.known:
                continue  # derived from the caller or the clock, or given with the request
            values = [
                self._value(model, var, i) for i, s in enumerate(var.slots) if _true(model, s.used)
            ]
            if not values:
                continue
            spelled = self.universe.spelling.get(name, name)
            if name.startswith(TAG_PREFIX):
                tags[spelled[len(TAG_PREFIX) :]] = values[0]
                shown[spelled] = values[0]
                continue
            if name == EC_KEYS or name.startswith(EC_PREFIX):
                continue  # the pairs come from the context's keys (_ec_pairs)
            context[spelled] = values if var.multi else values[0]
        ec_pairs = self._ec_pairs(model, text)
        context.update(ec_pairs)
        shown.update({k: _jsonable(v) for k, v in context.items()})
        if EC_KEYS in self.keys:
            keys = [k[len("kms:EncryptionContext:") :] for k in ec_pairs]
            if keys:
                shown["kms:EncryptionContextKeys"] = keys
        user_id = None
        if ctype in (CallerType.USER, CallerType.ASSUMED_ROLE):
            unique = text(self.unique_id)
            user_id = (
                f"AIDA{unique}"
                if ctype is CallerType.USER
                else f"AROA{unique}:{text(self.session)}"
            )
        arn = self.arn_text(model)
        caller = Caller.from_arn(arn, tags=tags, user_id=user_id)
        when = EPOCH + timedelta(
            microseconds=model.eval(self.now_us, model_completion=True).as_long()
        )
        if any(k in self.universe.kinds for k in TIME_KEYS):
            shown["aws:CurrentTime"] = when.isoformat().replace("+00:00", "Z")
        request = Request(caller, self.action_text(model), self.resource_text(model), context, when)
        return request, shown

    def _ec_pairs(self, model: z3.ModelRef, text: Any) -> dict[str, Any]:
        if EC_KEYS not in self.keys:
            return {}
        pairs: dict[str, Any] = {}
        for slot in self.keys[EC_KEYS].slots:
            if not _true(model, slot.used):
                continue
            key = text(slot.value)
            if any(k.lower() == f"kms:encryptioncontext:{key}".lower() for k in pairs):
                continue  # a case twin of a key no condition names: one of them is enough
            value: Any = "x"
            for name in self.ec_names:
                if key.lower() == name[len(EC_PREFIX) :].lower():
                    value = self._value(model, self.keys[name], 0)
            pairs[f"kms:EncryptionContext:{key}"] = value
        return pairs

    def _value(self, model: z3.ModelRef, var: KeyVar, index: int) -> Any:
        slot = var.slots[index]
        evaluated = model.eval(slot.value, model_completion=True)
        valid = _true(model, slot.valid)
        if var.kind is Kind.TEXT:
            return decode(evaluated)
        if not valid:
            return "not-a-" + var.kind.value
        if var.kind is Kind.NUMBER:
            return str(Decimal(evaluated.as_long()).scaleb(-(self.universe.places + 1)))
        if var.kind is Kind.DATE:
            return EPOCH + timedelta(microseconds=evaluated.as_long())
        version = model.eval(var.versions[index], model_completion=True).as_long()
        number = evaluated.as_long()
        address = ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number)
        return str(address)


_CALLER_KEYS = frozenset(
    {
        "aws:principaltype",
        "aws:principalarn",
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:username",
        "aws:userid",
        "aws:principalisawsservice",
        "aws:principalservicename",
    }
)


def _constant(name: str, caller: Caller) -> KeyVar:
    """A caller-derived key of a known caller: present and valued exactly as the evaluator
    derives it (``Caller.derived``: e.g. no ``aws:userid`` for a user without a known id)."""
    values = caller.derived.get(name)
    text = to_text(values[0]) if values else None
    slot = Slot(z3.BoolVal(text is not None), lit(text or ""))
    return KeyVar(name, Kind.TEXT, [slot], False)


def _account_level() -> frozenset[str]:
    from kmspolicy.authz.lint.catalog import IAM_ONLY

    return frozenset(f"kms:{a}".lower() for a in IAM_ONLY)


def _lower_is(bare: str, option: str) -> bool:
    return option.lower() == bare


def _true(model: z3.ModelRef, term: z3.BoolRef) -> bool:
    return bool(z3.is_true(model.eval(term, model_completion=True)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def lower_regex(key: str) -> z3.ReRef:
    """Every string whose ``lower()`` equals ``key.lower()`` (context-key names are matched
    lower-cased)."""
    return mapped_regex(key, "lower")
