"""KMS authorization: the key policy first, IAM only through it, grants, both sides across accounts.

Layer: authz (pure). Rules (AWS KMS Developer Guide, "Determining access", "Key policies",
"Grants", "Allowing users in other accounts"; IAM User Guide, "Policy evaluation logic"):
an explicit deny anywhere wins; every SCP level must allow; the key policy must allow the caller
directly, or the caller's account (then an identity policy must allow too), or a grant must;
across accounts the caller's identity policy must also allow; boundaries and session policies
limit every allow except a key policy naming the user or session itself (or everyone). The
account's root user is not governed by identity-based policies, so its identity side always
allows (also across accounts), while the key policy still has to allow it ("no AWS principal,
including the account root user, has any permissions to a KMS key unless explicitly allowed").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kmspolicy.authz.context import PrincipalType, Request
from kmspolicy.authz.decision import Decision, MatchedStatement, PolicyType
from kmspolicy.authz.evaluator import Evaluation, Matcher, normalize_levels
from kmspolicy.authz.grants import Grant
from kmspolicy.authz.index import match_policy
from kmspolicy.authz.principals import PrincipalMatch
from kmspolicy.lang.ast import Effect, Policy
from kmspolicy.optable import ACTIONS

#: Actions that work on a key in another account (KMS Developer Guide, cross-account access),
#: lower-cased: from the operation table.
CROSS_ACCOUNT_ACTIONS = frozenset(a.iam.lower() for a in ACTIONS.values() if a.cross_account)


@dataclass(frozen=True, slots=True)
class KmsPolicies:
    """Everything that can decide a KMS request.

    ``key_policy`` is None only for resources that are not keys (aliases, ``*``) or a key with no
    policy (which then allows nothing). ``scps``/``rcps``: a flat sequence of policies is one
    level; a sequence of sequences lists the levels from the organization root to the account.
    For ``kms:RetireGrant`` pass the grant being retired (its retiring principal may retire it).
    """

    key_policy: Policy | None
    identity_policies: Sequence[Policy] = ()
    grants: Sequence[Grant] = ()
    scps: Sequence[Policy] | Sequence[Sequence[Policy]] = ()
    rcps: Sequence[Policy] | Sequence[Sequence[Policy]] = ()
    permissions_boundary: Policy | None = None
    session_policies: Sequence[Policy] = ()
    scp_levels: tuple[tuple[Policy, ...], ...] = field(init=False, repr=False, compare=False)
    rcp_levels: tuple[tuple[Policy, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity_policies", tuple(self.identity_policies))
        object.__setattr__(self, "grants", tuple(self.grants))
        object.__setattr__(self, "session_policies", tuple(self.session_policies))
        object.__setattr__(self, "scp_levels", normalize_levels(self.scps))
        object.__setattr__(self, "rcp_levels", normalize_levels(self.rcps))


def is_key_arn(resource: str) -> bool:
    """``arn:<partition>:kms:<region>:<account>:key/<id>``."""
    parts = resource.split(":", 5)
    return len(parts) == 6 and parts[2] == "kms" and parts[5].startswith("key/")


def _grant_ref(grant: Grant) -> MatchedStatement:
    return MatchedStatement(
        source_policy_id=grant.name or grant.grant_id,
        source_policy_type=PolicyType.GRANT,
        effect=Effect.ALLOW,
        sid=grant.grant_id,
    )


def _retiring(grant: Grant, request: Request) -> bool:
    caller = request.caller
    return request.action_lower == "kms:retiregrant" and grant.retiring_principal in (
        caller.arn,
        caller.principal_arn,
    )


def _account_grant_allows(grant: Grant, request: Request) -> bool:
    """A grant to the caller's account: usable only through IAM delegation (like root)."""
    if not grant.names_account_of(request) or (grant.key_arn and grant.key_arn != request.resource):
        return False
    op = grant.operation_for(request)
    return op is not None and grant.constraints_hold(op, request)


def authorize_kms(
    request: Request, policies: KmsPolicies, *, matcher: Matcher = match_policy
) -> Decision:
    """Decide a KMS request the way KMS does (see the module docstring); never raises for denials.

    ``request.resource`` is the key ARN (alias ARN or ``*`` for actions on aliases or the
    account, which identity policies govern alone); encryption context comes from the
    ``kms:EncryptionContext:<k>`` context keys.
    """
    ev = Evaluation(request, matcher)
    caller = request.caller
    key_resource = is_key_arn(request.resource)
    scp_matches = (
        ev.guardrails(policies.scp_levels, policies.rcp_levels)
        if policies.scp_levels or policies.rcp_levels
        else ()
    )
    kp = (
        ev.run(policies.key_policy, PolicyType.KEY_POLICY, "default")
        if key_resource and policies.key_policy
        else None
    )
    ids = (
        ev.run_all(policies.identity_policies, PolicyType.IDENTITY)
        if policies.identity_policies
        else ()
    )
    pb = policies.permissions_boundary
    boundary = ev.run(pb, PolicyType.PERMISSIONS_BOUNDARY) if pb is not None else None
    sessions = (
        ev.run_all(policies.session_policies, PolicyType.SESSION)
        if policies.session_policies
        else []
    )
    if ev.denies:
        return ev.explicit_deny()  # type: ignore[return-value]  # not None when denies exist
    if scp_matches:
        gap = ev.scp_gap(scp_matches)
        if gap is not None:
            return gap
    identity_hits = [h[0] for m in ids for h in m.allows]
    # The root user has full access within its account: its identity side always allows.
    # (Checked where needed, off the hot path: a key policy naming the caller decides first.)
    limit = ev.limits(boundary, sessions) if boundary is not None or sessions else None
    action = request.action_lower

    if not key_resource:
        # aliases and account-level actions: identity (IAM) policies alone decide
        # another account's alias: that account's policies would have to allow the root user
        identity_ok = bool(identity_hits) or (
            caller.type is PrincipalType.ACCOUNT
            and request.resource_account in (None, caller.account)
        )
        if identity_ok and limit is None:
            return ev.allow(PolicyType.IDENTITY, identity_hits)
        return ev.implicit_deny(limit or PolicyType.IDENTITY, identity_hits)

    account_grants: list[MatchedStatement] = []
    if policies.grants:
        # grants allow by themselves (also across accounts); constraints checked per grant
        grants = [g for g in policies.grants if g.allows(request) or _retiring(g, request)]
        if grants:
            refs = [_grant_ref(g) for g in grants]
            ev.note(refs)
            return ev.allow(PolicyType.GRANT, refs)
        account_grants = [
            _grant_ref(g) for g in policies.grants if _account_grant_allows(g, request)
        ]
        ev.note(account_grants)

    if kp is None:
        return ev.implicit_deny(PolicyType.RESOURCE)
    direct: list[MatchedStatement] = []
    via_role: list[MatchedStatement] = []
    via_account: list[MatchedStatement] = []
    # kms:RetireGrant in a key policy has no effect (KMS Developer Guide, retiring grants)
    if action != "kms:retiregrant":
        for ref, how in kp.allows:
            if how is PrincipalMatch.ROLE:
                via_role.append(ref)
            elif how is PrincipalMatch.ACCOUNT:
                via_account.append(ref)
            else:
                direct.append(ref)
    via_account += account_grants

    # service principals and anonymous callers have no account: the key policy alone decides
    if caller.account is not None and caller.account != request.resource_account:
        kp_refs = direct + via_role + via_account
        if action not in CROSS_ACCOUNT_ACTIONS or not kp_refs:
            return ev.implicit_deny(PolicyType.RESOURCE, kp_refs)
        if not identity_hits and caller.type is not PrincipalType.ACCOUNT:
            return ev.implicit_deny(PolicyType.IDENTITY, kp_refs)
        if limit is not None:
            return ev.implicit_deny(limit, kp_refs + identity_hits)
        return ev.allow(PolicyType.KEY_POLICY, kp_refs + identity_hits)

    if direct:
        return ev.allow(PolicyType.KEY_POLICY, direct)
    identity_ok = bool(identity_hits) or caller.type is PrincipalType.ACCOUNT
    if via_role and limit is None:
        return ev.allow(PolicyType.KEY_POLICY, via_role)
    if action == "kms:retiregrant" and identity_ok and limit is None:
        return ev.allow(PolicyType.IDENTITY, identity_hits)
    if via_account and identity_ok and limit is None:
        # the key policy only enables IAM: the identity policy is what allowed
        return ev.allow(PolicyType.IDENTITY, via_account + identity_hits)
    if limit is not None and (via_role or (via_account and identity_ok)):
        return ev.implicit_deny(limit, via_role + via_account + identity_hits)
    if via_account:
        return ev.implicit_deny(PolicyType.IDENTITY, via_account)
    return ev.implicit_deny(PolicyType.RESOURCE)
