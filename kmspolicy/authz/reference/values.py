"""The reference evaluator's own reading of condition operators and values.

Layer: authz (pure). Written apart from ``authz.operators`` on purpose: the operator's meaning is
read off its name (IAM User Guide, condition operators: ``String``/``Numeric``/``Date``/``Bool``/
``Binary``/``IpAddress``/``Arn`` families, ``Not`` negates, ``IgnoreCase`` folds, ``Like``
globs), and each value is converted where it is compared, so a slip in the fast path's tables
shows up as a disagreement in the property tests.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from kmspolicy.authz.reference.glob import Piece, arn_match, glob_match
from kmspolicy.lang.ast import ConditionOperator

_FAMILIES = ("String", "Numeric", "Date", "Bool", "Binary", "IpAddress", "NotIpAddress", "Arn")


@dataclass(frozen=True, slots=True)
class Reading:
    """What an operator's name says: its family, whether it negates, how it compares."""

    family: str
    negated: bool
    #: equals, ignore-case, like, lt, le, gt, ge, in (a network), arn (ArnEquals ≡ ArnLike)
    how: str

    @property
    def substitutes(self) -> bool:
        """Policy variables are substituted in String and ARN operators' values only."""
        return self.family in ("String", "Arn")


def read_operator(op: ConditionOperator) -> Reading:
    name = op.value
    if name == "Null":
        return Reading("Null", False, "null")
    if name in ("IpAddress", "NotIpAddress"):
        return Reading("IpAddress", name.startswith("Not"), "in")
    family = next(f for f in _FAMILIES if name.startswith(f))
    rest = name[len(family) :]
    negated = rest.startswith("Not")
    rest = rest.removeprefix("Not")
    if family == "Arn":
        return Reading(family, negated, "arn")
    if rest.endswith("IgnoreCase"):
        return Reading(family, negated, "ignore-case")
    how = {
        "Equals": "equals",
        "Like": "like",
        "LessThan": "lt",
        "LessThanEquals": "le",
        "GreaterThan": "gt",
        "GreaterThanEquals": "ge",
        "": "equals",  # Bool
    }[rest]
    return Reading(family, negated, how)


# --- values: what a request or policy value means in each family ---


def as_text(value: Any) -> str | None:
    """A value as a string operator sees it (booleans in JSON spelling)."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return None


def as_number(value: Any) -> Decimal | None:
    if value is True or value is False:
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if not isinstance(value, (float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def as_time(value: Any) -> datetime | None:
    """An aware datetime: a datetime (naive is UTC), epoch seconds, or ISO 8601 text."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    seconds = as_number(value)
    if seconds is not None:
        try:
            return datetime.fromtimestamp(float(seconds), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def as_bool(value: Any) -> bool | None:
    if value is True or value is False:
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def as_address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value.strip().split("/")[0])
    except ValueError:
        return None


def as_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


_CONVERT: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "Numeric": as_number,
        "Date": as_time,
        "Bool": as_bool,
        "Binary": as_bytes,
    }
)


def holds(reading: Reading, request_value: Any, policy_value: Any) -> bool:
    """The positive comparison of one request value with one policy value as written (a
    string, number or boolean; glob and ARN patterns as pieces after variable substitution).
    A value without meaning in the family never matches."""
    how = reading.how
    if reading.family in ("String", "Arn"):
        text = as_text(request_value)
        if text is None:
            return False
        if how in ("like", "arn"):
            pieces: tuple[Piece, ...]
            if isinstance(policy_value, tuple):
                pieces = policy_value
            else:
                pieces = ((as_text(policy_value) or "", False),)
            return glob_match(pieces, text) if how == "like" else arn_match(pieces, text)
        wanted = _flat(policy_value)
        if wanted is None:
            return False
        if how == "ignore-case":
            return text.casefold() == wanted.casefold()
        return text == wanted
    if reading.family == "IpAddress":
        address, network = as_address(request_value), as_network(policy_value)
        return (
            address is not None
            and network is not None
            and address.version == network.version
            and address in network
        )
    convert = _CONVERT[reading.family]
    # one family's values compare with each other (numbers, times, booleans or bytes)
    left: Any = convert(request_value)
    right: Any = convert(policy_value)
    if left is None or right is None:
        return False
    if how == "equals":
        return bool(left == right)
    if how == "lt":
        return bool(left < right)
    if how == "le":
        return bool(left <= right)
    if how == "gt":
        return bool(left > right)
    return bool(left >= right)


def _flat(policy_value: Any) -> str | None:
    if isinstance(policy_value, tuple):
        return "".join(text for text, _ in policy_value)
    return as_text(policy_value)
