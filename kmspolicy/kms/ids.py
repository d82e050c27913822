"""Key and alias identifiers: parsing key ids, key ARNs, alias names and alias ARNs.

Layer: kms (pure). One resolver for every operation (STYLE.md: moto's one good habit): a
``KeyRef`` says which account, Region and key id or alias name an identifier names, relative to
the caller; the service then looks it up. Messages follow AWS's wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmspolicy import messages
from kmspolicy.authz.arn import Arn
from kmspolicy.errors import (
    InvalidAliasNameException,
    InvalidArnException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY_ID_RE = re.compile(rf"^(?:{_UUID}|mrk-[0-9a-f]{{32}})$")
_ALIAS_NAME_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")

RESERVED_ALIAS_PREFIX = "alias/aws/"


def key_arn(region: str, account: str, key_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:kms:{region}:{account}:key/{key_id}"


def alias_arn(region: str, account: str, alias_name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:kms:{region}:{account}:{alias_name}"


def account_root_arn(account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:root"


def is_key_id(text: str) -> bool:
    return _KEY_ID_RE.match(text) is not None


def is_account_id(text: str) -> bool:
    return _ACCOUNT_RE.match(text) is not None


@dataclass(frozen=True, slots=True)
class KeyRef:
    """What a ``KeyId`` parameter names, made absolute for one caller."""

    text: str  # as the caller wrote it (echoed in NotFoundException messages)
    account: str
    region: str
    key_id: str | None = None
    alias_name: str | None = None  # "alias/..." when the caller used an alias name or alias ARN

    @property
    def arn(self) -> str:
        """The key ARN (for key references) or the alias ARN (for alias references)."""
        if self.key_id is not None:
            return key_arn(self.region, self.account, self.key_id)
        assert self.alias_name is not None  # INVARIANT: a KeyRef names a key or an alias
        return alias_arn(self.region, self.account, self.alias_name)


def parse_key_ref(text: str, account: str, region: str, *, allow_alias: bool = True) -> KeyRef:
    """Resolve a ``KeyId``-style parameter relative to the caller's ``account`` and ``region``.

    A key ARN or alias ARN names its own account and Region; a bare key id or alias name names
    the caller's. ``allow_alias=False`` is for management operations (key id or key ARN only).
    Raises NotFoundException for what cannot name a key, InvalidArnException for a malformed
    KMS ARN.
    """
    if text.startswith("arn:"):
        arn = Arn.of(text)
        kind, _, rest = arn.resource.partition("/") if arn is not None else ("", "", "")
        if (
            arn is None
            or arn.service != "kms"
            or not arn.region
            or not is_account_id(arn.account)
            or kind not in ("key", "alias")
            or not rest
        ):
            raise InvalidArnException(f"ARN {text} is not a valid KMS key or alias ARN.")
        arn_region, arn_account = arn.region, arn.account
        if kind == "key":
            if not is_key_id(rest):
                raise NotFoundException(f"Invalid keyId '{text}'")
            return KeyRef(text, arn_account, arn_region, key_id=rest)
        if not allow_alias:
            raise NotFoundException(f"Invalid keyId '{text}'")
        return KeyRef(text, arn_account, arn_region, alias_name=check_alias_name("alias/" + rest))
    if text.startswith("alias/"):
        if not allow_alias:
            raise NotFoundException(f"Invalid keyId '{text}'")
        return KeyRef(text, account, region, alias_name=check_alias_name(text))
    if is_key_id(text):
        return KeyRef(text, account, region, key_id=text)
    raise NotFoundException(f"Invalid keyId '{text}'")


def check_alias_name(name: str) -> str:
    """``name`` if it is a well-formed alias name, else InvalidAliasNameException."""
    if not name.startswith("alias/"):
        raise ValidationException(messages.ALIAS_PREFIX)
    if len(name) > 256 or _ALIAS_NAME_RE.match(name) is None:
        raise InvalidAliasNameException(
            f"Alias name {name!r} must begin with 'alias/' and contain only alphanumeric "
            "characters, forward slashes (/), underscores (_), and dashes (-)."
        )
    return name


def check_creatable_alias_name(name: str) -> str:
    """An alias name a customer may create, update or delete: well-formed and not under
    ``alias/aws/`` (reserved for AWS managed keys: NotAuthorizedException, as AWS answers)."""
    check_alias_name(name)
    if is_reserved_alias(name):
        raise NotAuthorizedException(messages.RESERVED_ALIAS)
    return name


def is_reserved_alias(name: str) -> bool:
    """``alias/aws/...`` (and ``alias/aws``): names only AWS creates, for AWS managed keys."""
    return name.startswith(RESERVED_ALIAS_PREFIX) or name == "alias/aws"
