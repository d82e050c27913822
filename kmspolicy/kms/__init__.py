"""The KMS service layer: model, ports, identifiers, the operation table and pipeline, the
handlers, the JSON 1.1 codec and the in-process service ``KMS`` with its boto3 client.

Layer: kms (uses lang, authz, crypto and its own ports; never store, audit, server or cli).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kmspolicy.kms.service import KMS

__all__ = ["KMS"]


def __getattr__(name: str) -> Any:
    # Imported lazily: lifecycle and store modules import kms submodules, and the service
    # imports them back; a lazy facade keeps that cycle out of package initialisation.
    if name == "KMS":
        from kmspolicy.kms.service import KMS

        return KMS
    raise AttributeError(f"module 'kmspolicy.kms' has no attribute {name!r}")
