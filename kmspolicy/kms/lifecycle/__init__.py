"""The key lifecycle: rotation, scheduled deletion, imported key material, AWS managed keys,
and the due work (rotations, deletions, expiry) done on access and by the sweeper.

Layer: kms. The pure rules live in ``rotation``, ``deletion``, ``imports``, ``managed`` and
``due``; importing this package binds the handlers of the API operations built on them
(``api_*``) to the operation table, which is how ``kms.operations.load_operations`` finds them.

Seams for the pipeline: ``due.run_due_work`` on every key it loads (None → the key is gone),
``managed.service_to_create`` when an ``alias/aws/<service>`` alias has no target yet, and
``due.sweep`` for the server's periodic sweeper. Management operations declare their refusal
of AWS managed keys in the operation table (``OpSpec.refuse_aws_managed``).
"""

from kmspolicy.kms.lifecycle import api_deletion, api_import, api_rotation
from kmspolicy.kms.lifecycle.due import SweepReport, run_due_work, sweep
from kmspolicy.kms.lifecycle.managed import (
    ensure_aws_managed_key,
    service_to_create,
)

__all__ = [
    "SweepReport",
    "api_deletion",
    "api_import",
    "api_rotation",
    "ensure_aws_managed_key",
    "run_due_work",
    "service_to_create",
    "sweep",
]
