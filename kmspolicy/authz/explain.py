"""Nearest misses: for an implicit deny, the Allow statement that came closest and what failed.

Layer: authz (pure). Runs only on denials (never on the fast allow path), reusing the
reference evaluator's per-part checks so explanations never disagree with the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kmspolicy.authz.conditions import describe
from kmspolicy.authz.decision import NearMiss, PolicyType
from kmspolicy.authz.principals import principals_match
from kmspolicy.authz.reference import action_ok, condition_holds, resource_ok
from kmspolicy.authz.statements import policy_name, statement_ref
from kmspolicy.lang.ast import Effect

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request
    from kmspolicy.lang.ast import Policy


def nearest_miss(
    request: Request, policies: Iterable[tuple[Policy, PolicyType, str | None]]
) -> NearMiss | None:
    """The Allow statement matching the most of (action, principal, resource, conditions)."""
    best: tuple[tuple[int, ...], NearMiss] | None = None
    for policy, ptype, name in policies:
        variables = policy.variables_enabled
        label = name or policy_name(policy, ptype)
        for i, stmt in enumerate(policy.statements):
            if stmt.effect is not Effect.ALLOW:
                continue
            matched: list[str] = []
            failed: list[str] = []
            action = bool(stmt.actions) and action_ok(stmt, request)
            (matched if action else failed).append("action" if action else "action did not match")
            how = principals_match(
                stmt.principals,
                stmt.not_principal,
                request.caller,
                resource_based=ptype.is_resource_based,
            )
            principal = how is not None
            if stmt.principals is not None:
                (matched if principal else failed).append(
                    "principal" if principal else "principal did not match"
                )
            resource = resource_ok(stmt, request, variables)
            (matched if resource else failed).append(
                "resource" if resource else "resource did not match"
            )
            passed = 0
            for cond in stmt.conditions:
                if condition_holds(cond, request, variables):
                    passed += 1
                else:
                    failed.append(f"condition {describe(cond)} failed")
            if not failed:
                continue  # it applied; the decision lists it among the matched statements
            score = (int(action), int(principal), int(resource), passed, -len(failed))
            if best is None or score > best[0]:
                ref = statement_ref(policy, ptype, i, label)
                parts = tuple(m for m in matched if m in ("action", "principal", "resource"))
                best = (score, NearMiss(ref, parts, tuple(failed)))
    return best[1] if best else None
