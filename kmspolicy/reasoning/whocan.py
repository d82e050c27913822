"""``who-can``: for one key policy and known callers, which KMS actions each caller may perform
on the key — always, never, or only if the request's context satisfies a condition.

Layer: reasoning (pure; z3). For one cell the caller, the action and the key are concrete, so
whether each statement's Action, Principal and Resource match is decided by the evaluator's own
matchers (``authz.statements``); only the conditions stay symbolic, over the real-request space
of ``kmspolicy check`` with the caller's derived keys fixed to what the evaluator derives from
that caller. The decision is ``decisions.kms_allowed`` over those statements. A cell that is
neither always nor never allowed gets the *weakest* condition that allows it: a disjunction of
conjunctions of the policies' own conditions (held or not held), built from solver models and
generalised until each conjunction alone implies the allow, then blocked, until nothing that
allows is left — so the disjunction is exactly the set of contexts that allow.

Every cell is replayed through ``authz.authorize_kms`` before it is reported (the soundness
guard of the checks): a request the solver says is allowed (denied) must be allowed (denied);
each conjunction's example must be allowed. A disagreement makes the cell UNKNOWN.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

import z3

from kmspolicy.authz import (
    Caller,
    Decision,
    KmsPolicies,
    MatchedStatement,
    PolicyCache,
    PrincipalType,
    Request,
    authorize_kms,
)
from kmspolicy.authz.arn import Arn
from kmspolicy.authz.conditions import CompiledCondition
from kmspolicy.authz.decision import PolicyType
from kmspolicy.authz.limits import EvaluationLimitExceeded
from kmspolicy.authz.principals import PrincipalMatch
from kmspolicy.authz.statements import CompiledStatement, policy_name, statement_ref
from kmspolicy.authz.variables import parse_template
from kmspolicy.lang.ast import Condition, ConditionOperator, Policy
from kmspolicy.reasoning.conditions import ConditionEncoder
from kmspolicy.reasoning.decisions import Side, Slots, kms_allowed
from kmspolicy.reasoning.request import (
    _CALLER_KEYS,
    ALL_CALLERS,
    EXAMPLE_KEY_ID,
    PARTITIONS,
    CallerType,
    Space,
    SymbolicRequest,
    _account_level,
    kms_action_names,
)
from kmspolicy.reasoning.terms import all_of, any_of
from kmspolicy.reasoning.universe import TAG_PREFIX, Unsupported, gather

DEFAULT_TIMEOUT = 10.0
#: alternatives a condition may list before it is reported as incomplete
MAX_ALTERNATIVES = 8
#: the time of the request Action and Resource are matched on (neither reads the clock)
_REPLAY_TIME = datetime(2025, 1, 1, tzinfo=UTC)

_CALLER_TYPE = MappingProxyType(
    {
        PrincipalType.ACCOUNT: CallerType.ACCOUNT,
        PrincipalType.USER: CallerType.USER,
        # a role used as the caller decides like a session of it (kms_allowed reads only the
        # statements' principal matches, which the evaluator's matcher computes for the role)
        PrincipalType.ROLE: CallerType.ASSUMED_ROLE,
        PrincipalType.ASSUMED_ROLE: CallerType.ASSUMED_ROLE,
        PrincipalType.FEDERATED_USER: CallerType.FEDERATED_USER,
        PrincipalType.SERVICE: CallerType.SERVICE,
        PrincipalType.ANONYMOUS: CallerType.ANONYMOUS,
    }
)


class Access(StrEnum):
    """What a cell of the matrix says."""

    ALLOWED = "allowed"
    DENIED = "denied"
    CONDITIONAL = "allowed-only-if"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CallerPolicies:
    """A caller and the policies on its side of a decision, as the service resolves them.

    ``scps``: the SCPs of the caller's account (one level); ``rcps``: the RCPs of the key's
    account."""

    caller: Caller
    identity_policies: tuple[Policy, ...] = ()
    permissions_boundary: Policy | None = None
    session_policies: tuple[Policy, ...] = ()
    scps: tuple[Policy, ...] = ()
    rcps: tuple[Policy, ...] = ()

    def kms_policies(self, key_policy: Policy) -> KmsPolicies:
        return KmsPolicies(
            key_policy,
            identity_policies=self.identity_policies,
            scps=self.scps,
            rcps=self.rcps,
            permissions_boundary=self.permissions_boundary,
            session_policies=self.session_policies,
        )


@dataclass(frozen=True)
class Literal:
    """One condition of a policy, required to hold (or not to hold)."""

    condition: Condition
    holds: bool
    #: whether the policy reads policy variables (``${…}``) in the condition's values
    variables: bool

    @property
    def text(self) -> str:
        """The condition in the policy's words; a condition required *not* to hold is written
        as its exact opposite when the evaluator has one (``StringNotEquals`` for a
        ``StringEquals``, ``Null … false`` for ``Null … true``), else as ``not (…)``."""
        c = self.condition if self.holds else (opposite(self.condition) or self.condition)
        values = [_shown(v.value) for v in c.values]
        rendered = values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
        body = f"{c.operator_text} {c.key} {rendered}"
        return body if self.holds or c is not self.condition else f"not ({body})"

    def satisfied_by(self, request: Request) -> bool:
        """Whether ``request`` meets this literal, decided by the evaluator's own condition."""
        found = CompiledCondition(self.condition, variables=self.variables).evaluate(request, [])
        return found == self.holds

    def to_dict(self) -> dict[str, Any]:
        c = self.condition
        return {
            "condition": self.text,
            "operator": c.operator_text,
            "key": c.key,
            "values": [v.value for v in c.values],
            "holds": self.holds,
        }


_Op = ConditionOperator
#: operators whose result is exactly the other's negation when there is no set qualifier and
#: no IfExists (authz.conditions: an absent key gives the negated operator ``True``; a present
#: one, the negation of "some value matches")
_TWINS: Mapping[ConditionOperator, ConditionOperator] = MappingProxyType(
    {
        a: b
        for x, y in (
            (_Op.STRING_EQUALS, _Op.STRING_NOT_EQUALS),
            (_Op.STRING_EQUALS_IGNORE_CASE, _Op.STRING_NOT_EQUALS_IGNORE_CASE),
            (_Op.STRING_LIKE, _Op.STRING_NOT_LIKE),
            (_Op.NUMERIC_EQUALS, _Op.NUMERIC_NOT_EQUALS),
            (_Op.DATE_EQUALS, _Op.DATE_NOT_EQUALS),
            (_Op.IP_ADDRESS, _Op.NOT_IP_ADDRESS),
            (_Op.ARN_EQUALS, _Op.ARN_NOT_EQUALS),
            (_Op.ARN_LIKE, _Op.ARN_NOT_LIKE),
        )
        for a, b in ((x, y), (y, x))
    }
)


def opposite(cond: Condition) -> Condition | None:
    """The condition that holds exactly when ``cond`` does not, when one can be written."""
    if cond.qualifier is not None or cond.if_exists:
        return None
    if cond.operator is _Op.NULL:
        if len(cond.values) != 1:
            return None
        value = str(cond.values[0].value).lower()
        if value not in ("true", "false"):
            return None
        flipped = "false" if value == "true" else "true"
        return replace(cond, values=(replace(cond.values[0], value=flipped),))
    twin = _TWINS.get(cond.operator)
    return None if twin is None else replace(cond, operator=twin)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@dataclass(frozen=True)
class Cell:
    """One caller × action: the access, and why."""

    principal: str
    action: str
    access: Access
    #: allowed-only-if: the request is allowed exactly when one of these holds (each: all of
    #: its literals), unless ``complete`` is False (more alternatives than were listed)
    when: tuple[tuple[Literal, ...], ...] = ()
    complete: bool = True
    #: the statements that decided the replayed request (an allowed one when there is one)
    statements: tuple[MatchedStatement, ...] = ()
    #: the evaluator's reason for the replayed decision (UNKNOWN: what went wrong)
    reason: str = ""
    #: allowed-only-if: the context of an allowed example request
    example: Mapping[str, Any] | None = None

    def allows(self, request: Request) -> bool | None:
        """Whether this cell says ``request`` (this caller, action and key) is allowed; None for
        an UNKNOWN cell, a condition that was not listed completely, or a request whose
        conditions cost more to match than a decision may (``authz.limits``: the evaluator
        denies it, whatever the policies say)."""
        if self.access is Access.ALLOWED:
            return True
        if self.access is Access.DENIED:
            return False
        if self.access is Access.UNKNOWN:
            return None
        request.start_decision()  # the literals are charged as one decision, as the evaluator's
        try:
            if any(all(lit.satisfied_by(request) for lit in conj) for conj in self.when):
                return True
        except EvaluationLimitExceeded:
            return None
        return False if self.complete else None

    @property
    def condition_text(self) -> str:
        alts = [" and ".join(lit.text for lit in conj) for conj in self.when]
        text = " or ".join(
            f"({a})" if len(conj) > 1 and len(alts) > 1 else a
            for a, conj in zip(alts, self.when, strict=True)
        )
        return text + ("" if self.complete else " or …")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "principal": self.principal,
            "action": self.action,
            "access": self.access.value,
            "reason": self.reason,
            "statements": [_statement_dict(m) for m in self.statements],
        }
        if self.access is Access.CONDITIONAL:
            out["when"] = [[lit.to_dict() for lit in conj] for conj in self.when]
            out["condition"] = self.condition_text
            out["complete"] = self.complete
            out["example"] = dict(self.example) if self.example is not None else None
        return out


def _statement_dict(m: MatchedStatement) -> dict[str, Any]:
    return {
        "policy": m.source_policy_id,
        "policy_type": m.source_policy_type.value,
        "effect": m.effect.value,
        "sid": m.sid,
        "index": m.statement_index,
        "source": m.source,
        "line": m.line,
        "column": m.column,
    }


@dataclass(frozen=True)
class WhoCanResult:
    """The matrix: ``cells`` row by row (principals in order, actions in order)."""

    key_arn: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)

    def cell(self, principal: str, action: str) -> Cell:
        for c in self.cells:
            if c.principal == principal and c.action.lower() == action.lower():
                return c
        raise KeyError((principal, action))

    def row(self, principal: str) -> list[Cell]:
        return [c for c in self.cells if c.principal == principal]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key_arn,
            "principals": list(self.principals),
            "actions": list(self.actions),
            "notes": list(self.notes),
            "cells": [c.to_dict() for c in self.cells],
        }


def key_actions() -> list[str]:
    """The KMS actions a key policy governs (every action on a key), as AWS spells them."""
    names = kms_action_names()
    account_level = _account_level()
    return sorted(v for k, v in names.items() if k not in account_level)


def example_key_arn(account: str, region: str = "us-east-1", partition: str = "aws") -> str:
    return f"arn:{partition}:kms:{region}:{account}:key/{EXAMPLE_KEY_ID}"


#: the condition keys KMS sets on every request from the key itself (kms.context.key_context)
KEY_PROPERTIES = frozenset(
    {
        "kms:keyspec",
        "kms:customermasterkeyspec",
        "kms:keyusage",
        "kms:customermasterkeyusage",
        "kms:keyorigin",
        "kms:multiregion",
        "kms:multiregionkeytype",
        "kms:resourcealiases",
    }
)
RESOURCE_TAG_PREFIX = "aws:resourcetag/"


def who_can(
    key_policy: Policy,
    callers: Sequence[CallerPolicies],
    *,
    key_arn: str,
    actions: Sequence[str] | None = None,
    key_context: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> WhoCanResult:
    """The access of each caller to each action (default: every key action) on ``key_arn``
    under ``key_policy``, decided as ``authorize_kms`` decides (no grants).

    ``key_context``: the key's properties as the service puts them in every request's context
    (``kms:KeySpec``, ``kms:KeyUsage``, ``kms:KeyOrigin``, ``kms:MultiRegion``,
    ``kms:ResourceAliases``, ``aws:ResourceTag/<k>``…; lists are multi-valued). When given, the
    key properties it does not name are absent (the key has no such tag); when None, they are
    free, like the rest of the request's context."""
    started = time.perf_counter()
    names = kms_action_names()
    wanted = list(actions) if actions is not None else key_actions()
    spelled = []
    for action in wanted:
        lower = action.lower() if ":" in action else f"kms:{action.lower()}"
        if lower not in names or lower in _account_level():
            raise ValueError(f"`{action}` is not a KMS action on a key")
        spelled.append(names[lower])
    arn = Arn.of(key_arn)
    if arn is None or arn.service != "kms" or not arn.resource.startswith("key/"):
        raise ValueError(f"`{key_arn}` is not a KMS key ARN")
    if arn.partition not in PARTITIONS or not (len(arn.account) == 12 and arn.account.isdigit()):
        raise ValueError(f"`{key_arn}` is not a KMS key ARN of an AWS partition and account")
    cells: list[Cell] = []
    compiled = PolicyCache()  # the replays decide over the same policies many times
    known = None if key_context is None else _known(key_context)
    for setup in callers:
        row = _Row(key_policy, setup, key_arn, timeout, compiled, key_context, known)
        cells.extend(row.cell(action) for action in spelled)
    return WhoCanResult(
        key_arn,
        tuple(s.caller.arn for s in callers),
        tuple(spelled),
        tuple(cells),
        (
            "the callers' organizations are not known: aws:PrincipalOrgID and "
            "aws:PrincipalOrgPaths are treated as request context",
            "grants are not considered",
        ),
        time.perf_counter() - started,
    )


def _known(key_context: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    known: dict[str, tuple[Any, ...]] = {}
    for name, value in key_context.items():
        values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        known[name.lower()] = values
    return known


def _is_key_property(name: str) -> bool:
    return name in KEY_PROPERTIES or name.startswith(RESOURCE_TAG_PREFIX)


@dataclass
class _Placed:
    """A statement of one policy slot, compiled once per row."""

    slot: str
    policy: Policy
    compiled: CompiledStatement
    resource_based: bool


class _Row:
    """One caller: the symbolic context, its condition atoms, and a solver, shared by its cells."""

    def __init__(
        self,
        key_policy: Policy,
        setup: CallerPolicies,
        key_arn: str,
        timeout: float,
        compiled: PolicyCache,
        key_context: Mapping[str, Any] | None = None,
        known: Mapping[str, tuple[Any, ...]] | None = None,
    ) -> None:
        self.compiled = compiled
        self.key_context = dict(key_context or {})
        self.known = known
        self.key_policy = key_policy
        self.setup = setup
        self.caller = setup.caller
        self.key_arn = key_arn
        self.timeout_ms = max(1, int(timeout * 1000))
        self.placed: list[_Placed] = []
        slots = [
            ("key_policy", [key_policy], PolicyType.KEY_POLICY),
            ("identity", list(setup.identity_policies), PolicyType.IDENTITY),
            (
                "boundary",
                [setup.permissions_boundary] if setup.permissions_boundary else [],
                PolicyType.PERMISSIONS_BOUNDARY,
            ),
            ("session", list(setup.session_policies), PolicyType.SESSION),
            ("scp", list(setup.scps), PolicyType.SCP),
            ("rcp", list(setup.rcps), PolicyType.RCP),
        ]
        self.present = {name for name, policies, _ in slots if policies}
        for name, policies, ptype in slots:
            for position, policy in enumerate(policies):
                label = policy_name(policy, ptype, position)
                for index, stmt in enumerate(policy.statements):
                    ref = statement_ref(policy, ptype, index, label)
                    matcher = CompiledStatement(
                        stmt, index, ref, variables=policy.variables_enabled
                    )
                    self.placed.append(_Placed(name, policy, matcher, name == "key_policy"))
        self.error: str | None = None
        try:
            self._encode([(p, n) for n, ps, _ in slots for p in ps])
        except Unsupported as exc:
            self.error = f"not modelled: {exc}"

    def _encode(self, labelled: list[tuple[Policy, str]]) -> None:
        caller = self.caller
        universe = gather(labelled)
        key_account = Arn.parse(self.key_arn).account
        every = frozenset(kms_action_names())
        space = Space(every, False, ALL_CALLERS, resource_account=key_account)
        known = None
        if self.known is not None:
            # every key property the policies read is known: given, or absent from this key
            known = {
                **{n: () for n in universe.kinds if _is_key_property(n)},
                **self.known,
            }
        r = self.request = SymbolicRequest(universe, space, caller, known)
        self.conditions = ConditionEncoder(r)
        ctype = _CALLER_TYPE[caller.type]
        pins = [r.ctype == int(ctype), r.is_key, r.has_resource_account]
        if caller.account is not None:
            pins.append(r.account_n == int(caller.account))
            if caller.partition in PARTITIONS:
                pins.append(r.partition_is(caller.partition))
        self.solver = z3.Solver()
        self.solver.set("timeout", self.timeout_ms)
        self.atoms: dict[tuple[Any, ...], tuple[z3.BoolRef, Literal]] = {}
        self.pins = pins
        self.base_ready = False
        #: the atoms the cell being decided reads
        self.used: list[z3.BoolRef] = []

    # --- atoms: one Boolean per distinct condition ---

    def _atom(self, cond: Condition, variables: bool, where: str) -> z3.BoolRef:
        ident = (
            cond.operator_text,
            cond.key.lower(),
            tuple(repr(v.value) for v in cond.values),
            variables,
        )
        found = self.atoms.get(ident)
        if found is not None:
            self.used.append(found[0])
            return found[0]
        formula = self.conditions.encode(cond, variables=variables, where=where)
        proxy = z3.Bool(f"atom!{len(self.atoms)}")
        self.solver.add(proxy == formula)
        self.atoms[ident] = (proxy, Literal(cond, True, variables))
        self.used.append(proxy)
        return proxy

    def _statement(self, p: _Placed, request: Request) -> tuple[PrincipalMatch, z3.BoolRef] | None:
        """How the statement names the caller and the condition under which it applies, or None
        when its Action, Principal or Resource does not match."""
        c = p.compiled
        if not c.action_matches(request.action_lower):
            return None
        how = c.principal_match(request, p.resource_based)
        if how is None:
            return None
        if c.resource_templates:
            self._templates_known(c, p)
        if not c.resource_matches(request):
            return None
        where = f"{p.slot} statement {c.stmt.sid or c.ordinal + 1}"
        variables = p.policy.variables_enabled
        conds = [self._atom(cond, variables, where) for cond in c.stmt.conditions]
        return how, all_of(*conds) if conds else z3.BoolVal(True)

    def _templates_known(self, c: CompiledStatement, p: _Placed) -> None:
        """Resource variables are resolved from the request; only the caller's keys are known."""
        for res in c.stmt.resources or ():
            template = parse_template(res.arn)
            if template is None:
                continue
            for key in template.keys:
                lower = key.lower()
                if lower not in _CALLER_KEYS and not lower.startswith(TAG_PREFIX):
                    raise Unsupported(
                        f"the Resource variable `${{{key}}}` depends on the request "
                        f"({p.slot} statement {c.stmt.sid or c.ordinal + 1})"
                    )

    def _allowed(self, request: Request) -> z3.BoolRef:
        if self.setup.permissions_boundary is not None:
            request = request.with_boundary()  # its NotPrincipal denies (authz.principals)
        sides: dict[str, dict[str, list[z3.BoolRef]]] = {
            name: {"deny": [], "allow": [], "direct": [], "role": [], "account": []}
            for name in self.present
        }
        for p in self.placed:
            found = self._statement(p, request)
            if found is None:
                continue
            how, applies = found
            side = sides[p.slot]
            if p.compiled.is_deny:
                side["deny"].append(applies)
                continue
            side["allow"].append(applies)
            kind = {PrincipalMatch.ROLE: "role", PrincipalMatch.ACCOUNT: "account"}.get(how)
            side[kind or "direct"].append(applies)

        def make(name: str) -> Side | None:
            if name not in sides:
                return None
            s = sides[name]
            return Side(*[_or(s[k]) for k in ("deny", "allow", "direct", "role", "account")])

        slots = Slots(
            key_policy=make("key_policy"),
            identity=make("identity"),
            boundary=make("boundary"),
            session=make("session"),
            scp=make("scp"),
            rcp=make("rcp"),
        )
        return kms_allowed(self.request, slots)

    # --- one cell ---

    def cell(self, action: str) -> Cell:
        principal = self.caller.arn
        if self.error is not None:
            return Cell(principal, action, Access.UNKNOWN, reason=self.error)
        request = Request(self.caller, action, self.key_arn, self.key_context, _REPLAY_TIME)
        r = self.request
        self.used = []
        try:
            allowed = self._allowed(request)
        except Unsupported as exc:
            return Cell(principal, action, Access.UNKNOWN, reason=f"not modelled: {exc}")
        except EvaluationLimitExceeded:
            return self._over_limit(action, request)
        if not self.base_ready:
            self.solver.add(*r.constraints, *self.pins)
            self.base_ready = True
        index = r.kms_action_names.index(action.lower())
        solver = self.solver
        solver.push()
        try:
            solver.add(r.act == index)
            can_allow = _check(solver, allowed)
            can_deny = _check(solver, z3.Not(allowed))
            if can_allow is None or can_deny is None:
                return Cell(
                    principal,
                    action,
                    Access.UNKNOWN,
                    reason=f"the solver gave up after {self.timeout_ms / 1000:g} s",
                )
            if can_allow is not None and not can_deny:
                return self._constant(action, allowed, want=True)
            if not can_allow:
                return self._constant(action, allowed, want=False)
            return self._conditional(action, allowed)
        finally:
            solver.pop()

    def _replay(self, action: str, model: z3.ModelRef) -> tuple[Request, dict[str, Any], Decision]:
        symbolic, shown = self.request.concrete(model)
        context = {**symbolic.context, **self.key_context}
        request = Request(self.caller, action, self.key_arn, context, symbolic.time)
        policies = self.setup.kms_policies(self.key_policy)
        return request, shown, authorize_kms(request, policies, matcher=self.compiled.match)

    def _over_limit(self, action: str, request: Request) -> Cell:
        """Matching a statement's Resource went past a bound of ``authz.limits`` (a variable of
        the caller resolved too long). That matching reads only the caller, the action and the
        key, never the request's context, so the evaluator passes the bound on every request
        of this cell and denies them all: the replay of one must say so."""
        policies = self.setup.kms_policies(self.key_policy)
        decision = authorize_kms(request, policies, matcher=self.compiled.match)
        if decision.allowed:
            return self._mismatch(action, decision)
        return Cell(self.caller.arn, action, Access.DENIED, reason=decision.reason)

    def _constant(self, action: str, allowed: z3.BoolRef, *, want: bool) -> Cell:
        model = _model(self.solver, allowed if want else z3.Not(allowed))
        if model is None:
            return self._unknown(action, "the solver gave up")
        _req, _shown, decision = self._replay(action, model)
        if decision.allowed != want:
            return self._mismatch(action, decision)
        access = Access.ALLOWED if want else Access.DENIED
        return Cell(
            self.caller.arn,
            action,
            access,
            statements=tuple(decision.matched_statements),
            reason=decision.reason,
        )

    def _conditional(self, action: str, allowed: z3.BoolRef) -> Cell:
        solver = self.solver
        proxies = list({p.get_id(): p for p in self.used}.values())
        literals = {proxy.get_id(): lit for proxy, lit in self.atoms.values()}
        found: list[list[z3.BoolRef]] = []
        complete = True
        example: dict[str, Any] | None = None
        statements: tuple[MatchedStatement, ...] = ()
        reason = ""
        while True:
            blocked = z3.Not(any_of(*[all_of(*c) for c in found])) if found else z3.BoolVal(True)
            model = _model(solver, all_of(allowed, blocked))
            if model is None:
                if _check(solver, all_of(allowed, blocked)) is None:
                    return self._unknown(action, "the solver gave up")
                break
            if len(found) == MAX_ALTERNATIVES:
                complete = False
                break
            cube = [
                p if z3.is_true(model.eval(p, model_completion=True)) else z3.Not(p)
                for p in proxies
            ]
            for item in list(cube):
                trial = [x for x in cube if x is not item]
                if _check(solver, all_of(*trial, z3.Not(allowed))) is False:
                    cube = trial
            # the conjunction's own example must be allowed by the evaluator
            witness = _model(solver, all_of(*cube)) if cube else model
            if witness is None:
                return self._unknown(action, "the solver gave up")
            _req, shown, decision = self._replay(action, witness)
            if not decision.allowed:
                return self._mismatch(action, decision)
            if example is None:
                example, statements, reason = (
                    shown,
                    tuple(decision.matched_statements),
                    (decision.reason),
                )
            found.append(cube)
        denied = _model(solver, z3.Not(allowed))
        if denied is None:
            return self._unknown(action, "the solver gave up")
        _req, _shown, decision = self._replay(action, denied)
        if decision.allowed:
            return self._mismatch(action, decision)
        when = tuple(tuple(_literal(x, literals) for x in cube) for cube in sorted(found, key=len))
        return Cell(
            self.caller.arn,
            action,
            Access.CONDITIONAL,
            when,
            complete,
            statements,
            reason,
            example,
        )

    def _unknown(self, action: str, why: str) -> Cell:
        return Cell(self.caller.arn, action, Access.UNKNOWN, reason=why)

    def _mismatch(self, action: str, decision: Decision) -> Cell:
        # the solver does not model the bounds of authz.limits: a request past one is denied by
        # the evaluator alone, and the evaluator's reason says so
        return self._unknown(
            action,
            "the solver's answer did not replay through the evaluator "
            f"({decision.kind.value}: {decision.reason}); unless that is a limit of the "
            "evaluator, please report this with the policies",
        )


def _literal(term: z3.BoolRef, literals: dict[int, Literal]) -> Literal:
    if z3.is_not(term):
        base = literals[term.arg(0).get_id()]
        return Literal(base.condition, False, base.variables)
    return literals[term.get_id()]


def _or(terms: list[z3.BoolRef]) -> z3.BoolRef:
    return any_of(*terms) if terms else z3.BoolVal(False)


def _check(solver: z3.Solver, formula: z3.BoolRef) -> bool | None:
    solver.push()
    try:
        solver.add(formula)
        answer = solver.check()
    finally:
        solver.pop()
    return None if answer == z3.unknown else answer == z3.sat


def _model(solver: z3.Solver, formula: z3.BoolRef) -> z3.ModelRef | None:
    solver.push()
    try:
        solver.add(formula)
        return solver.model() if solver.check() == z3.sat else None
    finally:
        solver.pop()


class _Resolved(Protocol):
    @property
    def caller(self) -> Caller: ...
    @property
    def policies(self) -> tuple[Policy, ...]: ...
    @property
    def permissions_boundary(self) -> Policy | None: ...
    @property
    def session_policies(self) -> tuple[Policy, ...]: ...


class _AccountPolicies(Protocol):
    @property
    def scps(self) -> tuple[Policy, ...]: ...
    @property
    def rcps(self) -> tuple[Policy, ...]: ...


class Directory(Protocol):
    """What ``who-can`` needs of an identities directory (``kmspolicy.Identities`` is one)."""

    def resolve(self, principal_arn: str) -> _Resolved: ...

    def account(self, account: str | None) -> _AccountPolicies: ...


def callers_from_directory(
    directory: Directory, principals: Sequence[str], key_account: str
) -> list[CallerPolicies]:
    """The callers' sides as the service resolves them for a request on a key of
    ``key_account``: identity policies, boundary and session policies of the principal (a
    session of a known role takes the role's), the SCPs of its account, the key account's RCPs."""
    out = []
    for arn in principals:
        resolved = directory.resolve(arn)
        out.append(
            CallerPolicies(
                resolved.caller,
                tuple(resolved.policies),
                resolved.permissions_boundary,
                tuple(resolved.session_policies),
                tuple(directory.account(resolved.caller.account).scps),
                tuple(directory.account(key_account).rcps),
            )
        )
    return out
