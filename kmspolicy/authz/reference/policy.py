"""The reference evaluator's policy matching: every statement, read straight from the rules.

Layer: authz (pure). No index, no compiled statements and none of the fast path's operators,
principal sets or variable templates: its own glob (``glob.py``), its own operator reading
(``values.py``), its own variable substitution and principal matching below. Rules (IAM User
Guide): a statement applies when its action, principal, resource and every condition match;
values of one key are OR'ed (NOR'ed for negated operators); a missing key makes positive
operators false and negated ones true; ``IfExists`` makes a missing key true; ``ForAllValues``
is true for a missing or empty set, ``ForAnyValue`` false; ``Null: true`` means "absent".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kmspolicy.authz.context import PrincipalType
from kmspolicy.authz.index import PolicyMatch
from kmspolicy.authz.principals import PrincipalMatch
from kmspolicy.authz.reference.glob import Piece, arn_match, glob_match
from kmspolicy.authz.reference.values import as_bool, holds, read_operator
from kmspolicy.authz.statements import policy_name, statement_ref
from kmspolicy.lang.ast import Condition, Effect, PrincipalKind, SetQualifier

if TYPE_CHECKING:
    from kmspolicy.authz.context import Caller, Request
    from kmspolicy.authz.decision import PolicyType
    from kmspolicy.lang.ast import Policy, Principal, Statement

# --- policy variables: ${key}, ${key, 'default'}, and the escapes ${*} ${?} ${$} ---

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_REFERENCE = re.compile(r"\s*([A-Za-z0-9:/_.\-]+)\s*(?:,\s*'([^']*)'\s*)?")


def _one_value(request: Request, key: str) -> str | None:
    """A variable's value: the key must hold exactly one value."""
    values = request.get(key)
    if values is None or len(values) != 1:
        return None
    value = values[0]
    if value is True or value is False:
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def substitute(text: str, request: Request) -> tuple[tuple[Piece, ...] | None, list[str]]:
    """``text`` with its variables replaced, as pieces (substituted text is literal: a ``*`` in
    a user name is no wildcard). When a variable has neither a value nor a default the pieces
    are None, and the keys the request lacks are returned (they are reported as missing)."""
    pieces: list[Piece] = []
    absent: list[str] = []
    failed = False
    pos = 0
    for m in _VARIABLE.finditer(text):
        inner = m.group(1)
        if inner in ("*", "?", "$"):
            value: str | None = inner
        else:
            ref = _REFERENCE.fullmatch(inner)
            if ref is None:
                continue  # not a variable: the text stays as written (wildcards active)
            value = _one_value(request, ref.group(1))
            if request.get(ref.group(1)) is None:
                absent.append(ref.group(1))
            if value is None:
                value = ref.group(2)
        pieces.append((text[pos : m.start()], False))
        if value is None:
            failed = True
        else:
            pieces.append((value, True))
        pos = m.end()
    pieces.append((text[pos:], False))
    if failed:
        return None, absent
    return tuple(p for p in pieces if p[0]), []


def _has_variables(text: str) -> bool:
    return any(
        m.group(1) in ("*", "?", "$") or _REFERENCE.fullmatch(m.group(1)) is not None
        for m in _VARIABLE.finditer(text)
    )


# --- the statement's parts ---


def action_ok(stmt: Statement, request: Request) -> bool:
    hit = any(glob_match(a.name, request.action, fold=True) for a in stmt.actions)
    return hit != stmt.not_action


def resource_ok(stmt: Statement, request: Request, variables: bool) -> bool:
    if stmt.resources is None:
        return False
    hit = False
    for r in stmt.resources:
        if variables and _has_variables(r.arn):
            pieces, _ = substitute(r.arn, request)
        else:
            pieces = ((r.arn, False),)
        if pieces is not None and arn_match(pieces, request.resource):
            hit = True
    return hit != stmt.not_resource


def _aws_value(principal: Principal) -> str:
    """An AWS principal value, a bare 12-digit account id meaning the account's root user."""
    value = principal.value
    if len(value) == 12 and value.isascii() and value.isdigit():
        return f"arn:aws:iam::{value}:root"
    return value


def _role(arn: str) -> tuple[str, str, str] | None:
    """(partition, account, role name without path) of an IAM role ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "iam":
        return None
    resource = ":".join(parts[5:])
    if not resource.startswith("role/"):
        return None
    return parts[1], parts[4], resource.rsplit("/", 1)[-1]


def _how_one(principal: Principal, caller: Caller) -> PrincipalMatch | None:
    if principal.kind is PrincipalKind.ANY or principal.value == "*":
        return PrincipalMatch.ANYONE
    if principal.kind is not PrincipalKind.AWS:
        return PrincipalMatch.CALLER if principal.value == caller.arn else None
    value = _aws_value(principal)
    if value == caller.arn:
        # a role used directly as the caller is still a role: a boundary limits it
        return PrincipalMatch.ROLE if caller.type is PrincipalType.ROLE else PrincipalMatch.CALLER
    role = _role(value)
    if (
        role is not None
        and caller.type in (PrincipalType.ASSUMED_ROLE, PrincipalType.ROLE)
        and role == (caller.partition, caller.account, caller.name)
    ):
        return PrincipalMatch.ROLE
    if caller.account is not None and value == f"arn:{caller.partition}:iam::{caller.account}:root":
        return PrincipalMatch.ACCOUNT
    return None


_PREFERENCE = (
    PrincipalMatch.CALLER,
    PrincipalMatch.ANYONE,
    PrincipalMatch.ROLE,
    PrincipalMatch.ACCOUNT,
)


def principal_ok(stmt: Statement, caller: Caller, *, resource_based: bool) -> PrincipalMatch | None:
    """How the statement's Principal/NotPrincipal names the caller (the most specific way
    when several values do), or None when it does not apply to the caller."""
    if stmt.principals is None:
        return None if resource_based else PrincipalMatch.IDENTITY
    if stmt.not_principal:
        # AWS: NotPrincipal excludes the caller only when it lists every identity of it
        for identity in caller.identities:
            listed = False
            for p in stmt.principals:
                if p.kind is PrincipalKind.ANY or p.value == "*":
                    listed = True
                    continue
                value = _aws_value(p) if p.kind is PrincipalKind.AWS else p.value
                role = _role(value)
                if value == identity or (role is not None and role == _role(identity)):
                    listed = True
            if not listed:
                return PrincipalMatch.ANYONE
        return None
    found = {_how_one(p, caller) for p in stmt.principals}
    return next((how for how in _PREFERENCE if how in found), None)


def _bounded_not_principal_deny(stmt: Statement, request: Request) -> bool:
    """IAM: Deny with NotPrincipal always denies a user or role (or its session) that has a
    permissions boundary attached, whatever NotPrincipal lists."""
    return (
        stmt.effect is Effect.DENY
        and stmt.not_principal
        and request.boundary_attached
        and request.caller.type
        in (PrincipalType.USER, PrincipalType.ROLE, PrincipalType.ASSUMED_ROLE)
    )


def condition_holds(
    cond: Condition, request: Request, variables: bool, missing: list[str] | None = None
) -> bool:
    """One condition, read straight from the rules in the module docstring."""
    if missing is None:
        missing = []
    reading = read_operator(cond.operator)
    found = request.get(cond.key)
    present = found is not None and len(found) > 0
    if reading.family == "Null":
        wants = [as_bool(cv.value) for cv in cond.values]
        return any(w is not None and w != present for w in wants)
    if not present:
        if found is None:
            missing.append(cond.key)
        if cond.qualifier is SetQualifier.FOR_ALL_VALUES or cond.if_exists:
            return True
        if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
            return False
        return reading.negated
    assert found is not None
    wanted: list[Any] = []
    for cv in cond.values:
        if (
            variables
            and reading.substitutes
            and isinstance(cv.value, str)
            and _has_variables(cv.value)
        ):
            pieces, unresolved = substitute(cv.value, request)
            missing.extend(unresolved)
            if pieces is not None:
                wanted.append(pieces)
        else:
            wanted.append(cv.value)

    def matches(value: Any) -> bool:
        return any(holds(reading, value, w) for w in wanted)

    if cond.qualifier is SetQualifier.FOR_ALL_VALUES:
        return all(matches(v) != reading.negated for v in found)
    if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
        return any(matches(v) != reading.negated for v in found)
    some = any(matches(v) for v in found)
    return not some if reading.negated else some


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
        resource_based = policy_type.is_resource_based
        if resource_based and _bounded_not_principal_deny(stmt, request):
            how: PrincipalMatch | None = PrincipalMatch.ANYONE
        else:
            how = principal_ok(stmt, request.caller, resource_based=resource_based)
        if how is None or not resource_ok(stmt, request, variables):
            continue
        if all(condition_holds(c, request, variables, result.missing) for c in stmt.conditions):
            hit = (statement_ref(policy, policy_type, i, label), how)
            (result.denies if stmt.effect is Effect.DENY else result.allows).append(hit)
    return result
