"""Key policies: GetKeyPolicy, PutKeyPolicy (with the lockout safety check), ListKeyPolicies.

Layer: kms (handlers bound to the operation table). A key has exactly one policy, named
``default`` (KMS.md 3.1, 3.5). AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmspolicy.errors import (
    MalformedPolicyDocumentException,
    NotFoundException,
)
from kmspolicy.kms.handlers.common import LOCKOUT_MESSAGE, parse_key_policy
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call


def _policy_name(params: Mapping[str, Any]) -> None:
    name = params.get("PolicyName")
    if name is not None and name != "default":
        raise NotFoundException(
            f"No such policy exists: {name}. The only key policy name is default."
        )


def get_key_policy(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html"""
    return {"Policy": call.key.info.policy, "PolicyName": "default"}


def put_key_policy(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html"""
    text = call.params["Policy"]
    policy = parse_key_policy(text)
    if not call.params.get("BypassPolicyLockoutSafetyCheck") and not call.would_allow(
        "kms:PutKeyPolicy", call.key, policy
    ):
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    call.update_key(call.key, policy=text)
    return {}


def list_key_policies(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html"""
    return {"PolicyNames": ["default"], "Truncated": False}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind("GetKeyPolicy", get_key_policy, validate=_policy_name),
    bind("PutKeyPolicy", put_key_policy, validate=_policy_name),
    bind("ListKeyPolicies", list_key_policies),
)
