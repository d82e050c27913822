"""KMS authorization as a rule table: facts about the request first, then the first rule that
applies decides.

Layer: authz (pure). In the style of Cedar's authorizer, the decision is data, not a cascade of
``if``s: :class:`Facts` says what every policy said about the request (computed once: which
statements matched, and how their principal named the caller), and :data:`RULES` lists, in
order, when a request is allowed or denied and by which policy type. Each row cites the AWS rule
it encodes (KMS Developer Guide: "KMS key access and permissions", "Key policies", "Default key
policy", "Grants in AWS KMS", "Retiring and revoking grants", "Allowing users in other accounts
to use a KMS key"; IAM User Guide: "Policy evaluation logic", "Cross-account policy evaluation
logic", "Permissions boundaries for IAM entities", "Service control policies"). The last row
always applies, so every request gets exactly one decision. The account's root user is not
governed by identity-based policies, so its identity side always allows (also across accounts),
while the key policy still has to allow it ("no AWS principal, including the account root user,
has any permissions to a KMS key unless explicitly allowed").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from operator import attrgetter
from typing import cast

from kmspolicy.authz.arn import Arn
from kmspolicy.authz.context import PrincipalType, Request
from kmspolicy.authz.decision import Decision, MatchedStatement, PolicyType
from kmspolicy.authz.evaluator import Evaluation, Matcher, denied_over_limit, normalize_levels
from kmspolicy.authz.grants import Grant, GrantSet
from kmspolicy.authz.index import match_policy
from kmspolicy.authz.limits import EvaluationLimitExceeded
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
    ``grants`` becomes a :class:`GrantSet` (pass one to reuse its index across requests).
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
        if not isinstance(self.grants, GrantSet):
            object.__setattr__(self, "grants", GrantSet(self.grants))
        object.__setattr__(self, "session_policies", tuple(self.session_policies))
        object.__setattr__(self, "scp_levels", normalize_levels(self.scps))
        object.__setattr__(self, "rcp_levels", normalize_levels(self.rcps))

    @property
    def grant_set(self) -> GrantSet:
        """``grants``, which ``__post_init__`` made a GrantSet."""
        return cast(GrantSet, self.grants)


def is_key_arn(resource: str) -> bool:
    """``arn:<partition>:kms:<region>:<account>:key/<id>``."""
    return _names_a_key(Arn.of(resource))


def _names_a_key(arn: Arn | None) -> bool:
    return arn is not None and arn.service == "kms" and arn.resource.startswith("key/")


#: Alias management that no policy can allow on a name under ``alias/aws/`` (AWS managed keys'
#: aliases): KMS answers NotAuthorizedException before it evaluates any policy.
_ALIAS_MANAGEMENT = frozenset({"kms:createalias", "kms:updatealias", "kms:deletealias"})


def is_reserved_alias_arn(resource: str) -> bool:
    """``arn:<partition>:kms:<region>:<account>:alias/aws/...``: an AWS managed key's alias."""
    arn = Arn.of(resource)
    return (
        arn is not None
        and arn.service == "kms"
        and (arn.resource.startswith("alias/aws/") or arn.resource == "alias/aws")
    )


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


def _account_may_retire(grant: Grant, request: Request) -> bool:
    """A grant whose retiring principal is the caller's account: that account may delegate
    kms:RetireGrant to its principals through IAM, like a key policy naming the account (KMS
    Developer Guide, "Retiring and revoking grants": "If the retiring principal is a different
    AWS account, administrators in the other account can use kms:RetireGrant to delegate
    permission to retire the grant to an IAM principal in that account")."""
    caller = request.caller
    return (
        request.action_lower == _RETIRE_ACTION
        and caller.account is not None
        and grant.retiring_principal == caller.root_arn
    )


def _account_grant_allows(grant: Grant, request: Request) -> bool:
    """A grant to the caller's account: usable only through IAM delegation (like root)."""
    if _account_may_retire(grant, request):
        return True
    if not grant.names_account_of(request) or (grant.key_arn and grant.key_arn != request.resource):
        return False
    op = grant.operation_for(request)
    return op is not None and grant.constraints_hold(op, request)


class Fact:
    """The yes/no facts rules test, as bits (a rule tests a conjunction of them with one mask
    operation, so the table costs no function call per row on the hot path)."""

    #: some consulted policy explicitly denies
    DENIED = 1 << 0
    #: an SCP level allows nothing
    SCP_GAP = 1 << 1
    #: the resource is a KMS key (else an alias, ``*`` or an account-level resource)
    KEY = 1 << 2
    #: a grant naming the caller (or its role) allows, or the caller may retire it
    GRANT = 1 << 3
    #: the key has a key policy (it was consulted)
    KEY_POLICY = 1 << 4
    #: the caller has an account and it is not the key's (service principals have none)
    CROSS_ACCOUNT = 1 << 5
    #: the action works across accounts (operation table: ``cross_account``)
    CROSS_ACCOUNT_ACTION = 1 << 6
    #: the key policy allows, naming the caller itself or anyone
    DIRECT = 1 << 7
    #: the key policy allows, naming the role of the caller's session
    VIA_ROLE = 1 << 8
    #: the key policy (or a grant) allows the caller's account: IAM must allow too
    VIA_ACCOUNT = 1 << 9
    #: the key policy allows in any of the three ways
    KEY_POLICY_ALLOWS = 1 << 10
    #: an identity-based policy allows
    IDENTITY = 1 << 11
    #: the identity side allows: an identity-based policy does, or the caller is the root user
    IDENTITY_OK = 1 << 12
    #: the caller is the root user of the resource's account (or the resource has none)
    ROOT_HERE = 1 << 13
    #: a permissions boundary or the session policies do not allow
    LIMITED = 1 << 14
    #: the action is kms:RetireGrant
    RETIRE = 1 << 15


# module constants: the hot path reads globals, not class attributes
_CROSS_ACCOUNT = Fact.CROSS_ACCOUNT
_DENIED = Fact.DENIED
_DIRECT = Fact.DIRECT
_GRANT = Fact.GRANT
_IDENTITY = Fact.IDENTITY
_IDENTITY_OK = Fact.IDENTITY_OK
_KEY = Fact.KEY
_KEY_POLICY = Fact.KEY_POLICY
_KEY_POLICY_ALLOWS = Fact.KEY_POLICY_ALLOWS
_LIMITED = Fact.LIMITED
_ROOT_HERE = Fact.ROOT_HERE
_SCP_GAP = Fact.SCP_GAP
_VIA_ACCOUNT = Fact.VIA_ACCOUNT
_VIA_ROLE = Fact.VIA_ROLE
_BEFORE_GRANTS = Fact.DENIED | Fact.SCP_GAP
_RETIRE_ACTION = "kms:retiregrant"
_CROSS_ACCOUNT_ACTION = Fact.CROSS_ACCOUNT_ACTION
_RETIRE = Fact.RETIRE


class Facts:
    """What the policies said about one request: the inputs of every rule, computed once.

    ``bits`` holds the :class:`Fact` flags; the lists hold the matching Allow statements (and
    grants) the rules cite when they decide.
    """

    __slots__ = (
        "bits",
        "direct",
        "ev",
        "grants",
        "identity",
        "limit",
        "usable_grants",
        "via_account",
        "via_role",
    )

    def __init__(self, request: Request, policies: KmsPolicies, matcher: Matcher) -> None:
        ev = self.ev = Evaluation(request, matcher)
        caller = request.caller
        # the request parsed its resource once (_names_a_key and its account, inlined)
        arn = request.resource_arn
        key = arn is not None and arn.service == "kms" and arn.resource.startswith("key/")
        resource_account = arn.account or None if arn is not None else None
        scps = (
            ev.guardrails(policies.scp_levels, policies.rcp_levels)
            if policies.scp_levels or policies.rcp_levels
            else ()
        )
        kp = (
            ev.run(policies.key_policy, PolicyType.KEY_POLICY, "default")
            if key and policies.key_policy
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
        self.identity = [h[0] for m in ids for h in m.allows] if ids else []
        self.limit = ev.limits(boundary, sessions) if boundary is not None or sessions else None
        retire = request.action_lower == _RETIRE_ACTION
        #: grants naming the caller (or its role) that allow, or that it may retire; else the
        #: grants to its account, which allow only through IAM like the key policy's account
        self.grants: Sequence[MatchedStatement] = ()
        account_grants: Sequence[MatchedStatement] = ()
        if key and policies.grants:
            # only the grants naming the caller, its role or its account can match (GrantSet)
            mine = policies.grant_set.for_caller(caller)
            self.grants = [
                _grant_ref(g) for g in mine if g.allows(request) or _retiring(g, request)
            ]
            if not self.grants:
                account_grants = [_grant_ref(g) for g in mine if _account_grant_allows(g, request)]
        self.direct: list[MatchedStatement] = []
        self.via_role: list[MatchedStatement] = []
        self.via_account: list[MatchedStatement] = []
        # kms:RetireGrant in a key policy has no effect (KMS Developer Guide, retiring grants)
        if kp is not None and not retire:
            for ref, how in kp.allows:
                if how is PrincipalMatch.ROLE:
                    self.via_role.append(ref)
                elif how is PrincipalMatch.ACCOUNT:
                    self.via_account.append(ref)
                else:
                    self.direct.append(ref)
        if account_grants:
            self.via_account += account_grants
        #: the grants that matched: listed among all matched statements once grants are looked
        #: at (an explicit deny or an SCP gap decides before they are)
        self.usable_grants = self.grants or account_grants
        # the action's facts (a set member, the retire test); the rest: what the policies said
        bits = _CROSS_ACCOUNT_ACTION if request.action_lower in CROSS_ACCOUNT_ACTIONS else 0
        if retire:
            bits |= _RETIRE
        if key:
            bits |= _KEY
            if kp is not None:
                bits |= _KEY_POLICY
                if self.direct:
                    bits |= _DIRECT | _KEY_POLICY_ALLOWS
                if self.via_role:
                    bits |= _VIA_ROLE | _KEY_POLICY_ALLOWS
            if self.via_account:
                bits |= _VIA_ACCOUNT | _KEY_POLICY_ALLOWS
            if self.grants:
                bits |= _GRANT
        if ev.denies:
            bits |= _DENIED
        if scps and any(not any(m.allows for m in level) for level in scps):
            bits |= _SCP_GAP
        if caller.account is not None and caller.account != resource_account:
            bits |= _CROSS_ACCOUNT
        if self.identity:
            bits |= _IDENTITY | _IDENTITY_OK
        if caller.type is PrincipalType.ACCOUNT:
            bits |= _IDENTITY_OK
            if resource_account in (None, caller.account):
                bits |= _ROOT_HERE
        if self.limit is not None:
            bits |= _LIMITED
        self.bits = bits


class Outcome(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


class Limit(Enum):
    """``Rule.by`` for the rows that report the limiting policy type that failed to allow (an
    enum member, so a type checker tells it from a policy type without a runtime cast)."""

    LIMIT = "limit"


LIMIT = Limit.LIMIT
#: the statement lists a rule can cite (``Facts`` attributes)
KP_ALLOWS = ("direct", "via_role", "via_account")


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: the request gets ``outcome`` when every fact in ``needs`` holds
    and none in ``refuses`` does (and no earlier row applied); the decision is reported against
    ``by`` and cites the statement lists named in ``cites``."""

    name: str
    needs: int
    refuses: int
    outcome: Outcome
    #: a policy type; ``LIMIT`` for the failing boundary/session type; None for the explicit
    #: deny row, which the denying policy types name (first in the order SCP, RCP, key policy,
    #: identity, boundary, session: ``Evaluation.explicit_deny``)
    by: PolicyType | Limit | None
    cites: tuple[str, ...] = ()
    #: the statements the row cites, read off the facts: the lists named in ``cites``,
    #: concatenated in that order (one list as it is, read by a C getter)
    cited: Callable[[Facts], Sequence[MatchedStatement]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "cited", _citing(self.cites))

    def applies(self, bits: int) -> bool:
        return bits & self.needs == self.needs and not bits & self.refuses


def _citing(names: tuple[str, ...]) -> Callable[[Facts], Sequence[MatchedStatement]]:
    if not names:
        return lambda _: ()
    if len(names) == 1:
        return attrgetter(names[0])
    lists = attrgetter(*names)
    return lambda facts: [ref for refs in lists(facts) for ref in refs]


F = Fact
ALLOW, DENY = Outcome.ALLOW, Outcome.IMPLICIT_DENY
KEY_POLICY, IDENTITY, RESOURCE = PolicyType.KEY_POLICY, PolicyType.IDENTITY, PolicyType.RESOURCE

#: The KMS decision: the first row that applies decides (the last applies to everything).
RULES: tuple[Rule, ...] = (
    # IAM, Policy evaluation logic: an explicit deny in any policy overrides every allow
    # (SCP, RCP, key policy, identity, boundary, session).
    Rule("explicit-deny", F.DENIED, 0, Outcome.EXPLICIT_DENY, None),
    # IAM, Service control policies: every level from the root to the account must allow.
    # (RCPs hold an implicit RCPFullAWSAccess, so they can only deny: the row above.)
    Rule("scp-level-silent", F.SCP_GAP, 0, DENY, PolicyType.SCP),
    # --- not a key: aliases and account-level actions (CreateKey, ListKeys…) have no key
    # policy; identity-based policies alone decide (KMS, "Controlling access to aliases") ---
    Rule("not-a-key:limited", F.LIMITED, F.KEY, DENY, LIMIT, ("identity",)),
    Rule("not-a-key:identity-allows", F.IDENTITY, F.KEY, ALLOW, IDENTITY, ("identity",)),
    # the root user has full access within its account (not to another account's aliases)
    Rule("not-a-key:root-user", F.ROOT_HERE, F.KEY, ALLOW, IDENTITY, ("identity",)),
    Rule("not-a-key:no-identity-allow", 0, F.KEY, DENY, IDENTITY),
    # --- a KMS key ---
    # KMS, Grants in AWS KMS: a grant allows its grantee its operations by itself, also across
    # accounts; the grant's retiring principal may retire it.
    Rule("grant", F.GRANT, 0, ALLOW, PolicyType.GRANT, ("grants",)),
    # KMS, Key policies: "no AWS principal has any permissions to a KMS key unless that
    # permission is provided explicitly" — a key without a policy allows nothing.
    Rule("no-key-policy", 0, F.KEY_POLICY, DENY, RESOURCE),
    # KMS, Allowing users in other accounts to use a KMS key: only the operations marked
    # "Cross-account use: Yes" work on another account's key...
    Rule(
        "cross-account:local-action",
        F.CROSS_ACCOUNT,
        F.CROSS_ACCOUNT_ACTION,
        DENY,
        RESOURCE,
        KP_ALLOWS,
    ),
    # ...the key policy must allow the external account or principal...
    Rule("cross-account:key-policy-silent", F.CROSS_ACCOUNT, F.KEY_POLICY_ALLOWS, DENY, RESOURCE),
    # ...and an IAM policy of the external account must allow too (IAM, Cross-account policy
    # evaluation logic: both sides); its root user needs no identity-based policy.
    Rule(
        "cross-account:no-identity-allow",
        F.CROSS_ACCOUNT,
        F.IDENTITY_OK,
        DENY,
        IDENTITY,
        KP_ALLOWS,
    ),
    # a permissions boundary or session policy limits the external principal's identity side
    Rule(
        "cross-account:limited",
        F.CROSS_ACCOUNT | F.LIMITED,
        0,
        DENY,
        LIMIT,
        (*KP_ALLOWS, "identity"),
    ),
    Rule(
        "cross-account:both-allow",
        F.CROSS_ACCOUNT,
        0,
        ALLOW,
        KEY_POLICY,
        (*KP_ALLOWS, "identity"),
    ),
    # --- same account ---
    # IAM, Policy evaluation logic: a resource-based policy that names the IAM user or the
    # session itself allows without the boundary or session policies' consent...
    Rule("key-policy-names-caller", F.DIRECT, 0, ALLOW, KEY_POLICY, ("direct",)),
    # ...one that names the role of the session is limited by them.
    Rule("key-policy-names-role", F.VIA_ROLE, F.LIMITED, ALLOW, KEY_POLICY, ("via_role",)),
    # KMS, Retiring and revoking grants: kms:RetireGrant in a key policy has no effect; "the
    # AWS account that owns the KMS key can delegate the kms:RetireGrant permission to [an]
    # IAM principal in the account" (its root user may retire any grant there); API reference,
    # RetireGrant: "principals to whom permission for retiring a grant is delegated".
    Rule(
        "retire-grant:identity-allows",
        F.RETIRE | F.IDENTITY_OK,
        F.LIMITED,
        ALLOW,
        IDENTITY,
        ("identity",),
    ),
    # KMS, Default key policy ("allows access to the AWS account and enables IAM policies"):
    # naming the account lets IAM policies allow; one does.
    Rule(
        "key-policy-enables-iam",
        F.VIA_ACCOUNT | F.IDENTITY_OK,
        F.LIMITED,
        ALLOW,
        IDENTITY,
        ("via_account", "identity"),
    ),
    # IAM, Permissions boundaries: the effective permissions are the intersection of the
    # boundary (and session policies) with the identity or role allow.
    Rule(
        "limited:role",
        F.VIA_ROLE | F.LIMITED,
        0,
        DENY,
        LIMIT,
        ("via_role", "via_account", "identity"),
    ),
    Rule(
        "limited:iam",
        F.VIA_ACCOUNT | F.IDENTITY_OK | F.LIMITED,
        0,
        DENY,
        LIMIT,
        ("via_role", "via_account", "identity"),
    ),
    # KMS, IAM policies: the key policy enables IAM policies, but none allows.
    Rule(
        "key-policy-enables-iam:no-identity-allow",
        F.VIA_ACCOUNT,
        0,
        DENY,
        IDENTITY,
        ("via_account",),
    ),
    # KMS, Key policies: nothing allowed (IAM allows without the key policy's consent are void).
    Rule("key-policy-silent", 0, 0, DENY, RESOURCE),
)


def authorize_kms(
    request: Request, policies: KmsPolicies, *, matcher: Matcher = match_policy
) -> Decision:
    """Decide a KMS request the way KMS does (see :data:`RULES`); never raises for denials.

    ``request.resource`` is the key ARN (alias ARN or ``*`` for actions on aliases or the
    account, which identity policies govern alone); encryption context comes from the
    ``kms:EncryptionContext:<k>`` context keys.
    """
    if request.action_lower in _ALIAS_MANAGEMENT and is_reserved_alias_arn(request.resource):
        # KMS refuses these before it reads any policy (NotAuthorizedException), so this is
        # not a row of RULES: not even the root user, whatever the policies say
        return Evaluation(request, matcher).implicit_deny(PolicyType.POLICY)
    if policies.permissions_boundary is not None:
        request = request.with_boundary()  # its NotPrincipal denies (principals.py)
    try:
        facts = Facts(request, policies, matcher)
        bits = facts.bits
        rule = _BY_BIT_LENGTH[(_HIGH[bits >> 8] & _LOW[bits & 0xFF]).bit_length()]  # rule_for
        if facts.usable_grants and not facts.bits & _BEFORE_GRANTS:
            facts.ev.note(facts.usable_grants)
        if rule.outcome is Outcome.EXPLICIT_DENY:
            denied = facts.ev.explicit_deny()
            assert denied is not None  # the row needs DENIED
            return denied
        by = facts.limit if rule.by is LIMIT else rule.by
        assert by is not None  # the explicit-deny row returned above; a LIMIT row needs LIMITED
        cited = rule.cited(facts)
        if rule.outcome is Outcome.ALLOW:
            return facts.ev.allow(by, cited)
        return facts.ev.implicit_deny(by, cited)
    except EvaluationLimitExceeded as exceeded:
        return denied_over_limit(request, exceeded)


_FACT_BITS = 16
assert all(r.needs | r.refuses < 1 << _FACT_BITS for r in RULES)  # the facts fit two bytes


def _rows_applying(shift: int) -> tuple[int, ...]:
    """For each value of one byte of the facts: the rows whose masks that byte satisfies, as
    bits, the first row the highest (``RULES[i]`` is bit ``len(RULES) - 1 - i``). A row applies
    when both bytes satisfy it."""
    byte = 0xFF << shift
    top = len(RULES) - 1
    return tuple(
        sum(
            1 << (top - i)
            for i, rule in enumerate(RULES)
            if (part << shift) & rule.needs == rule.needs & byte
            and not (part << shift) & rule.refuses
        )
        for part in range(256)
    )


#: the rows each value of the high and of the low byte of the facts satisfies (two tables of
#: 256 ints, built at import: the first applying row is then two lookups and a bit length)
_HIGH, _LOW = _rows_applying(8), _rows_applying(0)
#: the row whose bit is the highest set one, by the bit length of the applying rows (never 0:
#: the last row applies to everything)
_BY_BIT_LENGTH = (RULES[-1], *reversed(RULES))


def rule_for(bits: int) -> Rule:
    """The first row of :data:`RULES` that applies to these facts (the last applies to all)."""
    return _BY_BIT_LENGTH[(_HIGH[bits >> 8] & _LOW[bits & 0xFF]).bit_length()]
