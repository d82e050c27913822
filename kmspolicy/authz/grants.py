"""KMS grants as the decision point sees them, and whether one allows a request.

Layer: authz (pure). A grant only allows: its grantee, one of its operations, on its key,
with its encryption-context constraint satisfied (key names case-insensitive, values exact).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, overload

from kmspolicy.authz.context import PrincipalType, role_key
from kmspolicy.authz.principals import role_parts
from kmspolicy.lang.diagnostics import did_you_mean
from kmspolicy.optable import ACTIONS, ANY_KEY, SYMMETRIC

if TYPE_CHECKING:
    from kmspolicy.authz.context import Caller, Request

#: the callers a grant to an IAM role names: the role itself and its sessions
_ROLE_CALLERS = frozenset({PrincipalType.ROLE, PrincipalType.ASSUMED_ROLE})

#: The GrantOperation enum of the KMS API: the actions a grant can allow.
GRANT_OPERATIONS = frozenset(a.name for a in ACTIONS.values() if a.grantable)

#: Grant operations that take an encryption context: the only ones constraints apply to
#: (API_GrantConstraints: not DescribeKey, RetireGrant, or operations of asymmetric/HMAC keys).
EC_OPERATIONS = frozenset(a.name for a in ACTIONS.values() if a.grant_constraints)

#: The grant operations a symmetric encryption key (SYMMETRIC_DEFAULT) accepts.
SYMMETRIC_KEY_GRANT_OPERATIONS = frozenset(
    a.name for a in ACTIONS.values() if SYMMETRIC in a.grant_keys
)
#: The grant operations another key accepts, by its KeyUsage (``kmspolicy.crypto.KeyUsage``
#: spellings; authz cannot import crypto, and a StrEnum member looks itself up here).
GRANT_OPERATIONS_BY_KEY_USAGE: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        usage: frozenset(a.name for a in ACTIONS.values() if usage in a.grant_keys)
        for usage in sorted(ANY_KEY - {SYMMETRIC})
    }
)


def grant_operations_for_key(key_usage: str, *, symmetric: bool) -> frozenset[str]:
    """The grant operations CreateGrant accepts for a key of ``key_usage`` (``symmetric``:
    its spec is SYMMETRIC_DEFAULT, whose grants also cover data keys and data key pairs)."""
    if symmetric:
        return SYMMETRIC_KEY_GRANT_OPERATIONS
    return GRANT_OPERATIONS_BY_KEY_USAGE[key_usage]


def check_grant_operations(names: Iterable[str]) -> None:
    """ValueError naming the first value that is not a GrantOperation: grants written by hand
    (suites, simulate input) must not silently allow nothing because of a typo."""
    for name in names:
        if name not in GRANT_OPERATIONS:
            guess = did_you_mean(name, sorted(GRANT_OPERATIONS))
            hint = f"did you mean `{guess}`?" if guess else "see the GrantOperation enum of KMS"
            raise ValueError(f"`{name}` is not a grant operation; {hint}")


def grantee_keys(grantee: str) -> tuple[str, str | None]:
    """What a store indexes a grant under so that a caller finds it by its ``Caller.index_keys``:
    the grantee, and for a role the path-free ARN of the role (``role_key``), which its
    sessions carry (None: not a role, or the grantee is that ARN already). Every grant
    ``GrantSet.for_caller`` finds by its grantee has one of the two among the caller's index
    keys (a grant found so may still name someone else: the grant's own checks decide)."""
    role = role_parts(grantee)
    key = None if role is None else role_key(*role)
    return grantee, None if key == grantee else key


def _folded_keys(pairs: Iterable[tuple[str, str]]) -> frozenset[str]:
    return frozenset(k.lower() for k, _ in pairs)


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if mapping is None else MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant on one KMS key. ``operations`` holds GrantOperation names such as ``"Decrypt"``."""

    grant_id: str
    key_arn: str
    grantee_principal: str
    operations: frozenset[str]
    retiring_principal: str | None = None
    encryption_context_equals: Mapping[str, str] | None = None
    encryption_context_subset: Mapping[str, str] | None = None
    name: str | None = None
    issuing_account: str | None = None
    #: the SourceArn constraint: requests must carry this ``aws:SourceArn`` (a service acting
    #: on behalf of that resource), whatever the operation
    source_arn: str | None = None
    #: the Equals constraint's key names, case-folded (a request must name exactly these)
    _equals_folded: frozenset[str] | None = field(init=False, repr=False, compare=False)
    #: what a GrantSet indexes it under: its grantee, the grantee role's (partition, account,
    #: name), its retiring principal (found once per grant, not per set it is in)
    index_names: frozenset[object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", frozenset(self.operations))
        object.__setattr__(
            self, "encryption_context_equals", _frozen(self.encryption_context_equals)
        )
        object.__setattr__(
            self, "encryption_context_subset", _frozen(self.encryption_context_subset)
        )
        eq = self.encryption_context_equals
        object.__setattr__(self, "_equals_folded", None if eq is None else _folded_keys(eq.items()))
        names: set[object] = {self.grantee_principal}
        role = role_parts(self.grantee_principal)
        if role is not None:
            names.add(role)
        if self.retiring_principal is not None:
            names.add(self.retiring_principal)
        object.__setattr__(self, "index_names", frozenset(names))

    def __hash__(self) -> int:
        return hash((self.grant_id, self.key_arn))

    def names_grantee(self, request: Request) -> bool:
        """True when the grantee is the caller itself or, for a role or a role session, its
        role (by partition, account and name: a session's ARN has no path). A user or federated
        user of the role's name is not the role."""
        caller = request.caller
        grantee = self.grantee_principal
        if grantee in (caller.arn, caller.principal_arn):
            return True
        if caller.type not in _ROLE_CALLERS:
            return False
        role = role_parts(grantee)
        return role is not None and role == (caller.partition, caller.account, caller.name)

    def names_account_of(self, request: Request) -> bool:
        """True when the grantee is the caller's account (root ARN): IAM must delegate."""
        return (
            request.caller.account is not None and self.grantee_principal == request.caller.root_arn
        )

    def constraints_hold(self, operation: str, request: Request) -> bool:
        """SourceArn: the request's ``aws:SourceArn`` is that ARN; Equals: the request EC
        equals the constraint; Subset: it holds every pair."""
        if self.source_arn is not None and request.lookup("aws:sourcearn") != (self.source_arn,):
            return False
        if operation not in EC_OPERATIONS:
            return True
        if self.encryption_context_equals is None and self.encryption_context_subset is None:
            return True
        # every constraint pair is checked on its own, so a constraint holding two keys that
        # differ only in case needs both values at once (it cannot be met unless they agree)
        # rather than letting one of them win by member order; a request context cannot hold
        # such twins (Request refuses them)
        ec = {k.lower(): v for k, v in request.encryption_context.items()}
        equals = self.encryption_context_equals
        if equals is not None:
            if len(ec) != len(self._equals_folded or ()):
                return False
            if any(ec.get(k.lower()) != v for k, v in equals.items()):
                return False
        subset = self.encryption_context_subset
        return subset is None or all(ec.get(k.lower()) == v for k, v in subset.items())

    def operation_for(self, request: Request) -> str | None:
        """The grant operation a request's action maps to, when this grant covers it."""
        service, _, op = request.action.partition(":")
        if service.lower() != "kms":
            return None
        for name in self.operations:
            if name.lower() == op.lower():
                return name
        return None

    def allows(self, request: Request) -> bool:
        """Grantee (directly), operation, key and constraints all match."""
        op = self.operation_for(request)
        if op is None or (self.key_arn and self.key_arn != request.resource):
            return False
        return self.names_grantee(request) and self.constraints_hold(op, request)


class GrantSet(Sequence[Grant]):
    """A key's grants, in order, indexed by the principals a grant names: its grantee (for a
    role ARN also the role's (partition, account, name), which ``names_grantee`` matches) and
    its retiring principal. Every grant a caller may use, retire or reach through its account
    names its ARN, its principal ARN, its account's root ARN or its role there, so a request
    looks only at ``for_caller``'s grants, not at every grant of the key. Immutable; built
    once per read of a key's grants (``kms.pipeline``)."""

    __slots__ = ("_grants", "_index")

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self._grants = tuple(grants)
        index: dict[object, list[int]] = {}
        for i, g in enumerate(self._grants):
            for name in g.index_names:
                index.setdefault(name, []).append(i)
        self._index = {name: tuple(at) for name, at in index.items()}

    def for_caller(self, caller: Caller) -> tuple[Grant, ...]:
        """The grants that name ``caller`` in one of the ways above, in order: a superset of
        those it may use or retire (the grant's own checks then decide), never fewer."""
        index = self._index
        found: list[int] = []
        names: tuple[object, ...] = (caller.arn, caller.principal_arn, caller.root_arn)
        if caller.type in _ROLE_CALLERS:
            names += ((caller.partition, caller.account, caller.name),)
        for name in names:
            at = index.get(name)
            if at is not None:
                found += at
        if not found:
            return ()
        grants = self._grants
        return tuple([grants[i] for i in sorted(set(found))])

    @overload
    def __getitem__(self, i: int) -> Grant: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Grant]: ...
    def __getitem__(self, i: int | slice) -> Grant | Sequence[Grant]:
        return self._grants[i]

    def __len__(self) -> int:
        return len(self._grants)

    def __iter__(self) -> Iterator[Grant]:
        return iter(self._grants)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GrantSet) and other._grants == self._grants

    def __hash__(self) -> int:
        return hash(self._grants)

    def __repr__(self) -> str:
        return f"GrantSet({self._grants!r})"
