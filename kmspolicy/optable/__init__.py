"""The operation table: every operation of the KMS API and every ``kms:`` action, as data.

Layer: optable, below ``authz``, ``kms`` and the adapters (it imports only ``kmspolicy.errors``),
so that each of them derives its facts from here instead of typing them again: the authorizer's
cross-account and grant-operation sets, lint's action catalog and condition-key applicability,
the key-state matrix, usage tracking, and how the server schedules a call. ``kmspolicy.kms``
binds a handler to each implemented entry by name (``kms.operations``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kmspolicy.optable.spec import (
    ANY_KEY,
    STATE_COLUMNS,
    SYMMETRIC,
    Action,
    OpSpec,
    Resource,
)
from kmspolicy.optable.table import OPERATIONS as _OPERATIONS
from kmspolicy.optable.table import PERMISSION_ONLY

__all__ = [
    "ACTIONS",
    "ANY_KEY",
    "API_ACTIONS",
    "OPERATIONS",
    "PERMISSION_ONLY",
    "STATE_COLUMNS",
    "SYMMETRIC",
    "Action",
    "OpSpec",
    "Resource",
]

#: every operation of botocore's KMS model, by name
OPERATIONS: Mapping[str, OpSpec] = MappingProxyType(_OPERATIONS)

#: the actions API operations are authorized as, by bare name (``ReEncryptFrom``, …)
API_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {a.name: a for op in _OPERATIONS.values() for a in op.actions}
)

#: every ``kms:`` action, by bare name, sorted: the API's and the permission-only ones
ACTIONS: Mapping[str, Action] = MappingProxyType(
    dict(sorted({**API_ACTIONS, **{a.name: a for a in PERMISSION_ONLY}}.items()))
)
