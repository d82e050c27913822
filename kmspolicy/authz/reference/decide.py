"""The reference evaluator's decisions: KMS's and IAM's combining rules, written out plainly.

Layer: authz (pure). It shares no combining code with ``authz.kms`` (the rule table) or
``authz.evaluator``: it runs each policy with :func:`match_policy_reference`, keeps its own
record of what matched, and walks the rules in the order the documentation tells them (KMS
Developer Guide, "KMS key access and permissions", "Grants in AWS KMS", "Allowing users in other
accounts"; IAM User Guide, "Policy evaluation logic"). Its decisions carry no nearest miss
(explanations are not part of what the property tests compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kmspolicy.authz.context import PrincipalType
from kmspolicy.authz.decision import Decision, DecisionKind, MatchedStatement, PolicyType
from kmspolicy.authz.grants import EC_OPERATIONS
from kmspolicy.authz.kms import CROSS_ACCOUNT_ACTIONS
from kmspolicy.authz.principals import PrincipalMatch
from kmspolicy.authz.reference.policy import match_policy_reference
from kmspolicy.lang.ast import Effect

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request
    from kmspolicy.authz.grants import Grant
    from kmspolicy.authz.index import PolicyMatch
    from kmspolicy.authz.kms import KmsPolicies
    from kmspolicy.lang.ast import Policy

#: which policy type an explicit deny is reported against when several denied
_DENY_REPORTED = (
    PolicyType.SCP,
    PolicyType.RCP,
    PolicyType.KEY_POLICY,
    PolicyType.RESOURCE,
    PolicyType.IDENTITY,
    PolicyType.POLICY,
    PolicyType.PERMISSIONS_BOUNDARY,
    PolicyType.SESSION,
)


class _Record:
    """Runs policies for one request and remembers what they said, in consultation order."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.trail: list[MatchedStatement] = []
        self.denied: list[tuple[PolicyType, MatchedStatement]] = []
        self.missing: list[str] = []

    def run(self, policy: Policy, ptype: PolicyType, name: str | None = None) -> PolicyMatch:
        m = match_policy_reference(policy, self.request, ptype, name)
        self.missing += m.missing
        hits = sorted(m.allows + m.denies, key=lambda h: h[0].statement_index)
        self.trail += [ref for ref, _ in hits]
        self.denied += [(ptype, ref) for ref, _ in m.denies]
        return m

    def decision(
        self, kind: DecisionKind, by: PolicyType, cited: Sequence[MatchedStatement] = ()
    ) -> Decision:
        r = self.request
        return Decision(
            kind,
            r.action,
            r.resource,
            r.caller.arn,
            tuple(cited),
            tuple(dict.fromkeys(self.missing)),
            None,
            by,
            tuple(self.trail),
        )

    def explicit_deny(self) -> Decision:
        first = min((t for t, _ in self.denied), key=_DENY_REPORTED.index)
        return self.decision(DecisionKind.EXPLICIT_DENY, first, [ref for _, ref in self.denied])


def _levels(levels: Sequence[Policy] | Sequence[Sequence[Policy]]) -> list[list[Policy]]:
    if not levels:
        return []
    if all(isinstance(level, (list, tuple)) for level in levels):
        return [list(level) for level in levels]  # type: ignore[arg-type]
    return [list(levels)]  # type: ignore[arg-type]


def _resource_parts(resource: str) -> list[str]:
    return resource.split(":", 5)


def _is_key(resource: str) -> bool:
    parts = _resource_parts(resource)
    return len(parts) == 6 and parts[2] == "kms" and parts[5].startswith("key/")


def _resource_account(resource: str) -> str | None:
    parts = _resource_parts(resource)
    return parts[4] or None if len(parts) == 6 else None


# --- grants (KMS Developer Guide, "Grants in AWS KMS"; API reference, GrantConstraints) ---


def _grant_operation(grant: Grant, request: Request) -> str | None:
    service, _, name = request.action.partition(":")
    if service.lower() != "kms":
        return None
    return next((op for op in grant.operations if op.lower() == name.lower()), None)


def _constraints_met(grant: Grant, operation: str, request: Request) -> bool:
    """Constraints apply to operations that take an encryption context; key names compare
    case-insensitively, values exactly."""
    # SourceArn: the request is made on behalf of that resource (any operation)
    if grant.source_arn is not None and request.get("aws:SourceArn") != (grant.source_arn,):
        return False
    if operation not in EC_OPERATIONS:
        return True
    context = {k.lower(): v for k, v in request.encryption_context.items()}
    equals, subset = grant.encryption_context_equals, grant.encryption_context_subset
    if equals is not None and (
        {k.lower() for k in equals} != set(context)
        or any(context.get(k.lower()) != v for k, v in equals.items())
    ):
        return False
    return subset is None or all(context.get(k.lower()) == v for k, v in subset.items())


def _grant_usable(grant: Grant, request: Request) -> bool:
    operation = _grant_operation(grant, request)
    on_this_key = not grant.key_arn or grant.key_arn == request.resource
    return operation is not None and on_this_key and _constraints_met(grant, operation, request)


def _names_caller(grant: Grant, request: Request) -> bool:
    caller = request.caller
    grantee = grant.grantee_principal
    if grantee in (caller.arn, caller.principal_arn):
        return True
    parts = grantee.split(":", 5)
    return (
        caller.type in (PrincipalType.ROLE, PrincipalType.ASSUMED_ROLE)
        and len(parts) == 6
        and parts[2] == "iam"
        and parts[5].startswith("role/")
        and (parts[1], parts[4], parts[5].rsplit("/", 1)[-1])
        == (caller.partition, caller.account, caller.name)
    )


def _grant_ref(grant: Grant) -> MatchedStatement:
    return MatchedStatement(
        grant.name or grant.grant_id, PolicyType.GRANT, Effect.ALLOW, grant.grant_id
    )


# --- the decisions ---


def authorize_kms_reference(request: Request, policies: KmsPolicies) -> Decision:
    """KMS's decision, told as the documentation tells it."""
    if policies.permissions_boundary is not None:
        request = request.with_boundary()
    rec = _Record(request)
    # 0. alias/aws/... names belong to AWS managed keys: KMS refuses to create, move or delete
    # them (NotAuthorizedException) before it reads any policy.
    parts = _resource_parts(request.resource)
    if (
        request.action.lower() in ("kms:createalias", "kms:updatealias", "kms:deletealias")
        and len(parts) == 6
        and parts[2] == "kms"
        and (parts[5] == "alias/aws" or parts[5].startswith("alias/aws/"))
    ):
        return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.POLICY)
    caller = request.caller
    key = _is_key(request.resource)
    # SCPs and RCPs govern the principals of an organization, not AWS services
    service = caller.type is PrincipalType.SERVICE
    scp_levels = [] if service else _levels(policies.scps)
    scp_results = [[rec.run(p, PolicyType.SCP) for p in level] for level in scp_levels]
    if not service:
        for level in _levels(policies.rcps):
            for p in level:
                rec.run(p, PolicyType.RCP)
    key_policy = (
        rec.run(policies.key_policy, PolicyType.KEY_POLICY, "default")
        if key and policies.key_policy is not None
        else None
    )
    identity = [rec.run(p, PolicyType.IDENTITY) for p in policies.identity_policies]
    boundary = (
        rec.run(policies.permissions_boundary, PolicyType.PERMISSIONS_BOUNDARY)
        if policies.permissions_boundary is not None
        else None
    )
    sessions = [rec.run(p, PolicyType.SESSION) for p in policies.session_policies]

    # 1. An explicit deny in any policy wins.
    if rec.denied:
        return rec.explicit_deny()
    # 2. Every SCP level must allow.
    if any(not any(m.allows for m in level) for level in scp_results):
        return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.SCP)

    identity_allows = [ref for m in identity for ref, _ in m.allows]
    root = caller.type is PrincipalType.ACCOUNT
    limiting: PolicyType | None = None
    if boundary is not None and not boundary.allows:
        limiting = PolicyType.PERMISSIONS_BOUNDARY
    elif sessions and not any(m.allows for m in sessions):
        limiting = PolicyType.SESSION

    # 3. Not a key (an alias, the account): IAM policies alone decide.
    if not key:
        at_home = root and _resource_account(request.resource) in (None, caller.account)
        if limiting is not None:
            return rec.decision(DecisionKind.IMPLICIT_DENY, limiting, identity_allows)
        if identity_allows or at_home:
            return rec.decision(DecisionKind.ALLOWED, PolicyType.IDENTITY, identity_allows)
        return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.IDENTITY)

    # 4. A grant for the caller allows by itself; its retiring principal may retire it.
    retiring = request.action.lower() == "kms:retiregrant"
    granted = [
        g
        for g in policies.grants
        if (_names_caller(g, request) and _grant_usable(g, request))
        or (retiring and g.retiring_principal in (caller.arn, caller.principal_arn))
    ]
    if granted:
        refs = [_grant_ref(g) for g in granted]
        rec.trail += refs
        return rec.decision(DecisionKind.ALLOWED, PolicyType.GRANT, refs)
    # a grant to the caller's account works like the key policy naming the account; so does
    # one whose retiring principal is the account, for RetireGrant (the account delegates it
    # through IAM: KMS Developer Guide, "Retiring and revoking grants")
    to_account = [
        _grant_ref(g)
        for g in policies.grants
        if caller.account is not None
        and (
            (g.grantee_principal == caller.root_arn and _grant_usable(g, request))
            or (retiring and g.retiring_principal == caller.root_arn)
        )
    ]
    rec.trail += to_account

    # 5. The key policy must allow: naming the caller, its role, or its account.
    if key_policy is None:
        return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.RESOURCE)
    kp_allows = [] if retiring else key_policy.allows  # RetireGrant there has no effect
    names_caller = [
        ref for ref, how in kp_allows if how in (PrincipalMatch.CALLER, PrincipalMatch.ANYONE)
    ]
    names_role = [ref for ref, how in kp_allows if how is PrincipalMatch.ROLE]
    names_account = [ref for ref, how in kp_allows if how is PrincipalMatch.ACCOUNT] + to_account
    identity_side = bool(identity_allows) or root

    # 6. Across accounts: a cross-account operation, allowed by the key policy AND by the
    #    caller's own IAM policies (its root user needs none), unlimited by its boundary.
    if caller.account is not None and caller.account != _resource_account(request.resource):
        key_side = names_caller + names_role + names_account
        if request.action.lower() not in CROSS_ACCOUNT_ACTIONS or not key_side:
            return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.RESOURCE, key_side)
        if not identity_side:
            return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.IDENTITY, key_side)
        if limiting is not None:
            return rec.decision(DecisionKind.IMPLICIT_DENY, limiting, key_side + identity_allows)
        return rec.decision(DecisionKind.ALLOWED, PolicyType.KEY_POLICY, key_side + identity_allows)

    # 7. Same account.
    if names_caller:  # naming the user or session itself: no boundary applies
        return rec.decision(DecisionKind.ALLOWED, PolicyType.KEY_POLICY, names_caller)
    if limiting is None:
        if names_role:
            return rec.decision(DecisionKind.ALLOWED, PolicyType.KEY_POLICY, names_role)
        if retiring and identity_side:
            return rec.decision(DecisionKind.ALLOWED, PolicyType.IDENTITY, identity_allows)
        if names_account and identity_side:
            return rec.decision(
                DecisionKind.ALLOWED, PolicyType.IDENTITY, names_account + identity_allows
            )
    elif names_role or (names_account and identity_side):
        return rec.decision(
            DecisionKind.IMPLICIT_DENY, limiting, names_role + names_account + identity_allows
        )
    if names_account:
        return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.IDENTITY, names_account)
    return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.RESOURCE)


def authorize_iam_reference(
    request: Request,
    identity_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    *,
    scps: Sequence[Policy] | Sequence[Sequence[Policy]] = (),
    permissions_boundary: Policy | None = None,
    session_policies: Sequence[Policy] = (),
) -> Decision:
    """IAM's general decision for a resource that is not a KMS key, told plainly."""
    if permissions_boundary is not None:
        request = request.with_boundary()
    rec = _Record(request)
    caller = request.caller
    levels = [] if caller.type is PrincipalType.SERVICE else _levels(scps)
    scp_results = [[rec.run(p, PolicyType.SCP) for p in level] for level in levels]
    resource = (
        rec.run(resource_policy, PolicyType.RESOURCE) if resource_policy is not None else None
    )
    identity = [rec.run(p, PolicyType.IDENTITY) for p in identity_policies]
    boundary = (
        rec.run(permissions_boundary, PolicyType.PERMISSIONS_BOUNDARY)
        if permissions_boundary is not None
        else None
    )
    sessions = [rec.run(p, PolicyType.SESSION) for p in session_policies]
    if rec.denied:
        return rec.explicit_deny()
    if any(not any(m.allows for m in level) for level in scp_results):
        return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.SCP)
    identity_allows = [ref for m in identity for ref, _ in m.allows]
    identity_side = bool(identity_allows) or caller.type is PrincipalType.ACCOUNT
    limiting: PolicyType | None = None
    if boundary is not None and not boundary.allows:
        limiting = PolicyType.PERMISSIONS_BOUNDARY
    elif sessions and not any(m.allows for m in sessions):
        limiting = PolicyType.SESSION
    resource_hits = resource.allows if resource is not None else []
    owner = _resource_account(request.resource) or caller.account
    if caller.account is not None and owner != caller.account:
        refs = [ref for ref, _ in resource_hits]
        if not refs:
            return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.RESOURCE)
        if not identity_side:
            return rec.decision(DecisionKind.IMPLICIT_DENY, PolicyType.IDENTITY, refs)
        if limiting is not None:
            return rec.decision(DecisionKind.IMPLICIT_DENY, limiting, refs + identity_allows)
        return rec.decision(DecisionKind.ALLOWED, PolicyType.RESOURCE, refs + identity_allows)
    names_caller = [
        ref for ref, how in resource_hits if how in (PrincipalMatch.CALLER, PrincipalMatch.ANYONE)
    ]
    if names_caller:
        return rec.decision(DecisionKind.ALLOWED, PolicyType.RESOURCE, names_caller)
    names_role = [ref for ref, how in resource_hits if how is PrincipalMatch.ROLE]
    if limiting is None and names_role:
        return rec.decision(DecisionKind.ALLOWED, PolicyType.RESOURCE, names_role)
    if limiting is None and identity_side:
        return rec.decision(DecisionKind.ALLOWED, PolicyType.IDENTITY, identity_allows)
    if limiting is not None and (identity_side or names_role):
        return rec.decision(DecisionKind.IMPLICIT_DENY, limiting, names_role + identity_allows)
    return rec.decision(
        DecisionKind.IMPLICIT_DENY, PolicyType.IDENTITY, [ref for ref, _ in resource_hits]
    )
