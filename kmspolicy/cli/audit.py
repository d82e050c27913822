"""``kmspolicy audit verify LOG [--anchor N:HASH]``: check a decision log's hash chain.

Layer: cli (adapter). Exit 0 when the chain is intact, 1 when a record was modified, removed,
inserted, reordered, torn or (with ``--anchor``) cut off, 2 when the file cannot be read. The
last line printed for an intact log is the anchor to keep elsewhere for the next check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from kmspolicy.audit import Anchor, verify

EXIT_BROKEN = 1
EXIT_UNREADABLE = 2
_ANCHOR = re.compile(r"(\d+):([0-9a-f]{64})")


def _parse_anchor(ctx: click.Context, param: click.Parameter, value: str | None) -> Anchor | None:
    if value is None:
        return None
    match = _ANCHOR.fullmatch(value)
    if match is None:
        raise click.BadParameter("expected RECORDS:HASH, e.g. 120:3fa9… (64 hex characters)")
    return Anchor(int(match[1]), match[2])


@click.group()
def command() -> None:
    """Inspect the append-only, hash-chained decision log (audit.log in the data directory)."""


@command.command("verify")
@click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--anchor",
    callback=_parse_anchor,
    metavar="RECORDS:HASH",
    help="A position printed by an earlier check; detects records cut off the end.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def verify_command(log: Path, anchor: Anchor | None, fmt: str) -> None:
    """Recompute every hash and link of LOG and report what does not match."""
    try:
        result = verify(log, anchor=anchor)
    except OSError as exc:
        click.echo(f"error: cannot read `{log}`: {exc.strerror}", err=True)
        raise SystemExit(EXIT_UNREADABLE) from None
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "records": result.records,
                    "anchor": f"{result.records}:{result.head}",
                    "problems": [
                        {"line": p.line, "kind": p.kind, "message": p.message}
                        for p in result.problems
                    ],
                },
                indent=2,
            )
        )
    else:
        for p in result.problems:
            click.echo(f"{log}:{p.line}: {p.kind}: {p.message}")
        n = len(result.problems)
        status = "intact" if result.ok else f"BROKEN ({n} problem{'' if n == 1 else 's'})"
        click.echo(f"{result.records} records, chain {status}")
        click.echo(f"anchor: {result.records}:{result.head}")
    if not result.ok:
        raise SystemExit(EXIT_BROKEN)
