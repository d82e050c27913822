"""``simulate``: one authorization request against policies given in any convenient form, for
compliance tests written in Python (the pytest fixture of the same name).

Layer: testing (pure over lang + authz).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmspolicy.errors import ConfigError
from kmspolicy.lang import Policy, load_policies, read_json, read_policies

if TYPE_CHECKING:
    from kmspolicy.authz import Decision, Grant

#: a policy as a test may give it: parsed, a file, JSON or DSL text, or a JSON document as a dict
PolicyLike = Policy | str | PathLike[str] | Mapping[str, Any]

DEFAULT_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def as_policy(value: PolicyLike, *, key_policy: bool = False) -> Policy:
    """Read one policy from any ``PolicyLike`` (a multi-policy DSL file is an error here)."""
    if isinstance(value, Policy):
        return value
    if isinstance(value, Mapping):
        return read_json(json.dumps(value), "<dict>", key_policy=key_policy)
    if isinstance(value, PathLike) or (
        "\n" not in value and Path(value).suffix in (".json", ".kmsp") and Path(value).is_file()
    ):
        policies = load_policies(value, key_policy=key_policy)
        source = str(value)
    else:
        policies = read_policies(value, "<string>", key_policy=key_policy)
        source = "<string>"
    if len(policies) != 1:
        raise ConfigError(f"{source} holds {len(policies)} policies; expected exactly one")
    return policies[0]


class Simulator:
    """Callable: ``simulate(principal, action, resource=…, key_policy=…, …) -> Decision``."""

    def __call__(
        self,
        principal: str,
        action: str,
        resource: str = DEFAULT_KEY,
        *,
        key_policy: PolicyLike,
        identity_policies: Sequence[PolicyLike] = (),
        grants: Sequence[Grant] = (),
        scps: Sequence[PolicyLike] = (),
        rcps: Sequence[PolicyLike] = (),
        permissions_boundary: PolicyLike | None = None,
        session_policies: Sequence[PolicyLike] = (),
        context: Mapping[str, Any] | None = None,
        time: datetime | None = None,
        principal_tags: Mapping[str, str] | None = None,
    ) -> Decision:
        from kmspolicy.authz import Caller, KmsPolicies, Request, authorize_kms

        if ":" not in action:
            action = f"kms:{action}"
        caller = Caller.from_arn(principal, tags=dict(principal_tags or {}) or None)
        policies = KmsPolicies(
            key_policy=as_policy(key_policy, key_policy=True),
            identity_policies=tuple(as_policy(p) for p in identity_policies),
            grants=tuple(grants),
            scps=tuple(as_policy(p) for p in scps),
            rcps=tuple(as_policy(p) for p in rcps),
            permissions_boundary=(
                as_policy(permissions_boundary) if permissions_boundary is not None else None
            ),
            session_policies=tuple(as_policy(p) for p in session_policies),
        )
        request = Request(caller, action, resource, context=dict(context or {}), time=time)
        return authorize_kms(request, policies)
