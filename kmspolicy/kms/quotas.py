"""AWS KMS quotas: resource quotas (keys, aliases, grants) and request quotas (requests per
second per account and Region), configurable.

Layer: kms. Resource quotas are checked by the handlers that create the resource
(``LimitExceededException``); request quotas by the service before it runs a request
(``ThrottlingException``), counted in one-second windows of the service's clock, per caller
account (cross-account requests count against the caller's account, as in AWS) — the service is
one Region. Values are AWS's defaults (KMS Developer Guide, "Quotas"; KMS.md 8); docs/server.md
lists them and how to change them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from kmspolicy.errors import ThrottlingException

__all__ = [
    "DEFAULT_REQUEST_RATES",
    "Quotas",
    "RequestQuotas",
    "request_bucket",
]

# Cryptographic operations share one quota per key type; AWS separates symmetric, RSA, ECC and
# ML-DSA keys, which only the resolved key tells. Here: the symmetric quota for the operations
# that take symmetric keys, one asymmetric quota (AWS: 1,000 for each type) for those that only
# take asymmetric keys (docs/deviations.md).
SYMMETRIC = "cryptographic-symmetric"
ASYMMETRIC = "cryptographic-asymmetric"
_SHARED = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "Decrypt",
                "Encrypt",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "GenerateMac",
                "GenerateRandom",
                "ReEncrypt",
                "VerifyMac",
            ),
            SYMMETRIC,
        ),
        **dict.fromkeys(
            ("Sign", "Verify", "DeriveSharedSecret", "Encapsulate", "Decapsulate"), ASYMMETRIC
        ),
    }
)
# Symmetric cryptographic operations: 10,000/s, more in some Regions.
_SYMMETRIC_BY_REGION = MappingProxyType(
    {
        **dict.fromkeys(("us-east-1", "us-west-2", "eu-west-1"), 100_000.0),
        **dict.fromkeys(
            (
                "us-east-2",
                "ap-southeast-1",
                "ap-southeast-2",
                "ap-northeast-1",
                "eu-central-1",
                "eu-west-2",
            ),
            20_000.0,
        ),
    }
)


def _each(rate: float, *operations: str) -> dict[str, float]:
    return dict.fromkeys(operations, rate)


#: requests per second, by bucket: an operation name, a shared cryptographic quota, or
#: ``GenerateDataKeyPair:<KeyPairSpec>`` (both GenerateDataKeyPair operations count there)
DEFAULT_REQUEST_RATES: Mapping[str, float] = MappingProxyType(
    {
        SYMMETRIC: 10_000.0,
        ASYMMETRIC: 1_000.0,
        **{
            f"GenerateDataKeyPair:{spec}": 100.0
            for spec in (
                "ECC_NIST_P256",
                "ECC_NIST_P384",
                "ECC_NIST_P521",
                "ECC_SECG_P256K1",
                "ECC_NIST_EDWARDS25519",
            )
        },
        "GenerateDataKeyPair:RSA_2048": 20.0,
        "GenerateDataKeyPair:RSA_3072": 4.0,
        "GenerateDataKeyPair:RSA_4096": 1.0,
        "GenerateDataKeyPair:SM2": 25.0,
        **_each(2_000.0, "DescribeKey", "GetPublicKey", "ListResourceTags"),
        **_each(1_000.0, "GetKeyPolicy", "GetKeyRotationStatus"),
        **_each(500.0, "ListAliases", "ListKeys"),
        **_each(100.0, "ListGrants", "ListKeyPolicies", "ListKeyRotations", "ListRetirableGrants"),
        **_each(50.0, "CreateGrant", "RetireGrant", "RevokeGrant"),
        **_each(
            15.0,
            "DeleteAlias",
            "DeleteImportedKeyMaterial",
            "EnableKeyRotation",
            "ImportKeyMaterial",
            "PutKeyPolicy",
            "ScheduleKeyDeletion",
        ),
        "TagResource": 10.0,
        **_each(
            5.0,
            "CancelKeyDeletion",
            "CreateAlias",
            "CreateKey",
            "DisableKey",
            "DisableKeyRotation",
            "EnableKey",
            "GetKeyLastUsage",
            "ReplicateKey",
            "RotateKeyOnDemand",
            "UntagResource",
            "UpdateAlias",
            "UpdateKeyDescription",
            "UpdatePrimaryRegion",
        ),
        "GetParametersForImport": 1.0,
    }
)


def request_bucket(operation: str, params: Mapping[str, object]) -> str:
    """The request quota ``operation`` counts against."""
    shared = _SHARED.get(operation)
    if shared is not None:
        return shared
    if operation in ("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"):
        return f"GenerateDataKeyPair:{params.get('KeyPairSpec')}"
    return operation


@dataclass(frozen=True, slots=True)
class Quotas:
    """The quotas a service enforces. Resource quotas default to AWS's; request quotas are off
    unless ``requests`` is set, and then AWS's defaults apply except where ``request_rates``
    (requests per second by bucket, see ``request_bucket``) says otherwise."""

    keys_per_region: int = 100_000  # customer managed keys per account and Region
    aliases_per_key: int = 50
    grants_per_key: int = 50_000
    custom_key_stores_per_region: int = 10  # custom key stores per account and Region
    requests: bool = False
    request_rates: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def rate(self, bucket: str, region: str) -> float | None:
        """Requests per second allowed in ``bucket`` (None: not limited)."""
        if not self.requests:
            return None
        rate = self.request_rates.get(bucket)
        if rate is not None:
            return rate
        if bucket == SYMMETRIC:
            return _SYMMETRIC_BY_REGION.get(region, DEFAULT_REQUEST_RATES[SYMMETRIC])
        return DEFAULT_REQUEST_RATES.get(bucket)


_SECOND = timedelta(seconds=1)
_NEVER = datetime.min.replace(tzinfo=UTC)  # before any clock's time: the first request counts


class RequestQuotas:
    """Counts requests per (caller account, bucket) in one-second windows of the clock."""

    __slots__ = ("_counts", "_end", "_lock", "_quotas", "_rates", "_region", "_start")

    def __init__(self, quotas: Quotas, region: str) -> None:
        self._quotas = quotas
        self._region = region
        self._rates: dict[str, float | None] = {}  # by bucket, resolved once (hot path)
        self._lock = threading.Lock()
        # the clock's second being counted, [start, end): compared per request, which costs
        # less than turning each request's time into a timestamp
        self._start = self._end = _NEVER
        # bounded: accounts come from the identities directory, buckets from the table above
        self._counts: dict[tuple[str, str], int] = {}

    def admit(
        self, account: str, operation: str, params: Mapping[str, object], now: datetime
    ) -> None:
        """Count one request; ThrottlingException when its quota is used up this second."""
        bucket = request_bucket(operation, params)
        try:
            rate = self._rates[bucket]
        except KeyError:
            rate = self._quotas.rate(bucket, self._region)
            if len(self._rates) < 1024:  # buckets are the table's (decoded requests are valid)
                self._rates[bucket] = rate
        if rate is None:
            return
        with self._lock:
            if not self._start <= now < self._end:  # another second: its counts start at 0
                self._start = start = now.replace(microsecond=0)
                self._end = start + _SECOND
                self._counts.clear()
            counted = (account, bucket)
            used = self._counts.get(counted, 0)
            if used + 1 > rate:
                raise ThrottlingException(
                    f"You have exceeded the rate at which you may call KMS ({bucket}: "
                    f"{rate:g} requests per second in account {account}, {self._region}). "
                    "Reduce the frequency of your calls."
                )
            self._counts[counted] = used + 1
