"""Combining policies into a decision: shared steps, plain policy sets and IAM's general logic.

Layer: authz (pure). The order follows the IAM User Guide's evaluation flow: an explicit deny
in any policy wins; every SCP level must allow; RCPs (each level implicitly holds AWS's
full-access RCP) can only deny; then resource-based and identity-based policies, limited by
the permissions boundary and session policies. ``kms.py`` specialises the middle for KMS.
The account's root user is not governed by identity-based policies (it has full access within
its account): for a root caller the identity side allows, while SCPs, RCPs, the resource's own
policy and explicit denies still apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from kmspolicy.authz.context import PrincipalType
from kmspolicy.authz.decision import (
    Decision,
    DecisionKind,
    MatchedStatement,
    PolicyType,
)
from kmspolicy.authz.explain import nearest_miss
from kmspolicy.authz.index import Hit, PolicyMatch, compile_policy, match_policy
from kmspolicy.authz.limits import EvaluationLimitExceeded
from kmspolicy.authz.principals import PrincipalMatch

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request
    from kmspolicy.lang.ast import Policy

#: how one policy is matched against a request: compiled (default) or the reference evaluator
Matcher = Callable[["Policy", "Request", PolicyType, "str | None"], PolicyMatch]

#: which policy type an explicit deny is reported against when several denied
_DENY_ORDER = (
    PolicyType.SCP,
    PolicyType.RCP,
    PolicyType.KEY_POLICY,
    PolicyType.RESOURCE,
    PolicyType.IDENTITY,
    PolicyType.POLICY,
    PolicyType.PERMISSIONS_BOUNDARY,
    PolicyType.SESSION,
)

#: principal matches that a permissions boundary or session policy does not limit
UNLIMITED = (PrincipalMatch.CALLER, PrincipalMatch.ANYONE)


def is_root(request: Request) -> bool:
    """The caller is an account's root user: identity-based policies do not govern it."""
    return request.caller.type is PrincipalType.ACCOUNT


def normalize_levels(
    levels: Sequence[Policy] | Sequence[Sequence[Policy]],
) -> tuple[tuple[Policy, ...], ...]:
    """SCP/RCP levels: a flat list of policies is one level; a list of lists is root → account."""
    if not levels:
        return ()
    if all(isinstance(item, (list, tuple)) for item in levels):
        return tuple(tuple(level) for level in levels)  # type: ignore[arg-type]  # checked above
    return (tuple(levels),)  # type: ignore[arg-type]  # a flat sequence of Policy


class Evaluation:
    """Runs policies against one request and builds the Decision, collecting explanations."""

    def __init__(self, request: Request, matcher: Matcher = match_policy) -> None:
        if request.work:  # asked before (a Request is one question, but may be asked again)
            request.start_decision()
        self.request = request
        self.matcher = matcher
        self.missing: list[str] = []
        #: every policy run, in order, with its match (nearest misses are looked for among
        #: them on a denial)
        self.considered: list[tuple[Policy, PolicyType, str | None, PolicyMatch]] = []
        self.denies: list[tuple[PolicyType, Hit]] = []
        #: every policy's match, and grant references, in consultation order: the source of
        #: ``Decision.all_matched``, collected only when read. INVARIANT: no policy is run
        #: after a decision is built from this evaluation.
        self.matched: list[PolicyMatch | MatchedStatement] = []

    def run(self, policy: Policy, ptype: PolicyType, name: str | None = None) -> PolicyMatch:
        try:
            m = self.matcher(policy, self.request, ptype, name)
        except EvaluationLimitExceeded as exceeded:
            exceeded.policy_type = exceeded.policy_type or ptype
            raise
        if m.missing:
            self.missing.extend(m.missing)
        self.considered.append((policy, ptype, name, m))
        if m.denies:
            self.denies.extend([(ptype, h) for h in m.denies])
        self.matched.append(m)
        return m

    def note(self, refs: Iterable[MatchedStatement]) -> None:
        """Record matches that are not policy statements (grants) for ``all_matched``."""
        self.matched.extend(refs)

    def run_all(self, policies: Iterable[Policy], ptype: PolicyType) -> list[PolicyMatch]:
        return [self.run(p, ptype, None) for p in policies]

    # --- decisions ---

    def _missing(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.missing))

    def allow(self, by: PolicyType, matched: Sequence[MatchedStatement]) -> Decision:
        r = self.request
        missing = tuple(dict.fromkeys(self.missing)) if self.missing else ()
        return Decision(
            DecisionKind.ALLOWED,
            r.action,
            r.resource,
            r.caller.arn,
            tuple(matched),
            missing,
            None,
            by,
            self.matched,
        )

    def explicit_deny(self) -> Decision | None:
        """The explicit-deny decision if any policy run so far denied."""
        if not self.denies:
            return None
        by = min((t for t, _ in self.denies), key=_DENY_ORDER.index)
        r = self.request
        matched = tuple(h[0] for _, h in self.denies)
        return Decision(
            DecisionKind.EXPLICIT_DENY,
            r.action,
            r.resource,
            r.caller.arn,
            matched,
            self._missing(),
            None,
            by,
            self.matched,
        )

    def implicit_deny(self, by: PolicyType, matched: Sequence[MatchedStatement] = ()) -> Decision:
        r = self.request
        types = (
            [by] if by is not PolicyType.RESOURCE else [PolicyType.RESOURCE, PolicyType.KEY_POLICY]
        )
        miss = nearest_miss(
            r,
            [
                m.compiled or compile_policy(policy, ptype, name=name)
                for t in types
                for policy, ptype, name, m in self.considered
                if ptype is t
            ],
        )
        return Decision(
            DecisionKind.IMPLICIT_DENY,
            r.action,
            r.resource,
            r.caller.arn,
            tuple(matched),
            self._missing(),
            miss,
            by,
            self.matched,
        )

    # --- shared steps ---

    def guardrails(
        self, scp_levels: Sequence[Sequence[Policy]], rcp_levels: Sequence[Sequence[Policy]]
    ) -> list[list[PolicyMatch]]:
        """Run SCP and RCP levels (not for service principals); returns SCP matches.

        SCPs apply to the root user of a member account too (the management account, which
        SCPs do not affect, is not modelled)."""
        if self.request.caller.type is PrincipalType.SERVICE:
            return []
        scps = [self.run_all(level, PolicyType.SCP) for level in scp_levels]
        for level in rcp_levels:
            self.run_all(level, PolicyType.RCP)
        return scps

    def scp_gap(self, scps: list[list[PolicyMatch]]) -> Decision | None:
        """Every SCP level must allow: an implicit deny for the first level that does not."""
        for level in scps:
            if not any(m.allows for m in level):
                return self.implicit_deny(PolicyType.SCP)
        return None

    def limits(
        self, boundary: PolicyMatch | None, sessions: list[PolicyMatch]
    ) -> PolicyType | None:
        """The limiting policy type that fails to allow (boundary, then session), or None."""
        if boundary is not None and not boundary.allows:
            return PolicyType.PERMISSIONS_BOUNDARY
        if sessions and not any(m.allows for m in sessions):
            return PolicyType.SESSION
        return None


def denied_over_limit(request: Request, exceeded: EvaluationLimitExceeded) -> Decision:
    """The whole request denied: its evaluation went past a bound (``authz.limits``). It fails
    closed: no policy's answer so far counts, an Allow's or a Deny's."""
    return Decision.over_limit(
        request.action,
        request.resource,
        request.caller.arn,
        exceeded.policy_type or PolicyType.POLICY,
        exceeded.what,
    )


def evaluate_policies(
    request: Request, policies: Sequence[Policy], *, matcher: Matcher = match_policy
) -> Decision:
    """Evaluate plain policies with no KMS or cross-account rules (simulate-custom-policy).

    Explicit deny in any policy ▶ explicitDeny; else an Allow in any ▶ allowed; else implicitDeny.
    A Principal element, when present, must match the caller.
    """
    ev = Evaluation(request, matcher)
    try:
        matches = ev.run_all(policies, PolicyType.POLICY)
        denied = ev.explicit_deny()
        if denied is not None:
            return denied
        allows = [h[0] for m in matches for h in m.allows]
        return (
            ev.allow(PolicyType.POLICY, allows) if allows else ev.implicit_deny(PolicyType.POLICY)
        )
    except EvaluationLimitExceeded as exceeded:
        return denied_over_limit(request, exceeded)


def authorize_iam(
    request: Request,
    identity_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    *,
    scps: Sequence[Policy] | Sequence[Sequence[Policy]] = (),
    rcps: Sequence[Policy] | Sequence[Sequence[Policy]] = (),
    permissions_boundary: Policy | None = None,
    session_policies: Sequence[Policy] = (),
    resource_account: str | None = None,
    matcher: Matcher = match_policy,
) -> Decision:
    """IAM's general evaluation logic for a resource that is not a KMS key.

    Same account: an allow in the identity policies or in the resource policy suffices (a
    resource policy naming only the account delegates to identity policies; naming a role is
    limited by the boundary and session policies, naming the user or session is not). Across
    accounts (``resource_account``, default: the resource ARN's account) both must allow. The
    root user's identity side always allows (so within its account it needs no policy at all).
    """
    if permissions_boundary is not None:
        request = request.with_boundary()  # its NotPrincipal denies (principals.py)
    try:
        ev = Evaluation(request, matcher)
        scp_matches = ev.guardrails(normalize_levels(scps), normalize_levels(rcps))
        rp = ev.run(resource_policy, PolicyType.RESOURCE) if resource_policy is not None else None
        ids = ev.run_all(identity_policies, PolicyType.IDENTITY)
        boundary = (
            ev.run(permissions_boundary, PolicyType.PERMISSIONS_BOUNDARY)
            if permissions_boundary
            else None
        )
        sessions = ev.run_all(session_policies, PolicyType.SESSION)
        decided = ev.explicit_deny() or ev.scp_gap(scp_matches)
        if decided is not None:
            return decided
        account = resource_account or request.resource_account or request.caller.account
        identity_hits = [h[0] for m in ids for h in m.allows]
        identity_ok = bool(identity_hits) or is_root(request)
        limit = ev.limits(boundary, sessions)
        rp_hits = rp.allows if rp is not None else []
        if request.caller.account is not None and account != request.caller.account:
            if not rp_hits:
                return ev.implicit_deny(PolicyType.RESOURCE)
            if not identity_ok:
                return ev.implicit_deny(PolicyType.IDENTITY, [h[0] for h in rp_hits])
            if limit is not None:
                return ev.implicit_deny(limit, [h[0] for h in rp_hits] + identity_hits)
            return ev.allow(PolicyType.RESOURCE, [h[0] for h in rp_hits] + identity_hits)
        direct = [h[0] for h in rp_hits if h[1] in UNLIMITED]
        if direct:
            return ev.allow(PolicyType.RESOURCE, direct)
        via_role = [h[0] for h in rp_hits if h[1] is PrincipalMatch.ROLE]
        if via_role and limit is None:
            return ev.allow(PolicyType.RESOURCE, via_role)
        if identity_ok and limit is None:
            return ev.allow(PolicyType.IDENTITY, identity_hits)
        if limit is not None and (identity_ok or via_role):
            return ev.implicit_deny(limit, via_role + identity_hits)
        return ev.implicit_deny(PolicyType.IDENTITY, [h[0] for h in rp_hits])
    except EvaluationLimitExceeded as exceeded:
        return denied_over_limit(request, exceeded)
