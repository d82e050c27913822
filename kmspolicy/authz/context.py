"""The request context: who calls (``Caller``), what they ask (``Request``) and the keys it implies.

Layer: authz (pure). Condition-key names are case-insensitive, so the context is stored under
lower-cased names (an encryption context naming one key twice in different cases is refused:
one value would win by member order); global keys derived from the caller and the time are added
unless given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from kmspolicy.authz.arn import Arn
from kmspolicy.authz.limits import MAX_PATTERN_WORK, EvaluationLimitExceeded
from kmspolicy.errors import InvalidArnException, ValidationException

#: One context value: str, bool, number, datetime or bytes; an IP address or ARN is a str.
ContextScalar = str | bool | int | float | Decimal | datetime | bytes
#: A context value as callers pass it: a scalar or a list of scalars (a multi-valued key).
ContextValue = ContextScalar | Sequence[ContextScalar]

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_EC_PREFIX = "kms:encryptioncontext:"


class PrincipalType(StrEnum):
    """The kind of principal making a request (``aws:PrincipalType`` spellings)."""

    ACCOUNT = "Account"
    USER = "User"
    #: a role ARN used directly as the caller (as IAM's simulator allows); requests made with a
    #: role's credentials come from an ASSUMED_ROLE session
    ROLE = "Role"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    SERVICE = "Service"
    ANONYMOUS = "Anonymous"

    @property
    def context_value(self) -> str:
        """The value of ``aws:PrincipalType`` for this kind of caller."""
        return "AssumedRole" if self is PrincipalType.ROLE else self.value


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal of a request. Build it with :meth:`from_arn`.

    ``principal_arn`` is the IAM identity behind the caller: the role ARN for an assumed-role
    session, otherwise the ARN itself (the value of ``aws:PrincipalArn``).
    """

    arn: str
    type: PrincipalType
    account: str | None
    principal_arn: str
    partition: str = "aws"
    #: user name, role name, federated user name or service name
    name: str | None = None
    #: the session name of an assumed-role session
    session_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    user_id: str | None = None
    #: the global context keys this caller implies (lower-cased names), computed once
    derived: Mapping[str, tuple[Any, ...]] = field(init=False, repr=False, compare=False)
    #: exact principal strings under which policy statements naming this caller are indexed
    index_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))
        object.__setattr__(self, "derived", MappingProxyType(self._derive()))
        keys = [self.arn]
        if self.principal_arn != self.arn:
            keys.append(self.principal_arn)
        # an empty role name too: matching compares (partition, account, name) whatever it is
        if self.type in (PrincipalType.ROLE, PrincipalType.ASSUMED_ROLE) and self.name is not None:
            keys.append(role_key(self.partition, self.account or "", self.name))
        if self.account and self.root_arn not in keys:
            keys.append(self.root_arn)
        object.__setattr__(self, "index_keys", tuple(dict.fromkeys(keys)))

    @property
    def root_arn(self) -> str:
        """``arn:<partition>:iam::<account>:root`` — the account principal of this caller."""
        return f"arn:{self.partition}:iam::{self.account}:root"

    @property
    def identities(self) -> tuple[str, ...]:
        """The chain of identities AWS checks for NotPrincipal: caller, role, account."""
        chain = [self.arn]
        if self.principal_arn != self.arn:
            chain.append(self.principal_arn)
        if self.account and self.type is not PrincipalType.ACCOUNT:
            chain.append(self.root_arn)
        return tuple(chain)

    @classmethod
    def from_arn(
        cls,
        arn: str,
        *,
        tags: Mapping[str, str] | None = None,
        user_id: str | None = None,
    ) -> Caller:
        """Parse a principal: an IAM user/role/root ARN, an STS assumed-role or federated-user
        ARN, a 12-digit account id, a service principal (``kms.amazonaws.com``) or ``*``.

        Raises :class:`~kmspolicy.errors.InvalidArnException` for anything else.
        """
        arn = arn.strip()
        tags = dict(tags or {})
        if arn in ("*", "anonymous"):
            return cls("*", PrincipalType.ANONYMOUS, None, "*", tags=tags, user_id=user_id)
        if _ACCOUNT_RE.match(arn):
            arn = f"arn:aws:iam::{arn}:root"
        if not arn.startswith("arn:"):
            if arn.endswith(".amazonaws.com") or arn.endswith(".amazonaws.com.cn"):
                return cls(
                    arn, PrincipalType.SERVICE, None, arn, name=arn, tags=tags, user_id=user_id
                )
            raise InvalidArnException(
                f"`{arn}` is not a principal ARN, account id or service principal"
            )
        parsed = Arn.of(arn)
        if parsed is None or not _ACCOUNT_RE.match(parsed.account):
            raise InvalidArnException(f"`{arn}` is not a valid principal ARN")
        partition, service, _, account, resource = parsed
        kind, _, rest = resource.partition("/")
        common: dict[str, Any] = {"partition": partition, "tags": tags, "user_id": user_id}
        if service == "iam" and resource == "root":
            return cls(arn, PrincipalType.ACCOUNT, account, arn, **common)
        if service == "iam" and kind == "user" and rest:
            name = rest.rsplit("/", 1)[-1]
            return cls(arn, PrincipalType.USER, account, arn, name=name, **common)
        if service == "iam" and kind == "role" and rest:
            name = rest.rsplit("/", 1)[-1]
            return cls(arn, PrincipalType.ROLE, account, arn, name=name, **common)
        if service == "sts" and kind == "assumed-role" and rest.count("/") == 1:
            role, session = rest.split("/")
            role_arn = f"arn:{partition}:iam::{account}:role/{role}"
            return cls(
                arn,
                PrincipalType.ASSUMED_ROLE,
                account,
                role_arn,
                name=role,
                session_name=session,
                **common,
            )
        if service == "sts" and kind == "federated-user" and rest:
            return cls(arn, PrincipalType.FEDERATED_USER, account, arn, name=rest, **common)
        raise InvalidArnException(
            f"`{arn}` is not a user, role, session, federated user or account ARN"
        )

    def _derive(self) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {"aws:principaltype": (self.type.context_value,)}
        if self.type is PrincipalType.ANONYMOUS:
            return out
        out["aws:principalarn"] = (self.principal_arn,)
        if self.account:
            out["aws:principalaccount"] = (self.account,)
            # kms:CallerAccount is the caller's account on every KMS request
            out["kms:calleraccount"] = (self.account,)
        if self.type is PrincipalType.USER and self.name:
            out["aws:username"] = (self.name,)
        userid = self.user_id
        if userid is None and self.type is PrincipalType.ACCOUNT:
            userid = self.account
        elif userid is None and self.type is PrincipalType.FEDERATED_USER:
            userid = f"{self.account}:{self.name}"
        if userid is not None:
            out["aws:userid"] = (userid,)
        if self.type is PrincipalType.SERVICE:
            out["aws:principalisawsservice"] = (True,)
            out["aws:principalservicename"] = (self.arn,)
        else:
            out["aws:principalisawsservice"] = (False,)
        for tag, value in self.tags.items():
            out[f"aws:principaltag/{tag.lower()}"] = (value,)
        return out


def role_key(partition: str, account: str, role_name: str) -> str:
    """The path-free role ARN under which a role and its sessions are indexed."""
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def _case_twins() -> ValidationException:
    """An encryption context with two keys that differ only in case (``team`` and ``TEAM``).

    AWS binds such a context to the ciphertext case-sensitively, but policies read
    ``kms:EncryptionContext:<key>`` and grant constraints match key names case-insensitively,
    so one of the two values would silently decide, chosen by member order. AWS advises against
    such pairs; kmspolicy refuses the request (docs/deviations.md). The keys are not named:
    the message may reach logs, and the context is the caller's data."""
    return ValidationException(
        "the encryption context has two keys that differ only in case; policies and grant "
        "constraints match encryption context keys case-insensitively, so use keys that differ "
        "in more than case"
    )


def _as_tuple(value: ContextValue) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes, bool, int, float, Decimal, datetime)):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(value)
    raise TypeError(f"unsupported context value {value!r}")


@dataclass(frozen=True, slots=True, eq=False, init=False)
class Request:
    """One authorization question: may ``caller`` perform ``action`` on ``resource``?

    ``Request(caller, action, resource="*", context={}, time=None)``. ``context`` maps
    condition-key names (any case) to values; lists make a key multi-valued. ``time`` (aware
    datetime; naive means UTC) supplies ``aws:CurrentTime``/``aws:EpochTime``. Global keys
    implied by the caller and the time are derived unless ``context`` gives them.
    """

    caller: Caller
    action: str
    resource: str
    context: Mapping[str, ContextValue]
    time: datetime | None
    #: lower-cased action name, for matching
    action_lower: str = field(repr=False)
    #: the resource as a parsed ARN, or None (``*``, or not an ARN): parsed once per request
    resource_arn: Arn | None = field(repr=False)
    _values: dict[str, tuple[Any, ...]] = field(repr=False)
    _encryption_context: dict[str, str] = field(repr=False)
    #: the pattern-matching work charged to the decision being made (``authz.limits``)
    work: int = field(repr=False)
    #: the caller has a permissions boundary attached: true only of the twin the evaluators make
    #: when they are given one (``with_boundary``), never set by the caller of an evaluator (a
    #: class attribute, not a field: a request pays no write for it)
    boundary_attached: ClassVar[bool] = False

    def __init__(
        self,
        caller: Caller,
        action: str,
        resource: str = "*",
        context: Mapping[str, ContextValue] | None = None,
        time: datetime | None = None,
    ) -> None:
        # INVARIANT: frozen after __init__. The slot setters bypass the frozen __setattr__;
        # this constructor runs on every authorization, so it avoids per-field setattr calls.
        (
            set_caller,
            set_action,
            set_resource,
            set_action_lower,
            set_resource_arn,
            set_context,
            set_time,
            set_values,
            set_encryption_context,
            set_work,
        ) = _REQUEST_SETTERS
        set_caller(self, caller)
        set_action(self, action)
        set_resource(self, resource)
        set_action_lower(self, action.lower())
        set_resource_arn(self, Arn.of(resource))
        values: dict[str, tuple[Any, ...]] = {}
        ec: dict[str, str] = {}
        if context:
            for key, value in context.items():
                lower = key.lower()
                if lower in values and lower.startswith(_EC_PREFIX):
                    raise _case_twins()
                values[lower] = _as_tuple(value)
                if lower.startswith(_EC_PREFIX) and isinstance(value, str):
                    ec[key[len(_EC_PREFIX) :]] = value
            if ec and "kms:encryptioncontextkeys" not in values:
                values["kms:encryptioncontextkeys"] = tuple(ec)
        set_context(self, MappingProxyType(dict(context)) if context else _EMPTY)
        if time is not None:
            time = time if time.tzinfo else time.replace(tzinfo=UTC)
            values.setdefault("aws:currenttime", (time,))
            values.setdefault("aws:epochtime", (int(time.timestamp()),))
        set_time(self, time)
        set_values(self, values)
        set_encryption_context(self, ec)
        set_work(self, 0)

    def start_decision(self) -> None:
        """A decision about this request begins: nothing is charged to it yet."""
        _SET_WORK(self, 0)

    def charge(self, amount: int) -> None:
        """Charge the decision being made ``amount`` characters of pattern matching; raise
        :class:`EvaluationLimitExceeded` past ``MAX_PATTERN_WORK`` (the work is not done)."""
        spent = self.work + amount
        if spent > MAX_PATTERN_WORK:
            raise EvaluationLimitExceeded("the work of matching condition patterns")
        _SET_WORK(self, spent)

    def with_boundary(self) -> Request:
        """This request, from a caller with a permissions boundary attached (IAM User Guide,
        "Permissions boundaries for IAM entities": a resource-based statement that denies with
        NotPrincipal denies every IAM user or role with a boundary, whatever it lists)."""
        if self.boundary_attached:
            return self
        twin = object.__new__(_WithBoundary)
        for name, setter in zip(_SLOT_ORDER, _REQUEST_SETTERS, strict=True):
            setter(twin, getattr(self, name))
        return twin

    @property
    def resource_account(self) -> str | None:
        """The account segment of the resource ARN, or None (``*`` or an ARN without one)."""
        arn = self.resource_arn
        return arn.account or None if arn is not None else None

    def lookup(self, key_lower: str) -> tuple[Any, ...] | None:
        """The values of a context key (name already lower-cased), or None when absent."""
        found = self._values.get(key_lower)
        if found is None:
            found = self.caller.derived.get(key_lower)
        return found

    def get(self, key: str) -> tuple[Any, ...] | None:
        """The values of a context key by its name in any case, or None when absent."""
        return self.lookup(key.lower())

    @property
    def encryption_context(self) -> Mapping[str, str]:
        """The request's encryption context: ``kms:EncryptionContext:<k>`` values."""
        return MappingProxyType(self._encryption_context)


class _WithBoundary(Request):
    """A request from a caller with a permissions boundary attached (``Request.with_boundary``)."""

    __slots__ = ()
    boundary_attached = True


_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: the slots' own setters, in the order Request.__init__ unpacks them (a tuple unpacked once
#: per request: cheaper than a lookup by name per field)
_SLOT_ORDER = (
    "caller",
    "action",
    "resource",
    "action_lower",
    "resource_arn",
    "context",
    "time",
    "_values",
    "_encryption_context",
    "work",
)
assert sorted(_SLOT_ORDER) == sorted(Request.__slots__)  # a new slot gets its setter here
_REQUEST_SETTERS = tuple(Request.__dict__[name].__set__ for name in _SLOT_ORDER)
_SET_WORK = _REQUEST_SETTERS[-1]
