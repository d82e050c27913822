"""``kmspolicy.authorize(...)``: one call from policies (as text, paths, dicts or parsed) and a
request to a decision with its explanation.

Layer: facade (over lang and authz; reads policy files through ``lang.loader``). A KMS action,
or any request with a key policy or grants, is decided by KMS's rules (``authorize_kms``: the
key policy must allow, or delegate to IAM); anything else by IAM's general rules over the
identity policies (``authorize_iam``), as ``kmspolicy simulate`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from os import PathLike
from typing import Any

from kmspolicy.authz import Caller, Decision, Grant, KmsPolicies, Request
from kmspolicy.authz import authorize_iam as _authorize_iam
from kmspolicy.authz import authorize_kms as _authorize_kms
from kmspolicy.lang import Policy
from kmspolicy.lang.loader import PolicyLike, as_policy

#: the key ARN decided when a key policy is given without a resource (in the caller's account)
DEFAULT_KEY_ID = "00000000-0000-0000-0000-000000000000"


def _many(values: PolicyLike | Sequence[PolicyLike]) -> list[Policy]:
    """One policy or several: a string, a path, a dict or a Policy is one."""
    if isinstance(values, (str, PathLike, Mapping, Policy)):
        return [as_policy(values)]
    return [as_policy(v) for v in values]


def authorize(
    *,
    principal: str,
    action: str,
    resource: str | None = None,
    key_policy: PolicyLike | None = None,
    identity_policies: PolicyLike | Sequence[PolicyLike] = (),
    context: Mapping[str, Any] | None = None,
    grants: Sequence[Grant] = (),
    scps: PolicyLike | Sequence[PolicyLike] = (),
    rcps: PolicyLike | Sequence[PolicyLike] = (),
    permissions_boundary: PolicyLike | None = None,
    session_policies: PolicyLike | Sequence[PolicyLike] = (),
    principal_tags: Mapping[str, str] | None = None,
    time: datetime | None = None,
) -> Decision:
    """Decide whether ``principal`` may perform ``action`` on ``resource``.

    Policies are ``Policy`` objects, file paths (``.json``/``.kmsp``), JSON or DSL text, or JSON
    documents as dicts. ``action`` without a service prefix is a KMS action (``Decrypt``).
    ``resource`` defaults to a key in the principal's account when a key policy is given, else
    ``*``. ``context`` holds condition keys (``{"kms:EncryptionContext:app": "billing"}``);
    ``time`` is ``aws:CurrentTime`` (default now). The returned ``Decision`` says
    ``.allowed``, ``.kind`` (allowed, explicitDeny, implicitDeny), ``.reason``, the
    ``.matched_statements`` and ``.missing_context_keys``; ``.explain()`` puts it in words.
    ``scps``/``rcps`` given as a flat list form one level of the organization.
    Bad policies raise ``PolicySyntaxError`` (with ``file:line:col``), bad requests
    ``UserError``.
    """
    if ":" not in action:
        action = f"kms:{action}"
    caller = Caller.from_arn(principal, tags=dict(principal_tags or {}) or None)
    if resource is None:
        if key_policy is None:
            resource = "*"
        else:
            account = caller.account or "111122223333"
            resource = f"arn:{caller.partition}:kms:us-east-1:{account}:key/{DEFAULT_KEY_ID}"
    request = Request(caller, action, resource, context=dict(context or {}), time=time)
    boundary = as_policy(permissions_boundary) if permissions_boundary is not None else None
    identity = _many(identity_policies)
    sessions = _many(session_policies)
    if key_policy is None and not grants and not action.lower().startswith("kms:"):
        return _authorize_iam(
            request,
            identity,
            scps=_many(scps),
            rcps=_many(rcps),
            permissions_boundary=boundary,
            session_policies=sessions,
        )
    policies = KmsPolicies(
        key_policy=as_policy(key_policy, key_policy=True) if key_policy is not None else None,
        identity_policies=tuple(identity),
        grants=tuple(grants),
        scps=tuple(_many(scps)),
        rcps=tuple(_many(rcps)),
        permissions_boundary=boundary,
        session_policies=tuple(sessions),
    )
    return _authorize_kms(request, policies)
