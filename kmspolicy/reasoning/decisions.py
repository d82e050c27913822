"""The decision point as z3 formulas, and the scenario each policy type is checked in.

Layer: reasoning (pure; z3). ``kms_allowed`` is ``authz.authorize_kms`` and ``iam_allowed`` is
``authz.authorize_iam`` (without grants), written as formulas over the statements' terms. A
:class:`Scenario` says where the policy under check sits, what the other side of the decision
is assumed to be (docs/check.md, "the identity side"), and replays a concrete request through
the evaluator with exactly those policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import z3

from kmspolicy.authz import (
    CROSS_ACCOUNT_ACTIONS,
    Decision,
    KmsPolicies,
    PolicyCache,
    PrincipalType,
    Request,
    authorize_iam,
    authorize_kms,
)
from kmspolicy.lang.ast import Action, Effect, Policy, Principal, PrincipalKind, Resource, Statement
from kmspolicy.reasoning.policies import PolicyTerm
from kmspolicy.reasoning.request import (
    ALL_CALLERS,
    CallerType,
    Space,
    SymbolicRequest,
    kms_action_names,
)
from kmspolicy.reasoning.terms import all_of, any_of


class PolicyKind(StrEnum):
    """Where the policy under check is attached (``--policy-type``)."""

    KEY = "key"
    IDENTITY = "identity"
    RESOURCE = "resource"
    SCP = "scp"
    RCP = "rcp"
    BOUNDARY = "boundary"
    SESSION = "session"


class Assumption(StrEnum):
    """What the check assumes about the caller's identity-based policies."""

    #: no identity policy at all
    NONE = "none"
    #: one identity policy allowing every action on every resource
    ALLOW_ALL = "allow-all"
    #: the policy under check is the identity policy
    POLICY = "policy"


#: the names of the policies a scenario adds; their statements are never reported
ALLOW_ALL_ID = "kmspolicy-check:assumed-identity-policy"
DELEGATION_ID = "kmspolicy-check:assumed-key-policy"


@dataclass
class Side:
    """What a decision needs from one slot of policies."""

    denies: z3.BoolRef
    allows: z3.BoolRef
    direct: z3.BoolRef
    role: z3.BoolRef
    account: z3.BoolRef

    @classmethod
    def of(cls, term: PolicyTerm) -> Side:
        return cls(
            term.denies, term.allows, term.allows_direct, term.allows_role, term.allows_account
        )


_F = z3.BoolVal(False)
_T = z3.BoolVal(True)


@dataclass
class Slots:
    key_policy: Side | None = None
    identity: Side | None = None
    resource_policy: Side | None = None
    scp: Side | None = None
    rcp: Side | None = None
    boundary: Side | None = None
    session: Side | None = None


def _guardrails(r: SymbolicRequest, s: Slots) -> tuple[z3.BoolRef, z3.BoolRef]:
    """(denies from SCPs/RCPs, an SCP level that does not allow): not for service callers."""
    service = r.ctype == int(CallerType.SERVICE)
    denies = [x.denies for x in (s.scp, s.rcp) if x is not None]
    deny = all_of(z3.Not(service), any_of(*denies)) if denies else _F
    gap = all_of(z3.Not(service), z3.Not(s.scp.allows)) if s.scp is not None else _F
    return deny, gap


def _limit(s: Slots) -> z3.BoolRef:
    fails = [z3.Not(x.allows) for x in (s.boundary, s.session) if x is not None]
    return any_of(*fails) if fails else _F


def _denies(*sides: Side | None) -> list[z3.BoolRef]:
    return [x.denies for x in sides if x is not None]


def kms_allowed(r: SymbolicRequest, s: Slots) -> z3.BoolRef:
    """``authorize_kms`` with no grants."""
    assert s.key_policy is not None
    guard_deny, gap = _guardrails(r, s)
    deny = any_of(
        guard_deny,
        all_of(r.is_key, s.key_policy.denies),
        *_denies(s.identity, s.boundary, s.session),
    )
    root = r.ctype == int(CallerType.ACCOUNT)
    identity_hits = s.identity.allows if s.identity is not None else _F
    identity_ok = any_of(identity_hits, root)
    limit = _limit(s)
    not_key = all_of(
        any_of(
            identity_hits,
            all_of(
                root,
                any_of(z3.Not(r.has_resource_account), r.resource_account_n == r.account_n),
            ),
        ),
        z3.Not(limit),
    )
    retire = r.action_in({"kms:retiregrant"})
    kp = s.key_policy
    direct = all_of(z3.Not(retire), kp.direct)
    role = all_of(z3.Not(retire), kp.role)
    account = all_of(z3.Not(retire), kp.account)
    cross = all_of(r.has_account, z3.Not(r.resource_account_n == r.account_n))
    cross_ok = all_of(
        r.action_in(set(CROSS_ACCOUNT_ACTIONS)),
        any_of(direct, role, account),
        identity_ok,
        z3.Not(limit),
    )
    same_ok = any_of(
        direct,
        all_of(role, z3.Not(limit)),
        all_of(retire, identity_ok, z3.Not(limit)),
        all_of(account, identity_ok, z3.Not(limit)),
    )
    on_key = z3.If(cross, cross_ok, same_ok)
    return all_of(z3.Not(deny), z3.Not(gap), z3.If(r.is_key, on_key, not_key))


def iam_allowed(r: SymbolicRequest, s: Slots) -> z3.BoolRef:
    """``authorize_iam``: IAM's general rules."""
    guard_deny, gap = _guardrails(r, s)
    deny = any_of(guard_deny, *_denies(s.resource_policy, s.identity, s.boundary, s.session))
    root = r.ctype == int(CallerType.ACCOUNT)
    identity_ok = any_of(s.identity.allows if s.identity is not None else _F, root)
    limit = _limit(s)
    rp = s.resource_policy
    cross = all_of(
        r.has_account, r.has_resource_account, z3.Not(r.resource_account_n == r.account_n)
    )
    if rp is None:
        cross_ok: z3.BoolRef = _F
        same_ok = all_of(identity_ok, z3.Not(limit))
    else:
        cross_ok = all_of(rp.allows, identity_ok, z3.Not(limit))
        same_ok = any_of(rp.direct, all_of(z3.Not(limit), any_of(rp.role, identity_ok)))
    return all_of(z3.Not(deny), z3.Not(gap), z3.If(cross, cross_ok, same_ok))


# --- the policies a scenario assumes ---

ALLOW_ALL = Policy(
    (Statement(Effect.ALLOW, (Action("*"),), resources=(Resource("*"),)),),
    version="2012-10-17",
    id=ALLOW_ALL_ID,
)


def delegation(account: str | None, partition: str = "aws") -> Policy:
    """A key policy that enables IAM policies of the caller's account (the default key policy)."""
    statements: tuple[Statement, ...] = ()
    if account is not None:
        statements = (
            Statement(
                Effect.ALLOW,
                (Action("kms:*"),),
                principals=(Principal(PrincipalKind.AWS, f"arn:{partition}:iam::{account}:root"),),
                resources=(Resource("*"),),
            ),
        )
    return Policy(statements, version="2012-10-17", id=DELEGATION_ID)


#: callers that can have identity-based policies (the root user needs none; anonymous callers
#: and service principals have none)
WITH_IDENTITY_POLICIES = (CallerType.USER, CallerType.ASSUMED_ROLE, CallerType.FEDERATED_USER)


def _allow_all_side(r: SymbolicRequest) -> Side:
    has = r.is_type(*WITH_IDENTITY_POLICIES)
    return Side(_F, has, has, _F, _F)


def _delegation_side(r: SymbolicRequest) -> Side:
    return Side(_F, r.has_account, _F, _F, r.has_account)


@dataclass(frozen=True)
class Scenario:
    """How a policy of one kind is checked: the request space, the assumptions, the replay."""

    kind: PolicyKind

    @property
    def assumptions(self) -> tuple[Assumption, ...]:
        if self.kind in (PolicyKind.KEY, PolicyKind.RESOURCE):
            return (Assumption.NONE, Assumption.ALLOW_ALL)
        if self.kind is PolicyKind.IDENTITY:
            return (Assumption.POLICY,)
        return (Assumption.ALLOW_ALL,)

    def space(self, account: str | None) -> Space:
        every_kms = frozenset(kms_action_names())
        k = self.kind
        if k is PolicyKind.KEY:
            from kmspolicy.reasoning.request import _account_level

            return Space(every_kms - _account_level(), False, ALL_CALLERS, resource_account=account)
        if k is PolicyKind.RESOURCE:
            return Space(every_kms, True, ALL_CALLERS, resource_account=account)
        people = (CallerType.USER, CallerType.ASSUMED_ROLE, CallerType.FEDERATED_USER)
        callers = {
            PolicyKind.IDENTITY: people,
            PolicyKind.BOUNDARY: (CallerType.USER, CallerType.ASSUMED_ROLE),
            PolicyKind.SESSION: (CallerType.ASSUMED_ROLE, CallerType.FEDERATED_USER),
        }.get(k, ALL_CALLERS)
        return Space(every_kms, True, callers, caller_account=account)

    def restrict(self, r: SymbolicRequest) -> list[z3.BoolRef]:
        """Extra request constraints: a key policy is about requests on its key."""
        return [r.is_key] if self.kind is PolicyKind.KEY else []

    def allowed(self, r: SymbolicRequest, term: PolicyTerm, assumption: Assumption) -> z3.BoolRef:
        side = Side.of(term)
        k = self.kind
        identity = None if assumption is Assumption.NONE else _allow_all_side(r)
        if k is PolicyKind.KEY:
            return kms_allowed(r, Slots(key_policy=side, identity=identity))
        if k is PolicyKind.RESOURCE:
            return iam_allowed(r, Slots(resource_policy=side, identity=identity))
        slots = Slots(identity=identity)
        if k is PolicyKind.IDENTITY:
            slots.identity = side
        else:
            setattr(slots, k.value, side)  # scp, rcp, boundary, session: the Slots fields
        kms_slots = Slots(**{**slots.__dict__, "key_policy": _delegation_side(r)})
        return z3.If(r.is_other_service, iam_allowed(r, slots), kms_allowed(r, kms_slots))

    def resource_based(self) -> bool:
        return self.kind in (PolicyKind.KEY, PolicyKind.RESOURCE)

    def replay(
        self,
        policies: Sequence[Policy],
        request: Request,
        assumption: Assumption,
        compiled: PolicyCache | None = None,
    ) -> Decision:
        """The evaluator's decision for ``request`` with the policies this scenario assumes
        (``compiled``: the caller's cache of compiled policies, for repeated replays)."""
        kw: dict[str, Any] = {} if compiled is None else {"matcher": compiled.match}
        k = self.kind
        can_have = _has_identity(request)
        identity: list[Policy] = (
            [ALLOW_ALL] if assumption is not Assumption.NONE and can_have else []
        )
        if k is PolicyKind.KEY:
            return authorize_kms(request, KmsPolicies(policies[0], identity), **kw)
        if k is PolicyKind.RESOURCE:
            return authorize_iam(request, identity, policies[0], **kw)
        if k is PolicyKind.IDENTITY:
            identity = list(policies)
        caller = request.caller
        extra: dict[str, object] = {
            PolicyKind.SCP: {"scps": (tuple(policies),)},
            PolicyKind.RCP: {"rcps": (tuple(policies),)},
            PolicyKind.BOUNDARY: {"permissions_boundary": policies[0]},
            PolicyKind.SESSION: {"session_policies": tuple(policies)},
        }.get(k, {})  # type: ignore[assignment]  # a mapping of keyword arguments
        if not request.action_lower.startswith("kms:"):
            return authorize_iam(request, identity, None, **extra, **kw)  # type: ignore[arg-type]
        key_policy = delegation(caller.account, caller.partition)
        return authorize_kms(
            request,
            KmsPolicies(key_policy, identity, (), **extra),  # type: ignore[arg-type]
            **kw,
        )


def _has_identity(request: Request) -> bool:
    return request.caller.type in (
        PrincipalType.USER,
        PrincipalType.ASSUMED_ROLE,
        PrincipalType.FEDERATED_USER,
    )


#: policy kinds whose files must hold exactly one policy (the evaluator takes one)
SINGLE = (PolicyKind.KEY, PolicyKind.RESOURCE, PolicyKind.BOUNDARY)
