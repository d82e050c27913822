"""``kmspolicy convert --to json|dsl FILE``: translate a policy between the DSL and AWS JSON.

Layer: cli (adapter). Reads either face (detected by content) from FILE or, for ``-``, standard
input, and prints the other on stdout (or to ``--output``). A DSL file holding several
policies needs ``--policy`` (an Id or a 1-based index) when converting to JSON, which holds one
document. Bad input exits 2 with diagnostics.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kmspolicy.cli._files import write_text_atomically
from kmspolicy.errors import UserError
from kmspolicy.lang import Policy, PolicySyntaxError, format_dsl, read_policies, write_json

EXIT_BAD_INPUT = 2


def _select(policies: list[Policy], wanted: str | None, path: Path) -> Policy:
    if not policies:
        raise UserError(f"{path} holds no policy (it is empty or only comments)")
    if wanted is None:
        if len(policies) != 1:
            raise click.UsageError(
                f"{path} holds {len(policies)} policies; choose one with "
                "--policy ID (or a 1-based index)"
            )
        return policies[0]
    for policy in policies:
        if policy.id == wanted:
            return policy
    if wanted.isdigit() and 1 <= int(wanted) <= len(policies):
        return policies[int(wanted) - 1]
    raise click.UsageError(f"{path} has no policy `{wanted}`")


@click.command()
@click.option(
    "--to", "target", type=click.Choice(["json", "dsl"]), required=True, help="The face to write."
)
@click.option(
    "--policy",
    "wanted",
    metavar="ID",
    help="For --to json: which policy of a multi-policy file (Id or 1-based index).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
def command(target: str, wanted: str | None, output: Path | None, file: Path) -> None:
    """Convert a policy FILE (.kmsp DSL or AWS .json; `-`: stdin) to JSON or DSL."""
    stdin = file == Path("-")
    try:
        raw = sys.stdin.buffer.read() if stdin else file.read_bytes()
        policies = read_policies(raw, "<stdin>" if stdin else str(file))
    except PolicySyntaxError as exc:
        click.echo(exc.render(), err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    if target == "json":
        text = write_json(_select(policies, wanted, file)) + "\n"
    else:
        pick = wanted is not None or not policies
        chosen = [_select(policies, wanted, file)] if pick else policies
        text = format_dsl(chosen)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomically(output, text)
