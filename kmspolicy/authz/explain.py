"""Nearest misses: for an implicit deny, the Allow statement that came closest and what failed.

Layer: authz (pure). Runs only on denials (never on the fast allow path), with the compiled
statements' own per-part checks, so an explanation never disagrees with the decision it explains
(and a denied request costs no slower matching than an allowed one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kmspolicy.authz.conditions import describe
from kmspolicy.authz.decision import NearMiss
from kmspolicy.lang.ast import Effect

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request
    from kmspolicy.authz.index import CompiledPolicy


def nearest_miss(request: Request, policies: Iterable[CompiledPolicy]) -> NearMiss | None:
    """The Allow statement matching the most of (action, principal, resource, conditions)."""
    best: tuple[tuple[int, ...], NearMiss] | None = None
    action_lower = request.action_lower
    for compiled in policies:
        resource_based = compiled.resource_based
        for cs in compiled.statements:
            stmt = cs.stmt
            if stmt.effect is not Effect.ALLOW:
                continue
            matched: list[str] = []
            failed: list[str] = []
            action = bool(stmt.actions) and cs.action_matches(action_lower)
            (matched if action else failed).append("action" if action else "action did not match")
            principal = cs.principals.match(request.caller, resource_based) is not None
            if stmt.principals is not None:
                (matched if principal else failed).append(
                    "principal" if principal else "principal did not match"
                )
            resource = cs.resource_matches(request)
            (matched if resource else failed).append(
                "resource" if resource else "resource did not match"
            )
            passed = 0
            for cond in cs.conditions:
                if cond.evaluate(request, []):
                    passed += 1
                else:
                    failed.append(f"condition {describe(cond.source)} failed")
            if not failed:
                continue  # it applied; the decision lists it among the matched statements
            score = (int(action), int(principal), int(resource), passed, -len(failed))
            if best is None or score > best[0]:
                parts = tuple(m for m in matched if m in ("action", "principal", "resource"))
                best = (score, NearMiss(cs.ref, parts, tuple(failed)))
    return best[1] if best else None
