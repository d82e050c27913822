"""The authorizer's KMS tables agree with the service's operation table and botocore's model.

Two layers keep the same facts (authz decides, kms declares its operations); these tests keep
them from drifting apart until one of them derives from the other.
"""

from __future__ import annotations

import botocore.loaders

from kmspolicy.authz import CROSS_ACCOUNT_ACTIONS, EC_OPERATIONS, GRANT_OPERATIONS
from kmspolicy.kms.operations import load_operations


def _actions(operation: str) -> set[str]:
    # ReEncrypt is authorized as two actions, one per key
    if operation == "ReEncrypt":
        return {"kms:reencryptfrom", "kms:reencryptto"}
    return {f"kms:{operation.lower()}"}


def test_cross_account_actions_are_the_operations_declared_cross_account() -> None:
    declared = {
        a for name, op in load_operations().items() if op.cross_account for a in _actions(name)
    }
    assert declared == CROSS_ACCOUNT_ACTIONS


def test_grant_operations_are_botocores_grant_operation_enum() -> None:
    model = botocore.loaders.Loader().load_service_model("kms", "service-2")
    assert set(model["shapes"]["GrantOperation"]["enum"]) == GRANT_OPERATIONS
    assert EC_OPERATIONS <= GRANT_OPERATIONS
