"""``kmspolicy fmt [--check|--diff] PATHS``: rewrite policy files in the canonical layout.

Layer: cli (adapter). DSL files get the canonical DSL layout (comments kept), JSON documents the
canonical AWS JSON. PATHS are files, directories (walked for ``*.kmsp`` and ``*.json``, minus
``--exclude`` and ``.kmspolicyignore``) or ``-``: standard input, formatted to standard output.
Exit 0 when done or already formatted, 1 when ``--check``/``--diff`` finds a file that would
change, 2 when a file does not parse (the diagnostics go to stderr, never a traceback).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from kmspolicy.cli._files import write_text_atomically
from kmspolicy.cli._paths import STDIN, expand
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


def unified_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@click.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option(
    "--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff, exit 1."
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out matching files and directories when walking a directory (repeatable; "
    "also read from .kmspolicyignore).",
)
@click.option("--stdin-filename", default=None, metavar="NAME", help="The name to report for `-`.")
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, allow_dash=True, path_type=Path),
)
def command(
    check: bool,
    show_diff: bool,
    exclude: tuple[str, ...],
    stdin_filename: str | None,
    paths: tuple[Path, ...],
) -> None:
    """Format .kmsp (DSL) and .json policy PATHS in place, canonically (`-`: stdin to stdout)."""
    changed: list[str] = []
    failed = False
    for path in expand(paths, exclude):
        name = (stdin_filename or "<stdin>") if path == STDIN else str(path)
        try:
            raw = sys.stdin.buffer.read() if path == STDIN else path.read_bytes()
            text = decode_text(raw, name)
            new = formatted(text, name)
        except PolicySyntaxError as exc:
            click.echo(exc.render(), err=True)
            failed = True
            continue
        same = new.encode("utf-8") == raw
        if path == STDIN and not (check or show_diff):
            click.echo(new, nl=False)
            continue
        if same:
            continue
        changed.append(name)
        if show_diff:
            click.echo(unified_diff(text, new, name), nl=False)
        elif check:
            click.echo(f"would reformat {name}")
        else:
            try:
                write_text_atomically(path, new)
            except UserError as exc:
                click.echo(f"error: {exc}", err=True)
                failed = True
                continue
            click.echo(f"reformatted {name}")
    if failed:
        raise SystemExit(EXIT_BAD_INPUT)
    if (check or show_diff) and changed:
        raise SystemExit(EXIT_WOULD_CHANGE)
