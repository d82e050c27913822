"""The identities directory: who the principals are and which IAM policies apply to them.

Layer: kms. The KMS service asks it, per request, for the caller's identity policies,
permissions boundary, session policies and tags, and for the SCPs of the caller's account and
the RCPs of the key owner's account. The server's YAML identities file loads into these types.
Policies may be given as parsed ``Policy`` objects or as AWS JSON text (parsed once, here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kmspolicy._cache import BoundedCache
from kmspolicy.authz import Caller
from kmspolicy.errors import ConfigError, InvalidArnException, PolicyError
from kmspolicy.lang import Policy
from kmspolicy.lang.awsjson import read_json

__all__ = ["ROOT_IDENTITY_POLICY", "AccountPolicies", "Identities", "Identity"]

PolicyLike = Policy | str

# The account root user is not governed by identity policies: it may do anything its account
# may (SCPs still apply). Modelled as one allow-all identity policy.
ROOT_IDENTITY_POLICY: Policy = read_json(
    '{"Version":"2012-10-17","Statement":[{"Sid":"AccountRootUser","Effect":"Allow",'
    '"Action":"*","Resource":"*"}]}',
    "<account root user>",
)
#: the characters the resolved callers may hold (their ARNs and the tags each copies from its
#: identity: a session of a role with 50 tags copies up to ~19 KB), about 8 MB; the policies a
#: caller refers to belong to the directory (an entry keeps no policy alive on its own: the
#: table is emptied when the directory changes)
MAX_RESOLVED_CHARS = 8 * 1024 * 1024
#: what a resolved caller costs beyond those characters (its Caller, the entry), in characters
_RESOLVED_OVERHEAD = 256


def _resolved_chars(caller: Caller) -> int:
    return (
        _RESOLVED_OVERHEAD + len(caller.arn) + sum(len(k) + len(v) for k, v in caller.tags.items())
    )


def _policy(value: PolicyLike, where: str) -> Policy:
    if isinstance(value, Policy):
        return value
    try:
        return read_json(value, where)
    except PolicyError as exc:
        raise ConfigError(f"{where}: invalid policy: {exc}") from exc


def _policies(values: Iterable[PolicyLike], where: str) -> tuple[Policy, ...]:
    return tuple(_policy(v, f"{where}[{i}]") for i, v in enumerate(values))


@dataclass(frozen=True, slots=True)
class Identity:
    """An IAM user, role, assumed-role session or federated user, and its policies.

    For an assumed-role session without an entry of its own, the role's entry applies
    (its identity policies, boundary and tags); ``session_policies`` belong to a session entry.
    """

    arn: str
    policies: tuple[Policy, ...] = ()
    permissions_boundary: Policy | None = None
    session_policies: tuple[Policy, ...] = ()
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    user_id: str | None = None

    def __post_init__(self) -> None:
        # A typo in a principal must fail here, where it was written, not at its first call.
        if not isinstance(self.arn, str) or self.arn != self.arn.strip():
            raise ConfigError(f"identity `{self.arn!s}` is not a principal ARN")
        try:
            Caller.from_arn(self.arn)
        except InvalidArnException as exc:
            raise ConfigError(f"identity {exc}") from None

    @classmethod
    def of(
        cls,
        arn: str,
        *,
        policies: Iterable[PolicyLike] = (),
        permissions_boundary: PolicyLike | None = None,
        session_policies: Iterable[PolicyLike] = (),
        tags: Mapping[str, str] | None = None,
        user_id: str | None = None,
    ) -> Identity:
        """Build an identity, parsing policies given as AWS JSON text."""
        return cls(
            arn,
            _policies(policies, f"{arn} policies"),
            None
            if permissions_boundary is None
            else _policy(permissions_boundary, f"{arn} permissions boundary"),
            _policies(session_policies, f"{arn} session policies"),
            MappingProxyType(dict(tags or {})),
            user_id,
        )


@dataclass(frozen=True, slots=True)
class AccountPolicies:
    """Organizations policies attached to one account: SCPs limit its principals, RCPs its keys."""

    scps: tuple[Policy, ...] = ()
    rcps: tuple[Policy, ...] = ()

    @classmethod
    def of(
        cls, *, scps: Iterable[PolicyLike] = (), rcps: Iterable[PolicyLike] = ()
    ) -> AccountPolicies:
        return cls(_policies(scps, "scps"), _policies(rcps, "rcps"))


_NO_ACCOUNT_POLICIES = AccountPolicies()


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the directory says about one caller, computed once per principal ARN."""

    caller: Caller
    policies: tuple[Policy, ...]
    permissions_boundary: Policy | None
    session_policies: tuple[Policy, ...]


class Identities:
    """A read-mostly directory of principals and per-account Organizations policies.

    Unknown principals are allowed to call (KMS decides by the key policy and grants) but have
    no identity policies, so a key policy that delegates to their account does not help them.
    """

    __slots__ = ("_accounts", "_by_arn", "_resolved")

    def __init__(
        self,
        identities: Iterable[Identity] = (),
        accounts: Mapping[str, AccountPolicies] | None = None,
    ) -> None:
        self._by_arn: dict[str, Identity] = {}
        for identity in identities:
            self._by_arn[identity.arn] = identity
        self._accounts: dict[str, AccountPolicies] = dict(accounts or {})
        # bounded for servers seeing many principals, by count and by the characters the callers
        # hold; emptied when the directory changes
        self._resolved: BoundedCache[str, Resolved] = BoundedCache(
            10_000, maxweight=MAX_RESOLVED_CHARS
        )

    def add(self, identity: Identity) -> None:
        self._by_arn[identity.arn] = identity
        self._resolved.clear()

    def set_account(self, account: str, policies: AccountPolicies) -> None:
        self._accounts[account] = policies
        self._resolved.clear()

    def get(self, arn: str) -> Identity | None:
        return self._by_arn.get(arn)

    def account(self, account: str | None) -> AccountPolicies:
        if account is None:
            return _NO_ACCOUNT_POLICIES
        return self._accounts.get(account, _NO_ACCOUNT_POLICIES)

    def resolve(self, principal_arn: str) -> Resolved:
        """The ``Caller`` and the identity-side policies of ``principal_arn`` (cached).

        Raises InvalidArnException (from ``Caller.from_arn``) for a malformed principal.
        """
        found = self._resolved.get(principal_arn)
        if found is not None:
            return found
        own = self._by_arn.get(principal_arn)
        probe = Caller.from_arn(principal_arn)
        base = own
        if base is None and probe.principal_arn != probe.arn:  # a session of a known role
            base = self._by_arn.get(probe.principal_arn)
        tags = dict(base.tags) if base is not None else {}
        if own is not None and base is not own:
            tags.update(own.tags)
        user_id = (own.user_id if own is not None else None) or (
            base.user_id if base is not None else None
        )
        caller = Caller.from_arn(principal_arn, tags=tags, user_id=user_id)
        if probe.arn == probe.root_arn and own is None:
            policies: tuple[Policy, ...] = (ROOT_IDENTITY_POLICY,)
        else:
            policies = base.policies if base is not None else ()
        resolved = Resolved(
            caller,
            policies,
            base.permissions_boundary if base is not None else None,
            own.session_policies if own is not None else (),
        )
        self._resolved.put(principal_arn, resolved, _resolved_chars(caller))  # on a miss only
        return resolved
