"""``kmspolicy simulate``: dry-run a request against key, identity, SCP/RCP, boundary and session
policies and grants, offline, and explain the decision.

Layer: cli (adapter). The command line is a contract (issue 3); the rules live in kmspolicy.authz.
Exit status: 0 ran (and ``--expect`` held), 1 ``--expect`` did not hold, 2 usage or policy errors.
Several ``--principal`` and ``--action`` flags give a matrix: one decision per pair.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from kmspolicy.authz import (
    Caller,
    Decision,
    DecisionKind,
    Expectation,
    KmsPolicies,
    Request,
    authorize_iam,
    authorize_kms,
    evaluate_policies,
    is_key_arn,
)
from kmspolicy.authz.lint.catalog import KMS_ACTIONS, kms_actions_matching
from kmspolicy.cli._color import color_option, use_color
from kmspolicy.cli._simulate_checks import check_request
from kmspolicy.cli._simulate_inputs import load_grants, load_organization, parse_context
from kmspolicy.cli._simulate_notes import empty_variable_notes
from kmspolicy.cli._table import render_table
from kmspolicy.errors import ConfigError, UserError
from kmspolicy.lang import Policy, load_policies
from kmspolicy.lang.diagnostics import suggestion

#: the key ARN simulated when --key-policy is given without --resource
DEFAULT_KEY_ID = "00000000-0000-0000-0000-000000000000"


def _load(paths: tuple[str, ...] | list[str], *, key_policy: bool = False) -> list[Policy]:
    out: list[Policy] = []
    for path in paths:
        try:
            out.extend(load_policies(path, key_policy=key_policy))
        except OSError as exc:
            raise ConfigError(f"cannot read policy file `{path}`: {exc.strerror or exc}") from exc
    return out


def _one(path: str | None, what: str, *, key_policy: bool = False) -> Policy | None:
    if path is None:
        return None
    policies = _load([path], key_policy=key_policy)
    if len(policies) != 1:
        raise ConfigError(f"{what} `{path}` must hold exactly one policy (found {len(policies)})")
    return policies[0]


def _deciding(decision: Decision) -> str:
    if decision.matched_statements:
        return ", ".join(
            f"{m.label()} ({m.source_policy_type.value} {m.location()})"
            for m in decision.matched_statements
        )
    if decision.nearest_miss is not None:
        return "nearest miss: " + decision.nearest_miss.describe()
    return "-"


def _print_text(
    decisions: list[Decision], color: str, rules: list[str], notes: list[list[str]]
) -> None:
    import shutil
    import sys

    several = len({d.principal for d in decisions}) > 1  # a matrix: say whose row it is
    columns = ["Action", "Resource", "Decision", "Deciding statements", "Missing context keys"]
    style: dict[DecisionKind, dict[str, Any]] = {
        DecisionKind.ALLOWED: {"fg": "green", "bold": True},
        DecisionKind.EXPLICIT_DENY: {"fg": "red", "bold": True},
        DecisionKind.IMPLICIT_DENY: {"fg": "yellow"},
    }
    decision_column = columns.index("Decision") + several
    rows = [
        [
            *([d.principal] if several else []),
            d.action,
            d.resource,
            d.kind.value,
            _deciding(d),
            ", ".join(d.missing_context_keys) or "-",
        ]
        for d in decisions
    ]
    table = render_table(
        "kmspolicy simulate",
        (["Principal"] if several else []) + columns,
        rows,
        # piped, the table is as wide as its content: an ARN is never folded or cut
        width=shutil.get_terminal_size().columns if sys.stdout.isatty() else None,
        styles={(i, decision_column): style[d.kind] for i, d in enumerate(decisions)},
        color=use_color(color),
    )
    click.echo(table, color=use_color(color))
    for d, applied, lines in zip(decisions, rules, notes, strict=True):
        who = f"{d.principal} " if several else ""
        click.echo(f"{who}{d.action}: {d.reason}")
        click.echo(f"  rules: {applied}")
        for line in lines:
            click.echo(line)
        if d.nearest_miss is not None and d.matched_statements:
            click.echo(f"  nearest miss: {d.nearest_miss.describe()}")


@click.command(name="simulate")
@click.option("--key-policy", "key_policy", metavar="FILE", help="The key policy (KMS rules).")
@click.option(
    "--identity-policy",
    "identity_policies",
    metavar="FILE",
    multiple=True,
    help="The caller's IAM policies.",
)
@click.option(
    "--scp", "scps", metavar="FILE", multiple=True, help="SCPs; repeated flags form one level."
)
@click.option(
    "--rcp", "rcps", metavar="FILE", multiple=True, help="RCPs; repeated flags form one level."
)
@click.option(
    "--organization", metavar="FILE", help='JSON {"scps": [[…], …], "rcps": [[…], …]}, root first.'
)
@click.option("--permissions-boundary", "boundary", metavar="FILE", help="The caller's boundary.")
@click.option(
    "--session-policy", "session_policies", metavar="FILE", multiple=True, help="Session policies."
)
@click.option(
    "--resource-policy",
    "resource_policy",
    metavar="FILE",
    help="A resource policy (IAM's general rules).",
)
@click.option(
    "--grants", "grants_file", metavar="FILE", help="JSON list of CreateGrant-shaped grants."
)
@click.option(
    "--policy",
    "plain_policies",
    metavar="FILE",
    multiple=True,
    help="Plain policies, no KMS rules.",
)
@click.option(
    "--principal",
    "principals",
    required=True,
    multiple=True,
    metavar="ARN",
    help="The caller (user/role/session ARN, account id); repeat for a principal × action matrix.",
)
@click.option(
    "--action",
    "actions",
    required=True,
    multiple=True,
    metavar="ACTION",
    help="One result per action.",
)
@click.option(
    "--resource",
    metavar="ARN",
    help="Resource (default: a key of the (first) caller's account with --key-policy/--grants, "
    "else *).",
)
@click.option(
    "--resource-account",
    metavar="ID",
    help="The account that owns the resource (AWS's ResourceOwner), for ARNs without one "
    "(S3 buckets): cross-account rules then apply to callers of other accounts.",
)
@click.option(
    "--context",
    "context_pairs",
    metavar="KEY=VALUE",
    multiple=True,
    help="A context key; repeat a key for several values, or give a JSON list.",
)
@click.option("--context-file", metavar="FILE", help="JSON object of context keys.")
@click.option(
    "--at", "at", metavar="ISO8601", help="Time of the request (aws:CurrentTime); default now."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "aws-json"]),
    default="text",
    show_default=True,
    help="aws-json: shaped like `aws iam simulate-custom-policy` output.",
)
@click.option(
    "--expect",
    type=click.Choice([e.value for e in Expectation]),
    help="Exit 1 unless every result is this (denied: either kind of deny).",
)
@color_option
@click.pass_context
def command(ctx: click.Context, /, **opts: Any) -> None:
    """Decide a request offline and explain why (an IAM policy simulator specialised for KMS)."""
    try:
        ruled = _simulate_with_rules(opts)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    decisions = [d for d, _, _ in ruled]
    if opts["fmt"] == "json":
        # each result as the text output tells it: the rules that applied and the notes
        results = [
            {**d.to_dict(), "rules": applied, "notes": [line.strip() for line in notes]}
            for d, applied, notes in ruled
        ]
        click.echo(json.dumps({"results": results}, indent=2))
    elif opts["fmt"] == "aws-json":
        from kmspolicy.cli._aws_json import simulate_response

        principals = list(dict.fromkeys(opts["principals"]))
        if len(principals) == 1:
            document: Any = simulate_response(decisions)
        else:  # IAM simulates one caller per call: one response per principal
            n = len(opts["actions"])  # decisions are principal-major
            document = [
                {"CallerArn": p, **simulate_response(decisions[i * n : (i + 1) * n])}
                for i, p in enumerate(principals)
            ]
        click.echo(json.dumps(document, indent=2))
    else:
        _print_text(decisions, opts["color"], [r for _, r, _ in ruled], [n for _, _, n in ruled])
    expect = opts["expect"]
    held = expect is None or all(Expectation(expect).holds_for(d) for d in decisions)
    ctx.exit(0 if held else 1)


def _rules(kind: str, caller: Caller, account: str | None) -> str:
    """Which rules decided: the evaluation logic and the account relation it applied."""
    if kind == "plain":
        return "plain policies (no account, KMS or resource-policy rules)"
    if caller.account is None:
        where = "a caller without an account (service principal or anonymous)"
    elif account is None:
        where = "same-account (the resource names no account; give --resource-account)"
    elif account == caller.account:
        where = "same-account"
    else:
        where = f"cross-account (caller {caller.account}, resource {account})"
    return f"{kind}, {where}"


def _simulate_with_rules(opts: dict[str, Any]) -> list[tuple[Decision, str, list[str]]]:
    """Each decision with the rules that applied and its notes (``_simulate_notes``)."""
    if opts["plain_policies"] and (opts["key_policy"] or opts["resource_policy"]):
        raise ConfigError(
            "--policy (plain policies) cannot be combined with --key-policy/--resource-policy"
        )
    if opts["key_policy"] and opts["resource_policy"]:
        raise ConfigError(
            "give --key-policy (KMS rules) or --resource-policy (IAM rules), not both"
        )
    principals = list(dict.fromkeys(opts["principals"]))
    callers = [Caller.from_arn(p) for p in principals]
    caller = callers[0]
    when = datetime.now(UTC)
    if opts["at"] is not None:
        try:
            when = datetime.fromisoformat(opts["at"])
        except ValueError as exc:
            raise ConfigError(f"--at `{opts['at']}`: expected an ISO 8601 time") from exc
    context = parse_context(opts["context_pairs"], opts["context_file"])
    resource = opts["resource"]
    owner = opts["resource_account"]
    if owner is not None and not (owner.isdigit() and len(owner) == 12):
        raise ConfigError(f"--resource-account `{owner}`: expected a 12-digit account id")
    if resource is None:
        if opts["key_policy"] or opts["grants_file"]:
            account = caller.account or "111122223333"
            resource = f"arn:{caller.partition}:kms:us-east-1:{account}:key/{DEFAULT_KEY_ID}"
        else:
            resource = "*"

    plain = _load(opts["plain_policies"])
    identity = _load(opts["identity_policies"])
    key_policy = _one(opts["key_policy"], "--key-policy", key_policy=True)
    resource_policy = _one(opts["resource_policy"], "--resource-policy")
    boundary = _one(opts["boundary"], "--permissions-boundary")
    sessions = _load(opts["session_policies"])
    scp_levels: list[list[Policy]] = []
    rcp_levels: list[list[Policy]] = []
    if opts["organization"]:
        scp_levels, rcp_levels = load_organization(opts["organization"])
    if opts["scps"]:
        scp_levels.append(_load(opts["scps"]))
    if opts["rcps"]:
        rcp_levels.append(_load(opts["rcps"]))
    grants = load_grants(opts["grants_file"], resource) if opts["grants_file"] else []

    for action in opts["actions"]:
        _warn_if_unknown(action)
    decisions = []
    for caller, action in ((c, a) for c in callers for a in opts["actions"]):
        check_request(caller, action, resource, context)
        request = Request(caller, action, resource, context, when)
        if owner is not None and request.resource_account not in (None, owner):
            raise ConfigError(
                f"--resource-account {owner} contradicts the account of --resource {resource}"
            )
        owning = owner or request.resource_account
        if plain:
            decisions.append((evaluate_policies(request, plain), _rules("plain", caller, None)))
        elif key_policy is not None or (not resource_policy and action.lower().startswith("kms:")):
            policies = KmsPolicies(
                key_policy, identity, grants, scp_levels, rcp_levels, boundary, sessions
            )
            kind = (
                "KMS key-policy rules"
                if is_key_arn(resource)
                else "KMS rules for aliases and account-level actions (IAM policies alone)"
            )
            decisions.append((authorize_kms(request, policies), _rules(kind, caller, owning)))
        else:
            decision = authorize_iam(
                request,
                identity,
                resource_policy,
                scps=scp_levels,
                rcps=rcp_levels,
                permissions_boundary=boundary,
                session_policies=sessions,
                resource_account=owner,
            )
            decisions.append((decision, _rules("IAM general rules", caller, owning)))
    consulted = [
        *plain,
        *identity,
        *(p for p in (key_policy, resource_policy, boundary) if p is not None),
        *sessions,
        *(p for level in scp_levels + rcp_levels for p in level),
    ]
    return [(d, r, empty_variable_notes(d, consulted)) for d, r in decisions]


def _warn_if_unknown(action: str) -> None:
    """A ``kms:`` action that names no KMS action is decided (implicit deny, most likely) but
    almost certainly a typo: say so on stderr, with the closest action."""
    if not action.lower().startswith("kms:") or "*" in action or "?" in action:
        return
    if kms_actions_matching(action):
        return
    hint = suggestion(action, (f"kms:{a}" for a in KMS_ACTIONS))
    click.echo(f"warning: `{action}` is not a KMS action" + (f"; {hint}" if hint else ""), err=True)
