"""``simulate``: one authorization request against policies given in any convenient form, for
compliance tests written in Python (the pytest fixture of the same name).

Layer: testing (over ``kmspolicy.authorize``, the library's one-call decision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kmspolicy.lang.loader import PolicyLike

if TYPE_CHECKING:
    from kmspolicy.authz import Decision, Grant

DEFAULT_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


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
        from kmspolicy.facade import authorize

        return authorize(
            principal=principal,
            action=action,
            resource=resource,
            key_policy=key_policy,
            identity_policies=list(identity_policies),
            grants=grants,
            scps=list(scps),
            rcps=list(rcps),
            permissions_boundary=permissions_boundary,
            session_policies=list(session_policies),
            context=context,
            time=time,
            principal_tags=principal_tags,
        )
