"""The key lifecycle: rotation, scheduled deletion, imported key material, AWS managed keys,
and the due work (rotations, deletions, expiry) done on access and by the sweeper.

Layer: kms. The pure rules live in ``rotation``, ``deletion``, ``imports``, ``managed`` and
``due``; the API operations built on them (``api_*``) export their handlers bound to the
operation table (``OPERATIONS``), which ``kms.implemented.load_operations`` collects (this
package does not import them: the pipeline and the stores import the rules, and the rules import
nothing of the operation table).

Seams for the pipeline: ``due.run_due_work`` on every key it loads (None → the key is gone),
``managed.service_to_create`` when an ``alias/aws/<service>`` alias has no target yet, and
``due.sweep`` for the server's periodic sweeper. Management operations declare their refusal
of AWS managed keys in the operation table (``OpSpec.refuse_aws_managed``).
"""

from kmspolicy.kms.lifecycle.due import SweepReport, run_due_work, sweep
from kmspolicy.kms.lifecycle.managed import (
    ensure_aws_managed_key,
    service_to_create,
)

__all__ = [
    "SweepReport",
    "ensure_aws_managed_key",
    "run_due_work",
    "service_to_create",
    "sweep",
]
