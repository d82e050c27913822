"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

Layer: kms (handlers bound to the operation table). Grants only allow, cover one key,
carry optional encryption-context constraints, and are usable at once (a local engine is
immediately consistent; grant tokens are validated, KMS.md 3.6). AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from kmspolicy.authz import Arn, Caller, PolicyType, PrincipalType
from kmspolicy.authz.grants import grant_operations_for_key
from kmspolicy.crypto import specs
from kmspolicy.errors import (
    AccessDeniedException,
    InvalidArnException,
    InvalidGrantIdException,
    InvalidMarkerException,
    LimitExceededException,
    NotFoundException,
    ValidationException,
)
from kmspolicy.kms import ids
from kmspolicy.kms.handlers.common import decode_marker, encode_marker, page
from kmspolicy.kms.model import GrantConstraints, GrantRecord, KeyInfo, KeyRecord
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import (
    GRANT_NONCE_BYTES,
    Call,
    Resolution,
    Target,
    parse_grant_token,
    verify_grant_token,
)

Params = Mapping[str, Any]

MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_VALUE = 384


def _grant_operations_for(key: KeyInfo) -> frozenset[str]:
    return grant_operations_for_key(
        specs.KeyUsage(key.key_usage), symmetric=specs.is_symmetric(key.key_spec)
    )


def _constraints(params: Params) -> GrantConstraints | None:
    raw = params.get("Constraints")
    if not raw:
        return None
    equals, subset = raw.get("EncryptionContextEquals"), raw.get("EncryptionContextSubset")
    source_arn = raw.get("SourceArn")
    for pairs in (equals, subset):
        if pairs is None:
            continue
        if len(pairs) > MAX_CONSTRAINT_PAIRS:
            raise ValidationException(
                f"A grant constraint may have at most {MAX_CONSTRAINT_PAIRS} "
                "encryption context pairs."
            )
        if any(len(v) > MAX_CONSTRAINT_VALUE for v in pairs.values()):
            raise ValidationException(
                f"Grant constraint values may be at most {MAX_CONSTRAINT_VALUE} characters."
            )
    if equals is None and subset is None and source_arn is None:
        return None
    return GrantConstraints(
        tuple(sorted(equals.items())) if equals is not None else None,
        tuple(sorted(subset.items())) if subset is not None else None,
        source_arn,
    )


def _principal(value: str, member: str) -> str:
    try:
        caller = Caller.from_arn(value)
    except InvalidArnException:
        raise ValidationException(f"{member} {value} is not a valid AWS principal.") from None
    if caller.account is None:
        raise ValidationException(f"{member} {value} must be an AWS account or IAM principal ARN.")
    return value


def _service_principal(value: str, member: str) -> str:
    """A service principal (``ec2.amazonaws.com``): the model's ServicePrincipalType pattern."""
    if _SERVICE_PRINCIPAL.fullmatch(value) is None or len(value) > 128:
        raise ValidationException(f"{member} {value} is not a valid service principal.")
    return value


_SERVICE_PRINCIPAL = re.compile(r"[A-Za-z0-9\-]+\.[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")


def _grantee(params: Params) -> str:
    """The grantee named by GranteePrincipal or GranteeServicePrincipal (exactly one is set)."""
    return str(params.get("GranteePrincipal") or params["GranteeServicePrincipal"])


def _retiring(params: Params) -> str | None:
    return params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")


def _validate_create(params: Params) -> None:
    """API_CreateGrant: GranteePrincipal or GranteeServicePrincipal, not both; a service
    grantee needs a SourceArn constraint and a retiring principal (either kind); at most one
    of RetiringPrincipal and RetiringServicePrincipal."""
    grantee, service = params.get("GranteePrincipal"), params.get("GranteeServicePrincipal")
    if (grantee is None) == (service is None):
        raise ValidationException(
            "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both."
        )
    if params.get("RetiringPrincipal") is not None and (
        params.get("RetiringServicePrincipal") is not None
    ):
        raise ValidationException(
            "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both."
        )
    if grantee is not None:
        _principal(grantee, "GranteePrincipal")
    else:
        _service_principal(str(service), "GranteeServicePrincipal")
        if (params.get("Constraints") or {}).get("SourceArn") is None:
            raise ValidationException(
                "When you specify a GranteeServicePrincipal, you must also specify a "
                "SourceArn grant constraint."
            )
        if _retiring(params) is None:
            raise ValidationException(
                "When you specify a GranteeServicePrincipal, you must also specify a "
                "RetiringPrincipal or a RetiringServicePrincipal."
            )
    if params.get("RetiringPrincipal") is not None:
        _principal(params["RetiringPrincipal"], "RetiringPrincipal")
    if params.get("RetiringServicePrincipal") is not None:
        _service_principal(params["RetiringServicePrincipal"], "RetiringServicePrincipal")
    if not params["Operations"]:
        raise ValidationException("Operations must list at least one grant operation.")
    _constraints(params)


def _create_context(params: Params) -> dict[str, object]:
    ctx: dict[str, object] = {
        "kms:GrantOperations": list(params["Operations"]),
        "kms:GrantIsForAWSResource": False,
    }
    for member in (
        "GranteePrincipal",
        "GranteeServicePrincipal",
        "RetiringPrincipal",
        "RetiringServicePrincipal",
    ):
        if params.get(member) is not None:
            ctx[f"kms:{member}"] = params[member]
    constraints = params.get("Constraints") or {}
    if constraints.get("SourceArn") is not None:
        ctx["kms:GrantConstraintSourceArn"] = constraints["SourceArn"]
    for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
        pairs = constraints.get(kind)
        if pairs is not None:
            ctx["kms:GrantConstraintType"] = kind
            for k, v in pairs.items():
                ctx[f"kms:EncryptionContext:{k}"] = v
    return ctx


def _pairs(c: GrantConstraints | None, which: str) -> dict[str, str] | None:
    if c is None:
        return None
    pairs = getattr(c, which)
    return None if pairs is None else dict(pairs)


def _at_least_as_strict(child: GrantConstraints | None, parent: GrantConstraints | None) -> bool:
    """A grant created through a grant may only narrow the parent's constraints."""
    p_eq, p_sub = (
        _pairs(parent, "encryption_context_equals"),
        _pairs(parent, "encryption_context_subset"),
    )
    c_eq, c_sub = (
        _pairs(child, "encryption_context_equals"),
        _pairs(child, "encryption_context_subset"),
    )
    if p_eq is not None:
        return c_eq == p_eq and c_sub is None
    if p_sub is not None:
        if c_eq is not None:
            return all(c_eq.get(k) == v for k, v in p_sub.items())
        return c_sub is not None and all(c_sub.get(k) == v for k, v in p_sub.items())
    return True


def _check_parent_grant(call: Call, operations: list[str], constraints: Any) -> None:
    """When only a grant allowed CreateGrant, the new grant must be a narrowing of it."""
    decision = call.decisions[0]
    if decision.decided_by is not None and decision.decided_by is not PolicyType.GRANT:
        return
    grant_ids = [
        m.sid for m in decision.matched_statements if m.source_policy_type is PolicyType.GRANT
    ]
    if not grant_ids or any(
        m.source_policy_type is not PolicyType.GRANT for m in decision.matched_statements
    ):
        return
    for grant_id in grant_ids:
        parent = call.get_grant(call.key.arn, grant_id or "")
        if (
            parent is not None
            and set(operations) <= set(parent.operations)
            and _at_least_as_strict(constraints, parent.constraints)
        ):
            return
    raise AccessDeniedException(
        f"User: {call.caller.arn} is not authorized to perform: kms:CreateGrant on resource: "
        f"{call.key.arn} because the new grant is broader than the grant that allows it"
    )


def create_grant(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html"""
    p = call.params
    key = call.key.info
    operations = list(dict.fromkeys(p["Operations"]))
    allowed = _grant_operations_for(key)
    bad = [op for op in operations if op not in allowed]
    if bad:
        raise ValidationException(
            f"Grant operations {', '.join(bad)} are not valid for a {key.key_spec} "
            f"{key.key_usage} KMS key."
        )
    constraints = _constraints(p)
    grantee, retiring = _grantee(p), _retiring(p)
    if (
        constraints is not None
        and (constraints.encryption_context_equals or constraints.encryption_context_subset)
        is not None
        and not specs.is_symmetric(key.key_spec)
    ):
        raise ValidationException(
            "Grant constraints are supported only for symmetric encryption KMS keys."
        )
    _check_parent_grant(call, operations, constraints)
    name = p.get("Name")
    if name is not None:  # an equal named grant is answered again (idempotent retries)
        for g in call.list_grants(key.arn, grantee=grantee):
            if (
                g.name == name
                and g.retiring_principal == retiring
                and set(g.operations) == set(operations)
                and g.constraints == constraints
            ):
                return {"GrantToken": call.grant_token(g), "GrantId": g.grant_id}
    limit = call.quotas.grants_per_key
    if call.count_grants(key.arn) >= limit:
        raise LimitExceededException(f"{key.arn} has reached the limit of {limit} grants.")
    grant = GrantRecord(
        grant_id=call.rng(32).hex(),
        key_arn=key.arn,
        grantee_principal=grantee,
        operations=tuple(operations),
        issuing_account=ids.account_root_arn(call.account),
        creation_date=call.now,
        name=name,
        retiring_principal=retiring,
        constraints=constraints,
        grantee_is_service=p.get("GranteeServicePrincipal") is not None,
        retiring_is_service=p.get("RetiringServicePrincipal") is not None,
        token_nonce=call.rng(GRANT_NONCE_BYTES).hex(),
    )
    call.put_grant(grant)
    return {"GrantToken": call.grant_token(grant), "GrantId": grant.grant_id}


def grant_entry(g: GrantRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "KeyId": g.key_arn,
        "GrantId": g.grant_id,
        "CreationDate": g.creation_date,
        "GranteePrincipal": g.grantee_principal,
        "IssuingAccount": g.issuing_account,
        "Operations": list(g.operations),
    }
    if g.name is not None:
        entry["Name"] = g.name
    if g.grantee_is_service:  # the API reference: GranteePrincipal then holds the service
        entry["GranteeServicePrincipal"] = g.grantee_principal
    if g.retiring_principal is not None:
        member = "RetiringServicePrincipal" if g.retiring_is_service else "RetiringPrincipal"
        entry[member] = g.retiring_principal
    if g.constraints is not None:
        c: dict[str, Any] = {}
        if g.constraints.encryption_context_equals is not None:
            c["EncryptionContextEquals"] = dict(g.constraints.encryption_context_equals)
        if g.constraints.encryption_context_subset is not None:
            c["EncryptionContextSubset"] = dict(g.constraints.encryption_context_subset)
        if g.constraints.source_arn is not None:
            c["SourceArn"] = g.constraints.source_arn
        entry["Constraints"] = c
    return entry


def _validate_list(params: Params) -> None:
    if params.get("GranteePrincipal") is not None and (
        params.get("GranteeServicePrincipal") is not None
    ):
        raise ValidationException(
            "You can specify either GranteePrincipal or GranteeServicePrincipal, but not both."
        )


def list_grants(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html"""
    p = call.params
    if p.get("GranteeServicePrincipal") is not None and call.caller.type is not (
        PrincipalType.SERVICE
    ):
        raise ValidationException(
            "The GranteeServicePrincipal filter is only usable by callers in a service principal."
        )
    # a grantee equal to a service principal is a service's (GranteePrincipal is an ARN)
    grantee = p.get("GranteePrincipal") or p.get("GranteeServicePrincipal")
    grants: Sequence[GrantRecord]
    if p.get("GrantId") is not None:
        one = call.get_grant(call.key.arn, p["GrantId"])
        grants = [g for g in (one,) if g is not None and grantee in (None, g.grantee_principal)]
    else:
        # only the page asked for (plus one to tell whether more follow), not every grant
        limit = min(int(p.get("Limit") or 50), 100)
        after = decode_marker(p.get("Marker"))
        grants = call.list_grants(call.key.arn, grantee=grantee, after=after, limit=limit + 1)
    chunk, more = page(grants, p, lambda g: g.grant_id, default=50, maximum=100)
    return {"Grants": [grant_entry(g) for g in chunk], **more}


def _validate_retirable(params: Params) -> None:
    principal, service = params.get("RetiringPrincipal"), params.get("RetiringServicePrincipal")
    if (principal is None) == (service is None):  # both optional in the model, one required
        raise ValidationException(
            "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both."
        )
    if principal is not None:
        _principal(principal, "RetiringPrincipal")
    else:
        _service_principal(str(service), "RetiringServicePrincipal")


def _resolve_retirable(res: Resolution) -> list[Target]:
    service = res.params.get("RetiringServicePrincipal")
    if service is not None:
        # AWS: "only usable by callers in a service principal": a service lists its own grants
        if res.caller.type is not PrincipalType.SERVICE or res.caller.arn != service:
            raise AccessDeniedException(
                f"User: {res.caller.arn} is not authorized to perform: kms:ListRetirableGrants "
                f"on resource: {service} because only that service principal may list the "
                "grants it can retire"
            )
        return [Target("kms:ListRetirableGrants", "*")]
    # AWS: the retiring principal must be in the caller's account (it is the authorized
    # resource); listing another account's principal would disclose that account's grants.
    principal = res.params["RetiringPrincipal"]
    account = Caller.from_arn(principal).account
    if account != res.caller.account:
        raise AccessDeniedException(
            f"User: {res.caller.arn} is not authorized to perform: kms:ListRetirableGrants "
            f"on resource: {principal} because the retiring principal is not in the "
            "caller's account"
        )
    return [Target("kms:ListRetirableGrants", "*")]


def list_retirable_grants(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListRetirableGrants.html"""
    service = call.params.get("RetiringServicePrincipal")
    principal = service if service is not None else call.params["RetiringPrincipal"]
    # one page read from the store, in (key ARN, grant id) order; the marker names the last
    # grant read, so a page whose grants are filtered below may come back short (even empty,
    # with Truncated), and the work per request stays a page whatever the principal holds
    limit = min(int(call.params.get("Limit") or 50), 100)
    marker = decode_marker(call.params.get("Marker"))
    after = None
    if marker is not None:
        key_arn, space, grant_id = marker.rpartition(" ")
        if not space:
            raise InvalidMarkerException(f"Invalid marker: {call.params['Marker']}")
        after = (key_arn, grant_id)
    read = call.list_grants_by_retiring_principal(principal, after=after, limit=limit + 1)
    more: dict[str, Any] = {"Truncated": False}
    if len(read) > limit:
        read = read[:limit]
        more = {
            "Truncated": True,
            "NextMarker": encode_marker(f"{read[-1].key_arn} {read[-1].grant_id}"),
        }
    grants = [  # AWS: the grants of this Region only (keys of any account)
        g
        for g in read
        if Arn.parse(g.key_arn).region == call.region
        and g.retiring_is_service == (service is not None)
    ]
    return {"Grants": [grant_entry(g) for g in grants], **more}


def _find_grant(res: Resolution) -> tuple[KeyRecord, GrantRecord]:
    p = res.params
    if p.get("GrantToken") is not None:
        key_arn, grant_id = parse_grant_token(p["GrantToken"])
        key = res.load_key(key_arn)
    else:
        if p.get("KeyId") is None or p.get("GrantId") is None:
            raise ValidationException("Specify GrantToken, or both KeyId and GrantId.")
        _ref, key = res.resolve_key(p["KeyId"], allow_alias=False)
        grant_id = p["GrantId"]
    grant = res.tx.get_grant(key.arn, grant_id) if key is not None else None
    if key is None or grant is None:
        raise NotFoundException(f"Grant ID {grant_id} not found")
    if p.get("GrantToken") is not None:
        verify_grant_token(p["GrantToken"], grant)
    return key, grant


def _resolve_retire(res: Resolution) -> list[Target]:
    key, grant = _find_grant(res)
    # Authorized by the grant itself (retiring principal, or grantee with RetireGrant) or by
    # IAM in the issuing account; a key-policy kms:RetireGrant has no effect (authz's rule).
    return [Target("kms:RetireGrant", key.arn, key, "RetireGrant", only_grant=grant)]


def retire_grant(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html"""
    target = call.targets[0]
    assert target.only_grant is not None  # INVARIANT: set by _resolve_retire
    call.delete_grant(call.key.arn, target.only_grant.grant_id)
    return {}


def revoke_grant(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html"""
    grant_id = call.params["GrantId"]
    if call.get_grant(call.key.arn, grant_id) is None:
        raise InvalidGrantIdException(f"Grant ID {grant_id} not found")
    call.delete_grant(call.key.arn, grant_id)
    return {}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("CreateGrant", create_grant, validate=_validate_create, context=_create_context),
    bind("ListGrants", list_grants, validate=_validate_list),
    bind(
        "ListRetirableGrants",
        list_retirable_grants,
        validate=_validate_retirable,
        resolve=_resolve_retirable,
    ),
    bind("RetireGrant", retire_grant, resolve=_resolve_retire),
    bind("RevokeGrant", revoke_grant),
)
