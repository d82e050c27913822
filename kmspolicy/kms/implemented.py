"""The implemented operations: every handler module, imported once so that each binds.

Layer: kms, above the handlers and below the pipeline. ``kms.operations`` binds handlers to the
table and imports none of them (handlers import it to bind), so the table and its handlers form
no import loop; this module is the one place that lists the handler modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache

from kmspolicy.kms.operations import Operation, bound_operations

__all__ = ["load_operations"]

_HANDLER_MODULES = (
    "kmspolicy.kms.handlers.keys",
    "kmspolicy.kms.handlers.encryption",
    "kmspolicy.kms.handlers.datakeys",
    "kmspolicy.kms.handlers.signing",
    "kmspolicy.kms.handlers.aliases",
    "kmspolicy.kms.handlers.tags",
    "kmspolicy.kms.handlers.policies",
    "kmspolicy.kms.handlers.grants",
    "kmspolicy.kms.lifecycle.api_rotation",
    "kmspolicy.kms.lifecycle.api_deletion",
    "kmspolicy.kms.lifecycle.api_import",
)


@cache
def load_operations() -> Mapping[str, Operation]:
    """Every operation of the table, by name, with its behaviour bound (imports the handler
    modules once); InternalError when an implemented entry has no handler."""
    for module in _HANDLER_MODULES:
        importlib.import_module(module)
    return bound_operations()
