"""Principal and NotPrincipal matching, with *how* a statement named the caller.

Layer: authz (pure). How matters: a key policy naming the caller's account only delegates to
IAM policies; naming an IAM user or a session directly is not limited by a permissions
boundary, naming a role is (IAM User Guide, policy evaluation logic).
"""

from __future__ import annotations

import re
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from kmspolicy.authz.arn import Arn
from kmspolicy.authz.context import PrincipalType, role_key
from kmspolicy.lang.ast import Principal, PrincipalKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kmspolicy.authz.context import Caller, Request

_ACCOUNT_RE = re.compile(r"^\d{12}$")


class PrincipalMatch(StrEnum):
    """How a statement's principal element matched the caller."""

    #: the statement has no Principal element (identity-based policy)
    IDENTITY = "identity"
    #: names the caller's own ARN (an IAM user, a session, a federated user, the root user)
    CALLER = "caller"
    #: ``"*"`` or a NotPrincipal that does not exclude the caller
    ANYONE = "anyone"
    #: names the role of an assumed-role session (or a role used as the caller)
    ROLE = "role"
    #: names the caller's account: delegation to the account's IAM policies
    ACCOUNT = "account"


_ROLE_TYPES = (PrincipalType.ASSUMED_ROLE, PrincipalType.ROLE)
#: callers a permissions boundary is attached to: an IAM user, a role and the role's sessions
BOUNDED_TYPES = (PrincipalType.USER, *_ROLE_TYPES)


def denied_whatever_listed(request: Request) -> bool:
    """IAM User Guide ("Permissions boundaries for IAM entities", "NotPrincipal"): a
    resource-based statement with ``Deny`` and ``NotPrincipal`` always denies an IAM principal
    that has a permissions boundary attached, regardless of the values NotPrincipal lists.
    (Session policies are not named there and change nothing.)"""
    return request.boundary_attached and request.caller.type in BOUNDED_TYPES


#: preference when several values of one statement name the caller
_RANK = MappingProxyType(
    {
        PrincipalMatch.CALLER: 0,
        PrincipalMatch.ANYONE: 1,
        PrincipalMatch.ROLE: 2,
        PrincipalMatch.ACCOUNT: 3,
    }
)


def canonical(value: str) -> str:
    """An AWS principal value with the account-id shorthand expanded to the root ARN."""
    return f"arn:aws:iam::{value}:root" if _ACCOUNT_RE.match(value) else value


def role_parts(value: str) -> tuple[str, str, str] | None:
    """(partition, account, role name) of an IAM role ARN (path dropped), else None."""
    arn = Arn.of(value)
    if arn is None or arn.service != "iam" or not arn.resource.startswith("role/"):
        return None
    return arn.partition, arn.account, arn.resource.rsplit("/", 1)[-1]


def index_key(principal: Principal) -> str | None:
    """The exact key a statement is indexed under for this principal value (None: not indexable)."""
    if principal.kind is PrincipalKind.ANY or principal.value == "*":
        return None
    value = canonical(principal.value)
    if principal.kind is PrincipalKind.AWS:
        role = role_parts(value)
        if role is not None:
            return role_key(*role)
    return value


def value_match(principal: Principal, caller: Caller) -> PrincipalMatch | None:
    """How one principal value names the caller, or None."""
    if principal.kind is PrincipalKind.ANY or principal.value == "*":
        return PrincipalMatch.ANYONE
    value = canonical(principal.value) if principal.kind is PrincipalKind.AWS else principal.value
    if principal.kind is not PrincipalKind.AWS:
        # Service, Federated and CanonicalUser principals name exactly one caller
        return PrincipalMatch.CALLER if value == caller.arn else None
    if value == caller.arn:
        return PrincipalMatch.ROLE if caller.type is PrincipalType.ROLE else PrincipalMatch.CALLER
    if caller.type in (PrincipalType.ASSUMED_ROLE, PrincipalType.ROLE):
        role = role_parts(value)
        if role is not None and role == (caller.partition, caller.account, caller.name):
            return PrincipalMatch.ROLE
    if caller.account is not None and value == caller.root_arn:
        return PrincipalMatch.ACCOUNT
    return None


def principals_match(
    principals: Sequence[Principal] | None,
    not_principal: bool,
    caller: Caller,
    *,
    resource_based: bool,
) -> PrincipalMatch | None:
    """Match a statement's Principal/NotPrincipal element against the caller.

    Without the element, identity-type policies match (IDENTITY) and resource-based ones do not.
    NotPrincipal applies unless *every* identity of the caller (itself, its role, its account)
    is listed — which is why AWS says to list the account too.
    """
    if principals is None:
        return None if resource_based else PrincipalMatch.IDENTITY
    if not_principal:
        for ident in caller.identities:
            if not any(_names_exactly(p, ident) for p in principals):
                return PrincipalMatch.ANYONE
        return None
    best: PrincipalMatch | None = None
    for p in principals:
        m = value_match(p, caller)
        if m is not None and (best is None or _RANK[m] < _RANK[best]):
            best = m
            if m is PrincipalMatch.CALLER:
                break
    return best


def _names_exactly(principal: Principal, identity: str) -> bool:
    if principal.kind is PrincipalKind.ANY or principal.value == "*":
        return True
    value = canonical(principal.value) if principal.kind is PrincipalKind.AWS else principal.value
    if value == identity:
        return True
    role, other = role_parts(value), role_parts(identity)
    return role is not None and role == other


class CompiledPrincipals:
    """A Principal element pre-sorted into sets, for the compiled evaluator.

    Decides exactly like :func:`principals_match` (property-tested against it).
    """

    __slots__ = ("absent", "anyone", "aws", "negated", "others", "roles", "source")

    def __init__(self, principals: Sequence[Principal] | None, not_principal: bool) -> None:
        self.source = principals
        self.absent = principals is None
        self.negated = not_principal
        self.anyone = False
        aws: set[str] = set()
        roles: set[tuple[str, str, str]] = set()
        others: set[str] = set()
        for p in principals or ():
            if p.kind is PrincipalKind.ANY or p.value == "*":
                self.anyone = True
            elif p.kind is PrincipalKind.AWS:
                value = canonical(p.value)
                aws.add(value)
                role = role_parts(value)
                if role is not None:
                    roles.add(role)
            else:
                others.add(p.value)
        self.aws = frozenset(aws)
        self.roles = frozenset(roles)
        self.others = frozenset(others)

    def match(self, caller: Caller, resource_based: bool) -> PrincipalMatch | None:
        if self.absent:
            return None if resource_based else PrincipalMatch.IDENTITY
        if self.negated:
            return principals_match(self.source, True, caller, resource_based=resource_based)
        arn = caller.arn
        # INVARIANT: the same preference as _RANK: CALLER, then ANYONE, then ROLE, then ACCOUNT
        if arn in self.aws and caller.type is not PrincipalType.ROLE:
            return PrincipalMatch.CALLER
        if arn in self.others:
            return PrincipalMatch.CALLER
        if self.anyone:
            return PrincipalMatch.ANYONE
        if arn in self.aws:  # a role used as the caller, named by its own ARN
            return PrincipalMatch.ROLE
        role = (caller.partition, caller.account, caller.name)
        if self.roles and role in self.roles and caller.type in _ROLE_TYPES:
            return PrincipalMatch.ROLE
        if caller.account is not None and caller.root_arn in self.aws:
            return PrincipalMatch.ACCOUNT
        return None
