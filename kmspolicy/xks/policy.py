"""Secondary authorization: a kmspolicy policy decides every key request from its metadata.

Layer: xks (over ``authz``). The specification lets a proxy authorize what KMS already
authorized, from ``requestMetadata``. Here the request becomes an ordinary authorization
question, decided by ``authz.evaluate_policies`` (plain policies: an explicit deny wins, an
allow is needed, a ``Principal`` element must match the caller):

- principal: ``awsPrincipalArn`` (an IAM/STS ARN; anything else, such as ``AWS Internal``, is
  a principal only ``*`` matches);
- action: ``kms:`` + ``kmsOperation`` (``kms:Encrypt``, ``kms:GenerateDataKey``,
  ``kms:ReEncrypt``, ``kms:Decrypt``, ``kms:CreateKey``, ``kms:DescribeKey``...);
- resource: the external key, ``arn:aws:kms-xks-proxy:<region>::key/<external key id>``;
- condition keys: ``authz.xks_proxy`` (and the caller's derived ``aws:PrincipalArn``,
  ``aws:PrincipalAccount``, ``aws:PrincipalType``...).

GetHealthStatus is never authorized (the specification excludes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kmspolicy.authz import Caller, Decision, PrincipalType, Request, evaluate_policies
from kmspolicy.authz.xks_proxy import API_KEY, KEY_ID_KEY, METADATA_CONDITION_KEYS, resource_arn
from kmspolicy.errors import InvalidArnException
from kmspolicy.lang import Policy
from kmspolicy.xks.errors import AccessDeniedException
from kmspolicy.xks.wire import RequestMetadata


def caller(principal: str) -> Caller:
    try:
        return Caller.from_arn(principal)
    except InvalidArnException:
        # "AWS Internal", or a form this version does not know: no statement names it
        return Caller(principal, PrincipalType.SERVICE, None, principal, name=principal)


def request_for(
    metadata: RequestMetadata, *, api: str, key_id: str, region: str, time: datetime
) -> Request:
    """The authorization question a key request asks (see the module docstring)."""
    context: dict[str, str] = {API_KEY: api, KEY_ID_KEY: key_id}
    for member, key in METADATA_CONDITION_KEYS.items():
        value = metadata.get(member)
        if value is not None:
            context[key] = value
    return Request(
        caller(metadata.get("awsPrincipalArn") or ""),
        f"kms:{metadata.operation}",
        resource_arn(region, key_id),
        context,
        time=time,
    )


@dataclass(frozen=True, slots=True)
class SecondaryAuthorization:
    """The configured policies; with none, every authenticated request is allowed."""

    policies: tuple[Policy, ...]
    region: str

    def check(
        self, metadata: RequestMetadata, *, api: str, key_id: str, time: datetime
    ) -> Decision | None:
        """The decision (None without policies); raises AccessDeniedException on a denial,
        its ``cause`` naming the deciding statement (or the nearest miss) for the log."""
        if not self.policies:
            return None
        request = request_for(metadata, api=api, key_id=key_id, region=self.region, time=time)
        decision = evaluate_policies(request, self.policies)
        if not decision.allowed:
            raise AccessDeniedException(
                "the external key store proxy's policy denies this request",
                cause=describe(decision),
            )
        return decision


def describe(decision: Decision) -> str:
    """Which statement decided, for the log: ``explicitDeny by DenyAfterHours (p.kmsp:7)``."""
    if decision.matched_statements:
        stmt = decision.matched_statements[0]
        return f"{decision.kind.value} by {stmt.label()} ({stmt.location()})"
    text = f"{decision.kind.value}: no statement allows {decision.action}"
    if decision.nearest_miss is not None:
        text += f"; nearest miss: {decision.nearest_miss.describe()}"
    return text
