"""The reference evaluator: a straightforward reading of the rules, statement by statement.

Layer: authz (pure). It exists so property tests can check the fast path (the compiled, indexed
``index.py`` and the rule table of ``kms.py``) against an independent implementation: it shares
no matching, operator, variable, principal or combining code with it (``glob``, ``values``,
``policy``, ``decide`` are its own), only the data types (requests, policies, decisions).
"""

from __future__ import annotations

from kmspolicy.authz.reference.decide import authorize_iam_reference, authorize_kms_reference
from kmspolicy.authz.reference.policy import match_policy_reference

__all__ = ["authorize_iam_reference", "authorize_kms_reference", "match_policy_reference"]
