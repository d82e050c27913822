"""``kmspolicy audit verify LOG [--anchor N:HASH] [--data-dir DIR]``: check a decision log.

Layer: cli (adapter). Exit 0 when the chain is intact, 1 when a record was modified, removed,
inserted, reordered, torn, (with ``--anchor``) cut off or (with ``--data-dir``: the audit key,
unsealed with the root key) not sealed with the audit key, 2 when a file cannot be read. The
last line printed for an intact log is the anchor to keep elsewhere for the next check.
"""

from __future__ import annotations

import json
import os
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
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's data directory: check every record's seal with its audit key "
    "(audit.key, unsealed with the root key); detects forged records, even appended ones.",
)
@click.option(
    "--root-key",
    "root_key",
    metavar="FILE|pkcs11:URI",
    help="The root key that seals the audit key (as for serve). "
    "Default: $KMSPOLICY_ROOT_KEY, $KMSPOLICY_ROOT_KEY_FILE, else DATA_DIR/root.key.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def verify_command(
    log: Path, anchor: Anchor | None, data_dir: Path | None, root_key: str | None, fmt: str
) -> None:
    """Recompute every hash and link of LOG and report what does not match."""
    key = _audit_key(data_dir, root_key) if data_dir is not None else None
    try:
        result = verify(log, anchor=anchor, key=key)
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
                    "authenticated": result.authenticated,
                    "problems": [
                        {"line": p.line, "kind": p.kind, "message": p.message}
                        for p in result.problems
                    ],
                    "notes": [
                        {"line": p.line, "kind": p.kind, "message": p.message} for p in result.notes
                    ],
                },
                indent=2,
            )
        )
    else:
        for p in sorted((*result.problems, *result.notes), key=lambda p: p.line):
            click.echo(f"{log}:{p.line}: {p.kind}: {p.message}")
        n = len(result.problems)
        status = "intact" if result.ok else f"BROKEN ({n} problem{'' if n == 1 else 's'})"
        if result.ok and result.authenticated:
            status += ", every record sealed with the audit key"
        click.echo(f"{result.records} records, chain {status}")
        click.echo(f"anchor: {result.records}:{result.head}")
    if not result.ok:
        raise SystemExit(EXIT_BROKEN)


def _audit_key(data_dir: Path, source: str | None) -> bytes:
    """The audit key of ``data_dir``; never creates a key (nor a root key) while checking."""
    from kmspolicy.audit import AUDIT_KEY_NAME, read_audit_key
    from kmspolicy.errors import ConfigError
    from kmspolicy.store.rootkey import SOURCE_ENV_VAR, open_root_key, resolve_root_key_path

    try:
        if not (data_dir / AUDIT_KEY_NAME).is_file():
            raise ConfigError(f"no audit key in `{data_dir}` (the server writes {AUDIT_KEY_NAME})")
        if source is None:
            where, _ = resolve_root_key_path(data_dir)
            if not where.exists() and not os.environ.get(SOURCE_ENV_VAR):
                raise ConfigError(f"no root key at `{where}`: give --root-key")
        root = open_root_key(data_dir, source)
        try:
            return read_audit_key(data_dir / AUDIT_KEY_NAME, root)
        finally:
            root.close()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_UNREADABLE) from None
