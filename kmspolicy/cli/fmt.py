"""``kmspolicy fmt [--check] FILES``: rewrite policy files in the canonical layout.

Layer: cli (adapter). DSL files get the canonical DSL layout (comments kept), JSON documents the
canonical AWS JSON. Exit 0 when done or already formatted, 1 when ``--check`` finds a file that
would change, 2 when a file does not parse (the diagnostics go to stderr, never a traceback).
"""

from __future__ import annotations

from pathlib import Path

import click

from kmspolicy.cli._files import write_text_atomically
from kmspolicy.errors import UserError
from kmspolicy.lang import PolicySyntaxError, format_dsl, parse_dsl, read_json, write_json
from kmspolicy.lang.awsjson import decode_text
from kmspolicy.lang.loader import is_json

EXIT_WOULD_CHANGE = 1
EXIT_BAD_INPUT = 2


def formatted(text: str, source: str) -> str:
    """The canonical form of a policy file's text (raises PolicySyntaxError)."""
    if is_json(text):
        return write_json(read_json(text, source)) + "\n"
    policies = parse_dsl(text, source)
    if not policies:  # blank or comment-only: nothing to lay out, never drop the comments
        return text
    return format_dsl(policies)


@click.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def command(check: bool, files: tuple[Path, ...]) -> None:
    """Format .kmsp (DSL) and .json policy FILES in place, canonically."""
    changed: list[Path] = []
    failed = False
    for path in files:
        try:
            raw = path.read_bytes()
            text = decode_text(raw, str(path))
            new = formatted(text, str(path))
        except PolicySyntaxError as exc:
            click.echo(exc.render(), err=True)
            failed = True
            continue
        if new.encode("utf-8") == raw:
            continue
        changed.append(path)
        if check:
            click.echo(f"would reformat {path}")
        else:
            try:
                write_text_atomically(path, new)
            except UserError as exc:
                click.echo(f"error: {exc}", err=True)
                failed = True
                continue
            click.echo(f"reformatted {path}")
    if failed:
        raise SystemExit(EXIT_BAD_INPUT)
    if check and changed:
        raise SystemExit(EXIT_WOULD_CHANGE)
