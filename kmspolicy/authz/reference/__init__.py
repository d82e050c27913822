"""The reference evaluator: a straightforward reading of the rules, statement by statement.

Layer: authz (pure). No index, no pre-compiled patterns: it exists so property tests can check
that the compiled, indexed evaluator (``index.py``) decides exactly as the rules say.
"""

from __future__ import annotations

from kmspolicy.authz.reference.policy import (
    action_ok,
    condition_holds,
    match_policy_reference,
    resource_ok,
)

__all__ = ["action_ok", "condition_holds", "match_policy_reference", "resource_ok"]
