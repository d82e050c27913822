"""``kmspolicy who-can``: which identities may perform which KMS actions on a key, and when.

Layer: cli (adapter over ``kmspolicy.reasoning.whocan`` and the server's identities file). The
callers' sides are resolved exactly as ``kmspolicy serve`` resolves them (``to_directory``);
the matrix is printed as a table, JSON, or one self-contained HTML page. docs/check.md.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import click

from kmspolicy.authz import Caller
from kmspolicy.authz.lint.facts import certain_owner_account
from kmspolicy.cli import EXIT_USAGE
from kmspolicy.cli._color import color_option, use_color
from kmspolicy.cli._table import render_table
from kmspolicy.errors import ConfigError, InvalidArnException, UserError
from kmspolicy.lang import load_policies

if TYPE_CHECKING:
    from kmspolicy.reasoning.whocan import Cell, WhoCanResult

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command(name="who-can")
@click.argument("key_policy", type=_FILE)
@click.option(
    "--identities",
    required=True,
    type=_FILE,
    help="The server's identities file (docs/identities.md): its identities are the rows.",
)
@click.option(
    "--principal",
    "principals",
    multiple=True,
    metavar="ARN",
    help="Only these principals (repeat); an ARN not in the file has no identity policies, "
    "as for the server. Default: every identity of the file.",
)
@click.option(
    "--action",
    "actions",
    multiple=True,
    metavar="ACTION",
    help="Only these KMS actions (repeat). Default: every action on a key.",
)
@click.option(
    "--key-arn",
    metavar="ARN",
    help="The key (default: a key in --account, else the account the policy makes certain, "
    "else the file's account; in the file's region).",
)
@click.option("--account", metavar="ACCOUNT_ID", help="The account that owns the key.")
@click.option(
    "--key-context",
    "key_context",
    multiple=True,
    metavar="KEY=VALUE",
    help="A property of the key, as KMS puts it in every request (kms:KeySpec=SYMMETRIC_DEFAULT, "
    "aws:ResourceTag/team=blue, kms:ResourceAliases=alias/app; repeat a key for several "
    "values). With any of them, the key properties not given are absent; without, all are "
    "free context.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Solver time limit per question (a cell that runs out is `unknown`).",
)
@color_option
def command(
    key_policy: Path,
    identities: Path,
    principals: tuple[str, ...],
    actions: tuple[str, ...],
    key_arn: str | None,
    account: str | None,
    key_context: tuple[str, ...],
    fmt: str,
    timeout: float,
    color: str,
) -> None:
    """For KEY_POLICY and the identities of --identities: which KMS actions each identity may
    perform on the key — allowed, denied, or allowed only if a condition on the request holds
    (the weakest such condition, found by the solver). Every cell is replayed through the
    evaluator. Exit 0; 2 for bad input; 3 when a cell is unknown. See docs/check.md."""
    try:
        result = _matrix(
            key_policy,
            identities,
            principals,
            actions,
            key_arn,
            account,
            _key_context(key_context),
            timeout,
        )
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif fmt == "html":
        click.echo(render_html(result), nl=False)
    else:
        _print_text(result, color)
    if any(c.access.value == "unknown" for c in result.cells):
        sys.exit(3)


def _matrix(
    key_policy: Path,
    identities: Path,
    principals: tuple[str, ...],
    actions: tuple[str, ...],
    key_arn: str | None,
    account: str | None,
    key_context: dict[str, Any] | None,
    timeout: float,
) -> WhoCanResult:
    # without z3 this raises MissingSolver, a UserError that says what to install
    from kmspolicy.reasoning.whocan import callers_from_directory, example_key_arn, who_can
    from kmspolicy.server.identities import load_identities, to_directory

    try:
        policies = load_policies(key_policy, key_policy=True)
    except OSError as exc:
        raise ConfigError(f"cannot read `{key_policy}`: {exc.strerror or exc}") from exc
    if len(policies) != 1:
        raise ConfigError(f"`{key_policy}` must hold exactly one key policy")
    policy = policies[0]
    config = load_identities(identities)
    if account is not None and not (len(account) == 12 and account.isdigit()):
        raise UserError(f"--account: `{account}` is not a 12-digit AWS account id")
    if key_arn is None:
        owner = certain_owner_account(policy)
        chosen = account or (owner[0] if owner is not None else None) or config.account
        key_arn = example_key_arn(chosen, config.region)
    arns = list(principals) or [spec.arn for spec in config.identities]
    for arn in arns:
        try:
            Caller.from_arn(arn)
        except InvalidArnException as exc:
            raise UserError(f"--principal: {exc}") from None
    directory = to_directory(config)
    callers = callers_from_directory(directory, arns, key_arn.split(":")[4])
    try:
        return who_can(
            policy,
            callers,
            key_arn=key_arn,
            actions=list(actions) or None,
            key_context=key_context,
            timeout=timeout,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _key_context(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs; a key given twice, or a multi-valued one, holds a list."""
    from kmspolicy.authz.lint.catalog import MULTI_VALUED

    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--key-context: `{pair}` is not KEY=VALUE")
        if key in out or key.lower() in MULTI_VALUED:
            previous = out.get(key, [])
            out[key] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            out[key] = value
    return out


_TEXT_STYLE: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "allowed": {"fg": "green", "bold": True},
        "denied": {"fg": "red"},
        "allowed-only-if": {"fg": "yellow"},
        "unknown": {"fg": "magenta", "bold": True},
    }
)


def _cell_text(cell: Cell) -> str:
    if cell.access.value == "allowed-only-if":
        return f"if {cell.condition_text}"
    return cell.access.value


def _print_text(result: WhoCanResult, color: str) -> None:
    import shutil

    by_cell = {(c.principal, c.action): c for c in result.cells}
    rows: list[list[str]] = []
    styles: dict[tuple[int, int], Mapping[str, Any]] = {}
    for r, action in enumerate(result.actions):
        row = [action]
        for col, principal in enumerate(result.principals, start=1):
            cell = by_cell[(principal, action)]
            styles[(r, col)] = _TEXT_STYLE[cell.access.value]
            row.append(_cell_text(cell))
        rows.append(row)
    colored = use_color(color)
    table = render_table(
        f"who can use {result.key_arn}",
        ["Action", *result.principals],
        rows,
        # piped, as wide as its content: an ARN is never folded
        width=shutil.get_terminal_size().columns if sys.stdout.isatty() else None,
        styles=styles,
        color=colored,
        row_lines=False,
    )
    click.echo(table, color=colored)
    for note in result.notes:
        click.echo(f"note: {note}")
    for cell in result.cells:
        if cell.access.value == "unknown":
            click.echo(f"unknown: {cell.principal} {cell.action}: {cell.reason}")


# --- the HTML page: one file, no script, no external asset ---

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}
h1{font-size:1.2rem}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#f4f4f4}
td.allowed{background:#d7f5dd}td.denied{background:#f9d6d5}
td.allowed-only-if{background:#fff2c2}td.unknown{background:#e8d5f5}
td[title]{cursor:help}.legend span{display:inline-block;padding:.1rem .5rem;margin-right:.5rem}
"""


def _statements_text(cell: Cell) -> str:
    lines = []
    for m in cell.statements:
        where = f"{m.source}:{m.line}" if m.line else (m.source or m.source_policy_id)
        label = m.sid or f"Statement[{m.statement_index}]"
        lines.append(f"{m.effect.value} {label} ({m.source_policy_type.value}, {where})")
    return "\n".join(lines) or "no statement allows it"


def _hover(cell: Cell) -> str:
    parts = [f"{cell.principal} · {cell.action}: {cell.access.value}"]
    if cell.access.value == "allowed-only-if":
        parts.append(f"when: {cell.condition_text}")
    parts.append("deciding statements:\n" + _statements_text(cell))
    if cell.reason:
        parts.append(cell.reason)
    return "\n".join(parts)


def render_html(result: WhoCanResult) -> str:
    """The matrix as one self-contained HTML page (inline CSS; no script, no network)."""
    e = html.escape
    by_cell = {(c.principal, c.action): c for c in result.cells}
    head = "".join(f'<th scope="col">{e(p)}</th>' for p in result.principals)
    rows = []
    for action in result.actions:
        cells = []
        for principal in result.principals:
            cell = by_cell[(principal, action)]
            text = "if " + cell.condition_text if cell.when else cell.access.value
            cells.append(
                f'<td class="{cell.access.value}" title="{e(_hover(cell))}">{e(text)}</td>'
            )
        rows.append(f'<tr><th scope="row">{e(action)}</th>{"".join(cells)}</tr>')
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    legend = "".join(
        f'<span class="{k}" style="background:{v}">{k}</span>'
        for k, v in (
            ("allowed", "#d7f5dd"),
            ("denied", "#f9d6d5"),
            ("allowed-only-if", "#fff2c2"),
            ("unknown", "#e8d5f5"),
        )
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>who can use {e(result.key_arn)}</title>"
        f"<style>{_CSS}</style></head><body><main>"
        f"<h1>Who can use <code>{e(result.key_arn)}</code></h1>"
        f'<p class="legend">{legend} — hover a cell for the deciding statements.</p>'
        f'<table><thead><tr><th scope="col">Action</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<ul>{notes}</ul></main></body></html>\n"
    )
