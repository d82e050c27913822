"""The implemented operations: every handler module's bindings, collected.

Layer: kms, above the handlers and below the pipeline. ``kms.operations`` binds handlers to the
table and imports none of them (handlers import it to bind), so the table and its handlers form
no import loop; this module is the one place that lists the handler modules. A new handler
module exports ``OPERATIONS = (bind(...), ...)`` and is added here.
"""

from __future__ import annotations

from collections.abc import Mapping

from kmspolicy.kms.handlers import (
    aliases,
    datakeys,
    encryption,
    grants,
    keys,
    keystores,
    multiregion,
    policies,
    signing,
    tags,
)
from kmspolicy.kms.lifecycle import api_deletion, api_import, api_rotation
from kmspolicy.kms.operations import Operation, collect

__all__ = ["load_operations"]

_BINDINGS = (
    *keys.OPERATIONS,
    *encryption.OPERATIONS,
    *datakeys.OPERATIONS,
    *signing.OPERATIONS,
    *aliases.OPERATIONS,
    *tags.OPERATIONS,
    *policies.OPERATIONS,
    *grants.OPERATIONS,
    *keystores.OPERATIONS,
    *multiregion.OPERATIONS,
    *api_rotation.OPERATIONS,
    *api_deletion.OPERATIONS,
    *api_import.OPERATIONS,
)


def load_operations() -> Mapping[str, Operation]:
    """Every operation of the table, by name, with its behaviour bound (a new mapping each call,
    shared with no one); InternalError when a name is bound twice or an implemented entry has
    no handler."""
    return collect(_BINDINGS)
