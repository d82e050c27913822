"""The four checks: PASS (proved for every real request), FAIL (with a replayed counterexample),
UNKNOWN (timeout, or a construct the encoding does not model).

Layer: reasoning (pure; z3). Each check states a property of the decision over the whole request
space and asks z3 for a request that violates it. A model is turned into a concrete request and
replayed through ``kmspolicy.authz`` before it is reported (the soundness guard): if the
evaluator disagrees, the answer is UNKNOWN with an internal-error note, never FAIL or PASS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import z3

from kmspolicy.authz import Decision, MatchedStatement, PolicyCache, Request
from kmspolicy.authz.lint.facts import certain_owner_account
from kmspolicy.authz.matching import action_matches, resource_matches
from kmspolicy.lang.ast import Policy
from kmspolicy.reasoning.decisions import (
    ALLOW_ALL_ID,
    DELEGATION_ID,
    SINGLE,
    Assumption,
    PolicyKind,
    Scenario,
)
from kmspolicy.reasoning.policies import PolicyEncoder
from kmspolicy.reasoning.request import CallerType, SymbolicRequest, kms_action_names
from kmspolicy.reasoning.strings import decode, lit
from kmspolicy.reasoning.terms import all_of
from kmspolicy.reasoning.universe import Unsupported, gather

DEFAULT_TIMEOUT = 10.0
_PRINTABLE = z3.Star(z3.Range(" ", "~"))


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class StatementRef:
    """A statement of a policy under check: which side, where, and its Sid."""

    policy: str
    statement: MatchedStatement

    def to_dict(self) -> dict[str, Any]:
        m = self.statement
        return {
            "policy": self.policy,
            "source": m.source,
            "line": m.line,
            "column": m.column,
            "sid": m.sid,
            "index": m.statement_index,
        }


@dataclass(frozen=True)
class CheckResult:
    """The answer of one check (``to_dict`` is the ``--format json`` document)."""

    verdict: Verdict
    reasons: tuple[str, ...]
    counterexample: Mapping[str, Any] | None = None
    statements: tuple[StatementRef, ...] = ()
    #: the replayed request behind the counterexample (FAIL only)
    request: Request | None = field(default=None, compare=False, repr=False)
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.verdict.value,
            "reasons": list(self.reasons),
            "counterexample": dict(self.counterexample) if self.counterexample else None,
            "statements": [s.to_dict() for s in self.statements],
        }


Policies = Policy | Sequence[Policy]
#: per side label, per assumption: "allowed" as a formula
Allowed = dict[str, dict[Assumption, z3.BoolRef]]


def _as_list(policies: Policies) -> list[Policy]:
    return [policies] if isinstance(policies, Policy) else list(policies)


@dataclass
class _Check:
    """One solver question: the sides, what violates the property, how to confirm a violation."""

    name: str
    kind: PolicyKind
    sides: dict[str, list[Policy]]
    account: str | None
    timeout: float
    #: (request, allowed) → the violation under each assumption
    violation: Callable[[SymbolicRequest, Allowed, Assumption], z3.BoolRef]
    #: replayed decisions (and the request) → whether they violate the property
    confirm: Callable[[dict[str, Decision], Request], bool]
    #: the sides whose deciding statements explain a violation
    blame: Callable[[dict[str, Decision]], list[str]]
    fail_reason: str
    pass_reason: str
    extra: Callable[[SymbolicRequest], list[z3.BoolRef]] = lambda _r: []
    extra_keys: Sequence[str] = ()
    #: the sides that must deny the counterexample under EVERY identity assumption (a request
    #: counts as allowed when either assumption allows it); replayed under each of them too
    denied_under_all: Sequence[str] = ()

    def run(self) -> CheckResult:
        started = time.perf_counter()
        try:
            result = self._run()
        except Unsupported as exc:
            result = CheckResult(Verdict.UNKNOWN, (f"not modelled: {exc}",))
        return CheckResult(
            result.verdict,
            result.reasons,
            result.counterexample,
            result.statements,
            result.request,
            time.perf_counter() - started,
        )

    def _run(self) -> CheckResult:
        scenario = Scenario(self.kind)
        for label, policies in self.sides.items():
            if self.kind in SINGLE and len(policies) != 1:
                raise ValueError(
                    f"a {self.kind.value} policy check takes exactly one policy for `{label}` "
                    f"(found {len(policies)})"
                )
        labelled = [(p, label) for label, ps in self.sides.items() for p in ps]
        universe = gather(labelled, self.extra_keys)
        account, notes = self._owner()
        r = SymbolicRequest(universe, scenario.space(account))
        encoder = PolicyEncoder(r)
        allowed: Allowed = {}
        for label, policies in self.sides.items():
            term = encoder.encode(policies, label, resource_based=scenario.resource_based())
            allowed[label] = {a: scenario.allowed(r, term, a) for a in scenario.assumptions}
        solver = z3.Solver()
        solver.set("timeout", max(1, int(self.timeout * 1000)))
        # INVARIANT: every term is built before r.constraints is read (terms add constraints)
        extra = [*scenario.restrict(r), *self.extra(r)]
        violations = [(a, self.violation(r, allowed, a)) for a in scenario.assumptions]
        solver.add(*r.constraints, *extra, z3.Or(*[v for _, v in violations]))
        answer = solver.check()
        if answer == z3.unsat:
            return CheckResult(Verdict.PASS, (self.pass_reason, *notes))
        if answer == z3.unknown:
            why = solver.reason_unknown()
            text = (
                f"the solver gave up after {self.timeout:g} s"
                if "timeout" in why or "canceled" in why
                else f"the solver gave up ({why})"
            )
            return CheckResult(Verdict.UNKNOWN, (text,))
        first = solver.model()
        model = _nicer(solver, r, first) or first
        assumption = next(
            a for a, v in violations if z3.is_true(model.eval(v, model_completion=True))
        )
        request, context = r.concrete(model)
        # the replays decide over the same policies several times: compile them once
        compiled = PolicyCache()
        decisions = {
            label: scenario.replay(policies, request, assumption, compiled)
            for label, policies in self.sides.items()
        }
        example = _describe(request, context, assumption)
        denied_elsewhere = all(
            not scenario.replay(self.sides[label], request, other, compiled).allowed
            for label in self.denied_under_all
            for other in scenario.assumptions
        )
        if not (self.confirm(decisions, request) and denied_elsewhere):
            summary = ", ".join(f"{k}: {d.kind.value}" for k, d in decisions.items())
            return CheckResult(
                Verdict.UNKNOWN,
                (
                    "internal error: the solver's counterexample did not replay through the "
                    f"evaluator ({summary}); please report this with the policies",
                ),
                example,
                request=request,
            )
        refs = tuple(
            StatementRef(label, m)
            for label in self.blame(decisions)
            for m in decisions[label].matched_statements
            if m.source_policy_id not in (ALLOW_ALL_ID, DELEGATION_ID)
        )
        return CheckResult(Verdict.FAIL, (self.fail_reason, *notes), example, refs, request)

    def _owner(self) -> tuple[str | None, tuple[str, ...]]:
        """The account the checks fix: ``account`` when given; for key policies, else the owner
        the policies make certain (the account whose root may PutKeyPolicy unconditionally)."""
        if self.account is not None or self.kind is not PolicyKind.KEY:
            return self.account, ()
        found = {
            owner[0]
            for policies in self.sides.values()
            for p in policies
            if (owner := certain_owner_account(p)) is not None
        }
        if len(found) == 1:
            certain = found.pop()
            return certain, (
                f"the key's account is taken to be {certain}, whose root the key policy lets "
                "manage the key (give --account to choose another)",
            )
        return None, (
            "the key's account is not certain from the policy: keys in every account were "
            "considered (give --account to fix it)",
        )


_LETTER = z3.Union(z3.Range("a", "z"), z3.Range("A", "Z"))
_READABLE = z3.Concat(_LETTER, z3.Star(z3.Union(_LETTER, z3.Range("0", "9"))))


def _nicer(solver: z3.Solver, r: SymbolicRequest, first: z3.ModelRef) -> Any:
    """A model that reads well, when one exists: names in letters and digits, no path, other
    free strings printable ASCII.

    The first model is kept when it already reads well. Otherwise each free string the solver
    gave an unreadable value is replaced by a plain one *when the whole question still holds with
    it* — an evaluation of the asserted formula under the model, not a new solve. Only when that
    is not enough (a value the policies constrain) does the solver search again, under the old
    preferences. Texts chosen among the policies' own literals (``Choice``) are left alone."""
    texts: list[z3.ExprRef] = [r.action]
    texts += [
        s.value
        for v in r.keys.values()
        if v.kind.value == "text" and not v.choices
        for s in v.slots
    ]
    names = [r.name, r.session]
    if _reads_well(first, names, r.path, texts):
        return first
    plain: list[tuple[z3.ExprRef, str]] = [(r.name, "example"), (r.session, "session")]
    plain += [(r.path, "")]
    plain += [(t, "example") for t in texts if z3.is_const(t) and t.decl().arity() == 0]
    question = all_of(*solver.assertions())
    chosen: list[tuple[z3.ExprRef, z3.ExprRef]] = []
    for var, value in plain:
        current = decode(first.eval(var, model_completion=True))
        is_name = any(var.eq(n) for n in names)
        good = (_READABLE_PY if is_name else _PRINTABLE_PY).fullmatch(current)
        if good and not (var.eq(r.path) and current):
            continue
        trial = [*chosen, (var, lit(value))]
        if z3.is_true(first.eval(z3.substitute(question, *trial), model_completion=True)):
            chosen = trial
    repaired = _Substituted(first, chosen)
    if _reads_well(repaired, names, r.path, texts):
        return repaired
    tries = [
        [*[z3.InRe(n, _READABLE) for n in names], r.path == z3.StringVal("")],
        [],
    ]
    for preference in tries:
        solver.push()
        try:
            solver.set("timeout", 1000)
            solver.add(*preference, *[z3.InRe(t, _PRINTABLE) for t in texts])
            if solver.check() == z3.sat:
                return solver.model()
        finally:
            solver.pop()
    return None


class _Substituted:
    """A model with some free strings replaced (``eval`` substitutes them first)."""

    def __init__(self, model: z3.ModelRef, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
        self.model = model
        self.pairs = pairs

    def eval(self, term: z3.ExprRef, model_completion: bool = False) -> Any:
        if self.pairs:
            term = z3.substitute(term, *self.pairs)
        return self.model.eval(term, model_completion=model_completion)


_READABLE_PY = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_PRINTABLE_PY = re.compile(r"[ -~]*")


def _reads_well(
    model: Any, names: list[z3.SeqRef], path: z3.SeqRef, texts: list[z3.ExprRef]
) -> bool:
    def text(term: z3.ExprRef) -> str:
        return decode(model.eval(term, model_completion=True))

    return (
        all(_READABLE_PY.fullmatch(text(n)) for n in names)
        and text(path) == ""
        and all(_PRINTABLE_PY.fullmatch(text(t)) for t in texts)
    )


def _describe(request: Request, context: dict[str, Any], assumption: Assumption) -> dict[str, Any]:
    action = kms_action_names().get(request.action_lower, request.action)
    out: dict[str, Any] = {
        "principal": request.caller.arn,
        "action": action,
        "resource": request.resource,
        "context": context,
    }
    if assumption is not Assumption.POLICY:
        out["identity"] = assumption.value
    return out


def _kind(policy_type: str | PolicyKind) -> PolicyKind:
    return PolicyKind(policy_type)


# --- the checks ---


def check_equivalent(
    a: Policies,
    b: Policies,
    *,
    policy_type: str | PolicyKind = PolicyKind.KEY,
    account: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CheckResult:
    """PASS when A and B allow exactly the same requests under each identity assumption, so
    whatever the callers' identity policies are (docs/check.md: the other checks count a request
    as allowed under either assumption; equivalence must hold for both)."""
    return _Check(
        "equivalent",
        _kind(policy_type),
        {"A": _as_list(a), "B": _as_list(b)},
        account,
        timeout,
        # per assumption, not the union: a policy that lets a user in without any identity
        # policy is not equivalent to one that needs an IAM policy for it
        violation=lambda _r, al, x: al["A"][x] != al["B"][x],
        confirm=lambda d, _q: d["A"].allowed != d["B"].allowed,
        blame=lambda d: [k for k in ("A", "B") if d[k].allowed],
        fail_reason="the policies decide this request differently",
        pass_reason="the policies allow exactly the same requests",
    ).run()


def check_no_new_access(
    existing: Policies,
    new: Policies,
    *,
    policy_type: str | PolicyKind = PolicyKind.KEY,
    account: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CheckResult:
    """PASS when NEW allows nothing that EXISTING denies."""
    return _Check(
        "no-new-access",
        _kind(policy_type),
        {"existing": _as_list(existing), "new": _as_list(new)},
        account,
        timeout,
        # new access: NEW allows it under some assumption, EXISTING under none of them
        violation=lambda _r, al, x: z3.And(
            al["new"][x], *[z3.Not(e) for e in al["existing"].values()]
        ),
        confirm=lambda d, _q: d["new"].allowed and not d["existing"].allowed,
        denied_under_all=("existing",),
        blame=lambda _d: ["new"],
        fail_reason="the new policy allows a request the existing policy denies",
        pass_reason="the new policy allows nothing the existing policy denies",
    ).run()


def check_access_not_granted(
    policies: Policies,
    actions: Sequence[str],
    resources: Sequence[str] = (),
    *,
    policy_type: str | PolicyKind = PolicyKind.KEY,
    account: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CheckResult:
    """PASS when no request for one of ``actions`` (globs) on one of ``resources`` (ARN globs;
    any when empty) is allowed."""
    if not actions:
        raise ValueError("access-not-granted needs at least one action")

    def scope(r: SymbolicRequest) -> list[z3.BoolRef]:
        options = []
        for action in actions:
            names = {a for a in r.kms_action_names if action_matches(action, a)}
            options.append(r.action_in(names))
            if r.space.other_services and not action.lower().startswith("kms:"):
                from kmspolicy.reasoning.strings import glob_regex

                options.append(
                    z3.And(
                        r.is_other_service,
                        z3.InRe(r.action, glob_regex(((action.lower(), False),), arn=False)),
                    )
                )
        out = [z3.Or(*options)]
        if resources:
            out.append(
                z3.Or(
                    *[
                        r.resource_matches(res) if res != "*" else z3.BoolVal(True)
                        for res in resources
                    ]
                )
            )
        return out

    def in_scope(request: Request) -> bool:
        acts = any(action_matches(a, request.action) for a in actions)
        res = not resources or any(resource_matches(res, request.resource) for res in resources)
        return bool(acts and res)

    return _Check(
        "access-not-granted",
        _kind(policy_type),
        {"policy": _as_list(policies)},
        account,
        timeout,
        violation=lambda _r, al, x: al["policy"][x],
        confirm=lambda d, q: d["policy"].allowed and in_scope(q),
        blame=lambda _d: ["policy"],
        fail_reason="the policy allows one of the actions",
        pass_reason="no request for these actions is allowed",
        extra=scope,
    ).run()


def check_no_public_access(
    policies: Policies,
    *,
    policy_type: str | PolicyKind = PolicyKind.KEY,
    account: str | None = None,
    organization: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CheckResult:
    """PASS when no caller outside the owner account (and outside ``organization``, when given)
    is allowed anything. Service principals are not counted as outside (docs/check.md)."""
    kind = _kind(policy_type)
    if kind not in (PolicyKind.KEY, PolicyKind.RESOURCE):
        raise ValueError("no-public-access applies to key and resource policies")
    if kind is PolicyKind.RESOURCE and account is None:
        raise ValueError("no-public-access on a resource policy needs --account (the owner)")

    def outside(r: SymbolicRequest) -> list[z3.BoolRef]:
        fixed = r.space.resource_account
        owner = int(fixed) if fixed is not None else r.resource_account_n
        inside = [z3.And(r.has_account, r.account_n == owner)]
        if organization is not None:
            inside.append(z3.And(r.in_org, r.org == lit(organization)))
        return [z3.Not(r.ctype == int(CallerType.SERVICE)), z3.Not(z3.Or(*inside))]

    def confirm(d: dict[str, Decision], request: Request) -> bool:
        caller = request.caller
        owner = account if account is not None else request.resource_account
        org = request.get("aws:PrincipalOrgID")
        in_org = organization is not None and org is not None and organization in org
        return (
            d["policy"].allowed
            and caller.type.value != "Service"
            and caller.account != owner
            and not in_org
        )

    keys = ["aws:PrincipalOrgID"] if organization is not None else []
    return _Check(
        "no-public-access",
        kind,
        {"policy": _as_list(policies)},
        account,
        timeout,
        violation=lambda _r, al, x: al["policy"][x],
        confirm=confirm,
        blame=lambda _d: ["policy"],
        fail_reason=(
            "a caller outside the account"
            + (" and the organization" if organization else "")
            + " is allowed"
        ),
        pass_reason="no caller outside the account"
        + (" or the organization" if organization else "")
        + " is allowed anything",
        extra=outside,
        extra_keys=keys,
    ).run()
