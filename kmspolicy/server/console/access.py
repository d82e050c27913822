"""The console's access matrix: the identities of the identities file × a key's actions.

Layer: server (adapter over reasoning and the decision point). The actions are every KMS
action on a key that applies to this key (its usage, origin and multi-Region type decide which
cryptographic, import and replication actions do). Each cell is decided with the key's
properties in the context, as the service puts them in every request on the key (``kms:KeySpec``,
``kms:KeyUsage``, ``kms:KeyOrigin``, ``kms:MultiRegion``, ``kms:ResourceAliases``,
``aws:ResourceTag/…``). With the solver installed (the ``check`` extra) a cell is
``kmspolicy who-can``'s answer — allowed, denied, or allowed only if a condition holds, with
that condition; without it, the decision point alone decides a request without other context
(a denial whose statements read context keys is marked so). who-can knows no grants: a cell
the policies do not allow but one of the key's grants does (as the decision point decides it,
with SCPs and explicit denials still in force) is marked "allowed by grant". A form simulates
one request with context and the grants, and shows the explanation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kmspolicy.authz import Grant
from kmspolicy.errors import UserError
from kmspolicy.kms.identities import Identities
from kmspolicy.optable import API_ACTIONS, SYMMETRIC, Resource

#: actions that apply only to a key of some origin or multi-Region type
_IMPORT = frozenset({"GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial"})
_PRIMARY = frozenset({"ReplicateKey", "UpdatePrimaryRegion"})


def key_actions_for(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``kms:`` actions on a key that apply to the key ``meta`` describes (DescribeKey's
    KeyMetadata): a cryptographic or grant action only for the kinds of key a grant for it may
    name (its spec for symmetric encryption keys, else its usage), import actions only for
    EXTERNAL origin, replication only for a multi-Region primary key."""
    spec, usage = meta.get("KeySpec", ""), meta.get("KeyUsage", "")
    kind = SYMMETRIC if spec == SYMMETRIC else usage
    primary = meta.get("MultiRegionConfiguration", {}).get("MultiRegionKeyType") == "PRIMARY"
    out = []
    for name, action in API_ACTIONS.items():
        if Resource.KEY not in action.resources:
            continue
        if action.grant_keys and kind not in action.grant_keys:
            continue
        if name in _IMPORT and meta.get("Origin") != "EXTERNAL":
            continue
        if name in _PRIMARY and not primary:
            continue
        out.append(action.iam)
    return tuple(sorted(out))


def key_context_of(
    meta: Mapping[str, Any], aliases: Sequence[str], tags: Mapping[str, str]
) -> dict[str, Any]:
    """The condition keys the key contributes to every request on it (``kms.context``'s
    ``key_context``, from what DescribeKey, ListAliases and ListResourceTags return)."""
    context: dict[str, Any] = {
        "kms:KeySpec": meta.get("KeySpec", ""),
        "kms:CustomerMasterKeySpec": meta.get("KeySpec", ""),
        "kms:KeyUsage": meta.get("KeyUsage", ""),
        "kms:CustomerMasterKeyUsage": meta.get("KeyUsage", ""),
        "kms:KeyOrigin": meta.get("Origin", ""),
        "kms:MultiRegion": bool(meta.get("MultiRegion", False)),
        "kms:ResourceAliases": list(aliases),
    }
    region_type = meta.get("MultiRegionConfiguration", {}).get("MultiRegionKeyType")
    if region_type:
        context["kms:MultiRegionKeyType"] = region_type
    for key, value in tags.items():
        context[f"aws:ResourceTag/{key}"] = value
    return context


def grants_of(listed: Sequence[Mapping[str, Any]]) -> list[Grant]:
    """ListGrants' entries as the decision point's grants."""
    out = []
    for g in listed:
        constraints = g.get("Constraints") or {}
        out.append(
            Grant(
                grant_id=g["GrantId"],
                key_arn=g["KeyId"],
                grantee_principal=g.get("GranteePrincipal", ""),
                operations=frozenset(g.get("Operations", [])),
                retiring_principal=g.get("RetiringPrincipal"),
                encryption_context_equals=constraints.get("EncryptionContextEquals"),
                encryption_context_subset=constraints.get("EncryptionContextSubset"),
                name=g.get("Name") or None,
                issuing_account=g.get("IssuingAccount"),
                source_arn=constraints.get("SourceArn"),
            )
        )
    return out


@dataclass(slots=True)
class MatrixCell:
    access: str  # allowed | denied | allowed-only-if | grant | unknown
    text: str
    why: str  # the deciding statements and the reason: the hover and the "why" panel


@dataclass(slots=True)
class Matrix:
    key_arn: str
    principals: list[str]
    actions: tuple[str, ...]
    cells: dict[tuple[str, str], MatrixCell]
    engine: str  # "who-can (z3)" or "decision point"
    simulated: str = ""  # the explanation of the simulated request
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What the matrix is decided over, as the signed-in principal read it through the API."""

    policy_json: str
    meta: Mapping[str, Any]
    context: Mapping[str, Any]  # key_context_of(...)
    grants: Sequence[Grant] = ()

    @property
    def arn(self) -> str:
        return str(self.meta["Arn"])


def matrix(
    facts: KeyFacts,
    directory: Identities,
    principals: list[str],
    *,
    principal: str | None = None,
    action: str | None = None,
    context_text: str = "",
) -> Matrix:
    from kmspolicy.lang import read_json

    policy = read_json(facts.policy_json, "key policy", key_policy=True)
    actions = key_actions_for(facts.meta)
    try:
        cells, engine = _who_can(policy, facts, directory, principals, actions), "who-can (z3)"
    except UserError:  # the solver is not installed: the decision point alone
        cells, engine = (
            _decide_each(policy, facts, directory, principals, actions),
            "decision point",
        )
    _mark_grants(cells, policy, facts, directory)
    result = Matrix(facts.arn, principals, actions, cells, engine)
    if principal and action:
        result.simulated = _simulate(policy, facts, directory, principal, action, context_text)
    return result


def _who_can(
    policy: Any,
    facts: KeyFacts,
    directory: Identities,
    principals: list[str],
    actions: tuple[str, ...],
) -> dict[tuple[str, str], MatrixCell]:
    from kmspolicy.reasoning.whocan import callers_from_directory, who_can

    account = facts.arn.split(":")[4]
    callers = callers_from_directory(directory, principals, account)
    answer = who_can(
        policy,
        callers,
        key_arn=facts.arn,
        actions=list(actions),
        key_context=dict(facts.context),
        timeout=5.0,
    )
    by_lower = {a.lower(): a for a in actions}
    cells = {}
    for cell in answer.cells:
        statements = "; ".join(
            f"{m.effect.value} {m.sid or f'Statement[{m.statement_index}]'} "
            f"({m.source_policy_type.value})"
            for m in cell.statements
        )
        access = cell.access.value
        text = f"if {cell.condition_text}" if access == "allowed-only-if" else access
        why = "\n".join(x for x in (statements or "no statement allows it", cell.reason) if x)
        name = by_lower.get(cell.action.lower(), cell.action)
        cells[(cell.principal, name)] = MatrixCell(access, text, why)
    return cells


def _decide_each(
    policy: Any,
    facts: KeyFacts,
    directory: Identities,
    principals: list[str],
    actions: tuple[str, ...],
) -> dict[tuple[str, str], MatrixCell]:
    cells = {}
    for principal in principals:
        for action in actions:
            decision = _decide(policy, facts, directory, principal, action, {}, grants=False)
            access = "allowed" if decision.allowed else "denied"
            text = access
            if not decision.allowed and decision.missing_context_keys:
                text = "denied without " + ", ".join(decision.missing_context_keys)
            cells[(principal, action)] = MatrixCell(access, text, decision.explain())
    return cells


def _mark_grants(
    cells: dict[tuple[str, str], MatrixCell],
    policy: Any,
    facts: KeyFacts,
    directory: Identities,
) -> None:
    """Cells the policies do not allow but a grant does, decided by the decision point with
    the grants (an explicit denial or an SCP still wins over a grant)."""
    for grant in facts.grants:
        for operation in grant.operations:
            key = (grant.grantee_principal, f"kms:{operation}")
            cell = cells.get(key)
            if cell is None or cell.access == "allowed":
                continue
            decision = _decide(policy, facts, directory, key[0], key[1], {}, grants=True)
            label = grant.name or grant.grant_id[:12]
            if decision.allowed:
                cells[key] = MatrixCell("grant", f"allowed by grant {label}", decision.explain())
            elif decision.missing_context_keys:
                needs = ", ".join(decision.missing_context_keys)
                why = f"grant {label} allows it with {needs} (its constraints)\n{cell.why}"
                cells[key] = MatrixCell("grant", f"grant {label}, if {needs}", why)


def _decide(
    policy: Any,
    facts: KeyFacts,
    directory: Identities,
    principal: str,
    action: str,
    context: Mapping[str, Any],
    *,
    grants: bool,
) -> Any:
    from kmspolicy.facade import authorize

    resolved = directory.resolve(principal)
    key_account = facts.arn.split(":")[4]
    return authorize(
        key_policy=policy,
        identity_policies=list(resolved.policies),
        permissions_boundary=resolved.permissions_boundary,
        session_policies=list(resolved.session_policies),
        scps=list(directory.account(resolved.caller.account).scps),
        rcps=list(directory.account(key_account).rcps),
        grants=list(facts.grants) if grants else [],
        principal=principal,
        action=action,
        resource=facts.arn,
        context={**facts.context, **context},
    )


def _simulate(
    policy: Any, facts: KeyFacts, directory: Identities, principal: str, action: str, text: str
) -> str:
    try:
        context = json.loads(text) if text.strip() else {}
        if not isinstance(context, dict):
            raise ValueError("the context is a JSON object of condition keys")
        decision = _decide(policy, facts, directory, principal, action, context, grants=True)
        return str(decision.explain())
    except (ValueError, UserError) as exc:
        return f"cannot simulate: {exc}"
