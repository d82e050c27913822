"""Condition operators: families, negation, and how policy and request values compare.

Layer: authz (pure). Policy values are converted once per operator family (numbers to Decimal,
dates to aware datetimes, CIDRs to networks, base64 to bytes); a value that does not convert
never matches (AWS rejects such policies; evaluation treats them as non-matching).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from types import MappingProxyType
from typing import Any

from kmspolicy.authz.matching import compile_arn, compile_glob
from kmspolicy.lang.ast import ConditionOperator as Op


class Family(Enum):
    STRING = "String"
    NUMERIC = "Numeric"
    DATE = "Date"
    BOOL = "Bool"
    BINARY = "Binary"
    IP = "IpAddress"
    ARN = "Arn"
    NULL = "Null"


@dataclass(frozen=True, slots=True)
class OpSpec:
    family: Family
    #: the comparison of the positive form: eq, ieq, like, lt, le, gt, ge, in (ip), arn, null
    compare: str
    negated: bool
    #: whether ``${...}`` policy variables are substituted in this operator's values
    variables: bool


SPECS: Mapping[Op, OpSpec] = MappingProxyType(
    {
        Op.STRING_EQUALS: OpSpec(Family.STRING, "eq", False, True),
        Op.STRING_NOT_EQUALS: OpSpec(Family.STRING, "eq", True, True),
        Op.STRING_EQUALS_IGNORE_CASE: OpSpec(Family.STRING, "ieq", False, True),
        Op.STRING_NOT_EQUALS_IGNORE_CASE: OpSpec(Family.STRING, "ieq", True, True),
        Op.STRING_LIKE: OpSpec(Family.STRING, "like", False, True),
        Op.STRING_NOT_LIKE: OpSpec(Family.STRING, "like", True, True),
        Op.NUMERIC_EQUALS: OpSpec(Family.NUMERIC, "eq", False, False),
        Op.NUMERIC_NOT_EQUALS: OpSpec(Family.NUMERIC, "eq", True, False),
        Op.NUMERIC_LESS_THAN: OpSpec(Family.NUMERIC, "lt", False, False),
        Op.NUMERIC_LESS_THAN_EQUALS: OpSpec(Family.NUMERIC, "le", False, False),
        Op.NUMERIC_GREATER_THAN: OpSpec(Family.NUMERIC, "gt", False, False),
        Op.NUMERIC_GREATER_THAN_EQUALS: OpSpec(Family.NUMERIC, "ge", False, False),
        Op.DATE_EQUALS: OpSpec(Family.DATE, "eq", False, False),
        Op.DATE_NOT_EQUALS: OpSpec(Family.DATE, "eq", True, False),
        Op.DATE_LESS_THAN: OpSpec(Family.DATE, "lt", False, False),
        Op.DATE_LESS_THAN_EQUALS: OpSpec(Family.DATE, "le", False, False),
        Op.DATE_GREATER_THAN: OpSpec(Family.DATE, "gt", False, False),
        Op.DATE_GREATER_THAN_EQUALS: OpSpec(Family.DATE, "ge", False, False),
        Op.BOOL: OpSpec(Family.BOOL, "eq", False, False),
        Op.BINARY_EQUALS: OpSpec(Family.BINARY, "eq", False, False),
        Op.IP_ADDRESS: OpSpec(Family.IP, "in", False, False),
        Op.NOT_IP_ADDRESS: OpSpec(Family.IP, "in", True, False),
        Op.ARN_EQUALS: OpSpec(Family.ARN, "arn", False, True),
        Op.ARN_LIKE: OpSpec(Family.ARN, "arn", False, True),
        Op.ARN_NOT_EQUALS: OpSpec(Family.ARN, "arn", True, True),
        Op.ARN_NOT_LIKE: OpSpec(Family.ARN, "arn", True, True),
        Op.NULL: OpSpec(Family.NULL, "null", False, False),
    }
)


# --- conversions: request side (per evaluation) and policy side (once) ---


def to_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return None


def to_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, (float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    number = to_number(value)
    if number is not None:  # epoch seconds
        try:
            return datetime.fromtimestamp(float(number), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def to_bool(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    return None


def to_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def to_address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value.strip().split("/")[0])
    except ValueError:
        return None


def to_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


_REQUEST_CONVERT: Mapping[Family, Callable[[Any], Any]] = MappingProxyType(
    {
        Family.STRING: to_text,
        Family.ARN: to_text,
        Family.NUMERIC: to_number,
        Family.DATE: to_datetime,
        Family.BOOL: to_bool,
        Family.BINARY: to_bytes,
        Family.IP: to_address,
    }
)


def convert_request(family: Family, value: Any) -> Any:
    """A request value in the operator's domain, or None when it has no meaning there."""
    return _REQUEST_CONVERT[family](value)


def convert_policy(spec: OpSpec, value: Any) -> Any:
    """A policy value ready for :func:`compare` (pattern, number, network…), or None if invalid."""
    fam = spec.family
    if fam is Family.STRING:
        text = to_text(value)
        if text is None:
            return None
        if spec.compare == "like":
            return compile_glob(text)
        return text.casefold() if spec.compare == "ieq" else text
    if fam is Family.ARN:
        text = to_text(value)
        return None if text is None else compile_arn(text)
    if fam is Family.IP:
        return to_network(value)
    if fam is Family.NULL:
        return to_bool(value)
    return convert_request(fam, value)


def compare(spec: OpSpec, request_value: Any, policy_value: Any) -> bool:
    """The positive comparison of one converted request value with one converted policy value."""
    kind = spec.compare
    if kind == "eq":
        return bool(request_value == policy_value)
    if kind == "ieq":
        return bool(request_value.casefold() == policy_value)
    if kind in ("like", "arn"):
        return bool(policy_value.matches(request_value))
    if kind == "in":
        return bool(request_value.version == policy_value.version and request_value in policy_value)
    if kind == "lt":
        return bool(request_value < policy_value)
    if kind == "le":
        return bool(request_value <= policy_value)
    if kind == "gt":
        return bool(request_value > policy_value)
    if kind == "ge":
        return bool(request_value >= policy_value)
    raise AssertionError(kind)
