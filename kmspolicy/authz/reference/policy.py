"""The reference evaluator: a straightforward reading of the rules, statement by statement.

Layer: authz (pure). No index, no pre-compiled patterns: it exists so property tests can check
that the compiled, indexed evaluator (``index.py``) decides exactly as the rules say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmspolicy.authz.index import PolicyMatch
from kmspolicy.authz.operators import SPECS, Family, compare, convert_policy, convert_request
from kmspolicy.authz.principals import principals_match
from kmspolicy.authz.reference.glob import Piece, arn_match, glob_match
from kmspolicy.authz.statements import policy_name, statement_ref
from kmspolicy.authz.variables import parse_template
from kmspolicy.lang.ast import Condition, Effect, SetQualifier

if TYPE_CHECKING:
    from kmspolicy.authz.context import Request
    from kmspolicy.authz.decision import PolicyType
    from kmspolicy.lang.ast import Policy, Statement


def _pieces(text: str, request: Request, variables: bool) -> tuple[Piece, ...] | None:
    template = parse_template(text) if variables else None
    return ((text, False),) if template is None else template.resolve(request)


def action_ok(stmt: Statement, request: Request) -> bool:
    hit = any(glob_match(a.name, request.action, fold=True) for a in stmt.actions)
    return hit != stmt.not_action


def resource_ok(stmt: Statement, request: Request, variables: bool) -> bool:
    if stmt.resources is None:
        return False
    hit = False
    for r in stmt.resources:
        pieces = _pieces(r.arn, request, variables)
        if pieces is not None and arn_match(pieces, request.resource):
            hit = True
    return hit != stmt.not_resource


def _policy_values(
    cond: Condition, request: Request, variables: bool, missing: list[str]
) -> list[Any]:
    """Policy values: glob/ARN patterns as pieces, everything else converted per family."""
    spec = SPECS[cond.operator]
    out: list[Any] = []
    for cv in cond.values:
        templated = (
            variables
            and spec.variables
            and isinstance(cv.value, str)
            and parse_template(cv.value) is not None
        )
        if templated or spec.compare in ("like", "arn"):
            text = cv.value if isinstance(cv.value, str) else None
            if text is None:
                value = convert_policy(spec, cv.value)  # a bool/number written unquoted
                text = (
                    None
                    if value is None
                    else str(cv.value).lower()
                    if isinstance(cv.value, bool)
                    else str(cv.value)
                )
            pieces = None if text is None else _pieces(text, request, bool(templated))
            if pieces is not None:
                out.append(("pieces", pieces))
            elif templated and isinstance(cv.value, str):
                template = parse_template(cv.value)
                assert template is not None
                missing.extend(k for k in template.keys if request.get(k) is None)
            continue
        value = convert_policy(spec, cv.value)
        if value is not None:
            out.append(("value", value))
    return out


def _compare_one(cond: Condition, rv: Any, pv: tuple[str, Any]) -> bool:
    spec = SPECS[cond.operator]
    kind, value = pv
    if spec.compare == "like":
        return glob_match(value, rv)
    if spec.compare == "arn":
        return arn_match(value, rv)
    if kind == "pieces":
        text = "".join(t for t, _ in value)
        value = text.casefold() if spec.compare == "ieq" else text
    return compare(spec, rv, value)


def condition_holds(
    cond: Condition, request: Request, variables: bool, missing: list[str] | None = None
) -> bool:
    """One condition, read straight from the rules in ``conditions.py``'s docstring."""
    spec = SPECS[cond.operator]
    found = request.get(cond.key)
    if spec.family is Family.NULL:
        wants_absent = [convert_policy(spec, cv.value) for cv in cond.values]
        present = found is not None and len(found) > 0
        return ("true" in wants_absent and not present) or ("false" in wants_absent and present)
    if missing is None:
        missing = []
    if found is None or len(found) == 0:
        if found is None:
            missing.append(cond.key)
        if cond.qualifier is SetQualifier.FOR_ALL_VALUES or cond.if_exists:
            return True
        if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
            return False
        return spec.negated
    pvals = _policy_values(cond, request, variables, missing)

    def matches_some(raw: Any) -> bool:
        rv = convert_request(spec.family, raw)
        return rv is not None and any(_compare_one(cond, rv, pv) for pv in pvals)

    if cond.qualifier is SetQualifier.FOR_ALL_VALUES:
        return all(matches_some(v) != spec.negated for v in found)
    if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
        return any(matches_some(v) != spec.negated for v in found)
    some = any(matches_some(v) for v in found)
    return not some if spec.negated else some


def match_policy_reference(
    policy: Policy, request: Request, policy_type: PolicyType, name: str | None = None
) -> PolicyMatch:
    """Same contract as :func:`kmspolicy.authz.index.match_policy`, evaluated naively."""
    result = PolicyMatch()
    variables = policy.variables_enabled
    label = name or policy_name(policy, policy_type)
    for i, stmt in enumerate(policy.statements):
        if not stmt.actions or not action_ok(stmt, request):
            continue
        how = principals_match(
            stmt.principals,
            stmt.not_principal,
            request.caller,
            resource_based=policy_type.is_resource_based,
        )
        if how is None or not resource_ok(stmt, request, variables):
            continue
        if all(condition_holds(c, request, variables, result.missing) for c in stmt.conditions):
            hit = (statement_ref(policy, policy_type, i, label), how)
            (result.denies if stmt.effect is Effect.DENY else result.allows).append(hit)
    return result
